"""Port KPIs from 5-minute rate samples: utilisation, error/discard ratios, congestion, busy hour.

Input rows are one port and one 5-minute interval (``ts`` = interval start, epoch
seconds), with rates already derived from counters by ``collectors`` (``in_bps``,
``out_bps``), the interface speed ``if_high_speed_mbps`` (ifHighSpeed, 10^6 bit/s) and,
for the ratios, per-interval packet deltas (``in_pkts`` = unicast + multicast +
broadcast delivered, ``in_errors``, ``in_discards``, ``out_pkts``, ``out_errors``,
``out_discards``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from kpi.intervals import TimeWindow

__all__ = [
    "CONGESTION_THRESHOLD",
    "STEP_S",
    "busy_hour",
    "congestion",
    "error_ratios",
    "utilisation",
]

STEP_S: Final = 300  # seconds per sample
CONGESTION_THRESHOLD: Final = 0.8  # utilisation ratio; "above" is strictly greater
SAMPLES_PER_HOUR: Final = 3600 // STEP_S


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    den = denominator.astype("float64")
    return numerator.astype("float64") / den.where(den > 0)


def utilisation(samples: pd.DataFrame) -> pd.DataFrame:
    """``samples`` plus ``in_/out_/utilisation_ratio`` (the latter the busier direction).

    Ratio of ifHighSpeed; NaN where the speed is unknown or 0 (no made-up 100 %).
    """
    capacity = samples["if_high_speed_mbps"].astype("float64") * 1e6
    out = samples.copy()
    out["in_utilisation_ratio"] = _ratio(samples["in_bps"], capacity)
    out["out_utilisation_ratio"] = _ratio(samples["out_bps"], capacity)
    out["utilisation_ratio"] = out[["in_utilisation_ratio", "out_utilisation_ratio"]].max(
        axis=1, skipna=False
    )
    return out


def error_ratios(samples: pd.DataFrame) -> pd.DataFrame:
    """Error and discard ratios per interval.

    Inbound the denominator is every packet that arrived: delivered + errors + discards
    (IF-MIB counts the three disjointly). Outbound ``ifOut*Pkts`` already include packets
    later discarded or errored ("requested to be transmitted"), so the denominator is
    ``out_pkts`` alone. NaN with no traffic.
    """
    arrived = samples["in_pkts"] + samples["in_errors"] + samples["in_discards"]
    return pd.DataFrame(
        {
            "in_error_ratio": _ratio(samples["in_errors"], arrived),
            "in_discard_ratio": _ratio(samples["in_discards"], arrived),
            "out_error_ratio": _ratio(samples["out_errors"], samples["out_pkts"]),
            "out_discard_ratio": _ratio(samples["out_discards"], samples["out_pkts"]),
        },
        index=samples.index,
    )


def congestion(samples: pd.DataFrame, *, threshold: float = CONGESTION_THRESHOLD) -> pd.DataFrame:
    """Per port: intervals with a known utilisation, those above ``threshold``, and the share.

    ``samples`` must carry ``utilisation_ratio`` (see :func:`utilisation`). Intervals with
    unknown utilisation are left out of both counts rather than counted as uncongested.
    """
    util = samples["utilisation_ratio"].astype("float64")
    frame = pd.DataFrame(
        {
            "port": samples["port"].to_numpy(dtype=object),
            "intervals": util.notna().astype(np.int64).to_numpy(),
            "congested_intervals": (util > threshold).astype(np.int64).to_numpy(),
        }
    )
    out = frame.groupby("port", sort=True).sum()
    out["congestion_share"] = _ratio(out["congested_intervals"], out["intervals"])
    return out


def busy_hour(
    samples: pd.DataFrame,
    window: TimeWindow,
    *,
    value: str = "utilisation_ratio",
    step_s: int = STEP_S,
    samples_per_hour: int = SAMPLES_PER_HOUR,
) -> pd.DataFrame:
    """Each port's busy hour in ``window``: the consecutive samples with the largest sum.

    The hour must be complete (``samples_per_hour`` samples on consecutive ``step_s``
    slots, none missing); ties go to the earliest hour. Returns per port
    ``busy_hour_start`` (epoch s), ``busy_hour_mean`` and ``busy_hour_p95`` (numpy
    "linear" percentile of the hour's samples) of ``value``; NaN/-1 when no complete hour.
    Works on a dense ports × slots grid: meant for uplinks (thousands), not every line.
    """
    codes, ports = pd.factorize(samples["port"], sort=True)
    n_slots = window.seconds // step_s
    slot = (samples["ts"].to_numpy(dtype=np.int64) - window.start) // step_s
    keep = (slot >= 0) & (slot < n_slots)
    grid = np.full((len(ports), n_slots), np.nan)
    grid[codes[keep], slot[keep]] = samples[value].to_numpy(dtype=np.float64)[keep]
    k = samples_per_hour
    out = pd.DataFrame(
        {
            "busy_hour_start": np.full(len(ports), -1, dtype=np.int64),
            "busy_hour_mean": np.full(len(ports), np.nan),
            "busy_hour_p95": np.full(len(ports), np.nan),
        },
        index=pd.Index(np.asarray(ports, dtype=object), name="port"),
    )
    if n_slots < k or len(ports) == 0:
        return out
    hours = np.lib.stride_tricks.sliding_window_view(grid, k, axis=1)  # ports × starts × k
    sums = hours.sum(axis=2)  # NaN wherever a sample is missing
    complete = ~np.isnan(sums)
    best = np.argmax(np.where(complete, sums, -np.inf), axis=1)
    found = complete.any(axis=1)
    rows = np.flatnonzero(found)
    chosen = hours[rows, best[rows]]  # rows × k
    out.iloc[rows, 0] = window.start + best[rows] * step_s
    out.iloc[rows, 1] = chosen.mean(axis=1)
    out.iloc[rows, 2] = np.percentile(chosen, 95, axis=1)
    return out
