"""DSL line KPIs from 15-minute bins: MTBR/MTBE, stability, wide-area events, rates, UAS.

Input is a frame of the agent's own 15-minute interval bins (``BIN_COLUMNS``), one row per
line and bin, ``start`` in epoch seconds. Only complete bins (``start + 900 <= now``)
count. A *retrain* is a full initialisation (``full_inits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import pandas as pd

from kpi.intervals import STATES, State, seconds_between

__all__ = [
    "BIN_COLUMNS",
    "BIN_S",
    "ScoreWindow",
    "StabilityClass",
    "StabilityThresholds",
    "WideAreaThresholds",
    "line_scores",
    "rate_attainment",
    "uas_adjustment",
    "wide_area_events",
]

BIN_S: Final = 900  # seconds in a G.997.1 15-minute interval bin
DAY_S: Final = 86_400
WEEK_S: Final = 7 * DAY_S
BIN_COLUMNS: Final = (
    "line",
    "dslam",
    "start",
    "in_service",  # bool: the line is provisioned and expected in showtime
    "showtime_s",  # seconds of the bin the line was in showtime
    "full_inits",
    "failed_inits",
    "es",
    "ses",
    "uas",
    "snr_margin_down_db",
    "snr_margin_up_db",
)


class StabilityClass(StrEnum):
    """Line stability, worst first in the order unstable > errored > marginal > stable."""

    STABLE = "stable"
    ERRORED = "errored"
    MARGINAL = "marginal"
    UNSTABLE = "unstable"


class ScoreWindow(StrEnum):
    """Look-back windows ending at ``now``."""

    HOURS_24 = "24h"
    DAYS_7 = "7d"


@dataclass(frozen=True, slots=True, kw_only=True)
class StabilityThresholds:
    """Stability class thresholds (defaults as in docs/kpi.md).

    ``StabilityThresholds(errored_mtbe_s=1800)``. Class rules, first match wins:
    unstable when MTBR(7 d) < ``unstable_mtbr_s`` or some bin has ≥
    ``unstable_retrains_per_bin`` retrains; errored when MTBE(``errored_window``) <
    ``errored_mtbe_s``; marginal when the SNR margin (either direction) was below
    ``marginal_snr_margin_db`` in ≥ ``marginal_min_bins`` bins of the 7 d; else stable.
    """

    unstable_mtbr_s: int = DAY_S
    unstable_retrains_per_bin: int = 3
    errored_mtbe_s: int = 3_600
    errored_window: ScoreWindow = ScoreWindow.DAYS_7
    marginal_snr_margin_db: float = 3.0
    marginal_min_bins: int = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class WideAreaThresholds:
    """When one DSLAM bin is one network event rather than many line faults.

    Flagged when more than ``retrained_share`` of the DSLAM's in-service lines retrained,
    or more than ``errored_share`` had errored seconds *and* more than
    ``errored_retrained_share`` retrained. DSLAMs with fewer than ``min_in_service_lines``
    in-service lines are never flagged, so that one retrain on a 4-line cabinet is not
    mistaken for a network event and hidden from line scoring (set 1 to disable).
    """

    retrained_share: float = 0.20
    errored_share: float = 0.50
    errored_retrained_share: float = 0.10
    min_in_service_lines: int = 10


def _complete(bins: pd.DataFrame, now: int, lookback_s: int) -> pd.DataFrame:
    start = bins["start"].to_numpy(dtype=np.int64)
    return bins.loc[(start >= now - lookback_s) & (start + BIN_S <= now)]


def wide_area_events(
    bins: pd.DataFrame, *, thresholds: WideAreaThresholds | None = None
) -> pd.DataFrame:
    """Per DSLAM and bin: in-service, retrained and errored line counts, ``wide_area`` flag."""
    t = thresholds or WideAreaThresholds()
    live = bins.loc[bins["in_service"].astype(bool)]
    counts = (
        live.assign(
            retrained=(live["full_inits"] > 0).astype(np.int64),
            errored=(live["es"] > 0).astype(np.int64),
        )
        .groupby(["dslam", "start"], sort=True)
        .agg(
            in_service_lines=("line", "size"),
            retrained_lines=("retrained", "sum"),
            errored_lines=("errored", "sum"),
        )
        .reset_index()
    )
    n = counts["in_service_lines"].to_numpy(dtype=np.float64)
    retrained = counts["retrained_lines"].to_numpy(dtype=np.float64) / n
    errored = counts["errored_lines"].to_numpy(dtype=np.float64) / n
    counts["retrained_share"] = retrained
    counts["errored_share"] = errored
    counts["wide_area"] = (n >= t.min_in_service_lines) & (
        (retrained > t.retrained_share)
        | ((errored > t.errored_share) & (retrained > t.errored_retrained_share))
    )
    return counts


def _mean_between(showtime: pd.Series, events: pd.Series) -> pd.Series:
    """Showtime ÷ events: inf with no event, NaN with neither showtime nor event."""
    s = showtime.to_numpy(dtype=np.float64)
    e = events.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(e > 0, s / np.where(e > 0, e, 1), np.where(s > 0, np.inf, np.nan))
    return pd.Series(out, index=showtime.index)


def line_scores(
    bins: pd.DataFrame,
    *,
    now: int,
    thresholds: StabilityThresholds | None = None,
    wide_area: pd.DataFrame | None = None,
    wide_area_thresholds: WideAreaThresholds | None = None,
) -> pd.DataFrame:
    """MTBR, MTBE (24 h, 7 d), per-bin extremes and the stability class, one row per line.

    Bins of wide-area events (``wide_area``, computed from ``bins`` when not given) are
    left out entirely — their showtime as well as their retrains — so one DSLAM event does
    not turn its lines unstable. ``stability`` is None for a line with neither showtime
    nor retrains in the 7 d (down all week: not scored, it shows up as downtime instead).
    """
    t = thresholds or StabilityThresholds()
    week = _complete(bins, now, WEEK_S)
    flags = (
        wide_area
        if wide_area is not None
        else wide_area_events(week, thresholds=wide_area_thresholds)
    )
    flagged = flags.loc[flags["wide_area"], ["dslam", "start"]].assign(_excluded=True)
    week = week.merge(flagged, on=["dslam", "start"], how="left")
    excluded = week["_excluded"].eq(True).to_numpy()
    day = (week["start"].to_numpy(dtype=np.int64) >= now - DAY_S) & ~excluded
    kept = ~excluded
    snr = np.fmin(
        week["snr_margin_down_db"].to_numpy(dtype=np.float64),
        week["snr_margin_up_db"].to_numpy(dtype=np.float64),
    )
    work = pd.DataFrame(
        {
            "line": week["line"].to_numpy(dtype=object),
            "showtime_7d_s": np.where(kept, week["showtime_s"], 0),
            "retrains_7d": np.where(kept, week["full_inits"], 0),
            "es_7d": np.where(kept, week["es"], 0),
            "showtime_24h_s": np.where(day, week["showtime_s"], 0),
            "retrains_24h": np.where(day, week["full_inits"], 0),
            "es_24h": np.where(day, week["es"], 0),
            "max_retrains_per_bin": np.where(kept, week["full_inits"], 0),
            "low_snr_bins": (kept & (snr < t.marginal_snr_margin_db)).astype(np.int64),
            "excluded_bins": excluded.astype(np.int64),
        }
    )
    agg = {c: "sum" for c in work.columns if c != "line"}
    agg["max_retrains_per_bin"] = "max"
    out = work.groupby("line", sort=True).agg(agg)
    out["mtbr_24h_s"] = _mean_between(out["showtime_24h_s"], out["retrains_24h"])
    out["mtbr_7d_s"] = _mean_between(out["showtime_7d_s"], out["retrains_7d"])
    out["mtbe_24h_s"] = _mean_between(out["showtime_24h_s"], out["es_24h"])
    out["mtbe_7d_s"] = _mean_between(out["showtime_7d_s"], out["es_7d"])
    mtbe = out["mtbe_24h_s" if t.errored_window is ScoreWindow.HOURS_24 else "mtbe_7d_s"]
    conditions = [
        (out["mtbr_7d_s"] < t.unstable_mtbr_s)
        | (out["max_retrains_per_bin"] >= t.unstable_retrains_per_bin),
        mtbe < t.errored_mtbe_s,
        out["low_snr_bins"] >= t.marginal_min_bins,
    ]
    choices = [
        StabilityClass.UNSTABLE.value,
        StabilityClass.ERRORED.value,
        StabilityClass.MARGINAL.value,
    ]
    stability = np.select(conditions, choices, default=StabilityClass.STABLE.value)
    scored = ((out["showtime_7d_s"] > 0) | (out["retrains_7d"] > 0)).to_numpy()
    labels = np.asarray(stability, dtype=object)
    labels[~scored] = None
    out["stability"] = labels
    return out


def rate_attainment(lines: pd.DataFrame, *, min_share_of_plan: float = 0.9) -> pd.DataFrame:
    """Rate attainment and headroom per line and direction present in ``lines``.

    For ``d`` in down/up, given ``actual_{d}_bps``, ``plan_{d}_bps`` and optionally
    ``attainable_{d}_bps``: ``rate_attainment_{d}_ratio = actual ÷ plan``,
    ``headroom_{d}_bps = attainable − actual`` and ``attains_plan_{d}`` (actual ≥
    ``min_share_of_plan`` × plan; NA without a plan rate).
    """
    out = pd.DataFrame(index=lines.index)
    for d in ("down", "up"):
        if f"actual_{d}_bps" not in lines or f"plan_{d}_bps" not in lines:
            continue
        actual = lines[f"actual_{d}_bps"].astype("float64")
        plan = lines[f"plan_{d}_bps"].astype("float64").where(lambda p: p > 0)
        out[f"rate_attainment_{d}_ratio"] = actual / plan
        if f"attainable_{d}_bps" in lines:
            out[f"headroom_{d}_bps"] = lines[f"attainable_{d}_bps"].astype("float64") - actual
        attains = (actual >= min_share_of_plan * plan).astype("boolean")
        out[f"attains_plan_{d}"] = attains.mask(plan.isna())
    return out


def uas_adjustment(timeline: pd.DataFrame, uas_bins: pd.DataFrame) -> pd.DataFrame:
    """Per-entity seconds to move into ``down`` because the modem counted unavailable seconds.

    ``uas_bins`` has ``entity, start, end, uas_s``. Within each bin, UAS seconds are taken
    to coincide first with time the timeline already calls down (nothing to add), then
    with unknown time, then with up time; they never take maintenance time, and time the
    (scheduled, non-excluded) timeline does not cover cannot take any. The result has one
    column per state (deltas summing to zero per entity) and is added to state seconds.
    """
    within = seconds_between(timeline, uas_bins.loc[:, ["entity", "start", "end"]])
    uas = uas_bins["uas_s"].to_numpy(dtype=np.int64)
    down = within[State.DOWN.value].to_numpy()
    unknown = within[State.UNKNOWN.value].to_numpy()
    up = within[State.UP.value].to_numpy()
    extra = np.maximum(uas - down, 0)
    from_unknown = np.minimum(extra, unknown)
    from_up = np.minimum(extra - from_unknown, up)
    delta = pd.DataFrame(
        {
            "entity": uas_bins["entity"].to_numpy(dtype=object),
            State.UP.value: -from_up,
            State.DOWN.value: from_unknown + from_up,
            State.MAINTENANCE.value: np.zeros(len(uas), dtype=np.int64),
            State.UNKNOWN.value: -from_unknown,
        }
    )
    return delta.groupby("entity", sort=True)[[s.value for s in STATES]].sum()
