"""Port KPIs (utilisation, error ratios, congestion, busy hour) and incremental rollups."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kpi.intervals import TimeWindow
from kpi.port import busy_hour, congestion, error_ratios, utilisation
from kpi.rollups import Resolution, apply_plan, plan_rollup, rollup

DAY0 = 1_717_113_600  # 2024-05-31 00:00 UTC
DAY = TimeWindow(start=DAY0, end=DAY0 + 86_400)


def test_utilisation_is_the_busier_direction_of_ifhighspeed():
    samples = pd.DataFrame(
        {
            "port": ["up1", "up1", "up2"],
            "ts": [DAY0, DAY0 + 300, DAY0],
            "in_bps": [500e6, 900e6, 1e6],
            "out_bps": [100e6, 950e6, 1e6],
            "if_high_speed_mbps": [1000, 1000, 0],
        }
    )
    got = utilisation(samples)
    assert got["utilisation_ratio"].tolist()[:2] == [0.5, 0.95]
    assert math.isnan(got["utilisation_ratio"].iloc[2]), "speed 0 is unknown, not 100 %"


def test_error_ratios_use_the_if_mib_denominators():
    """In: 990 delivered + 6 errors + 4 discards = 1000 arrived → 0.006, 0.004.

    Out: ifOutUcastPkts already include the 5 errored and 10 discarded → ÷ 1000.
    """
    samples = pd.DataFrame(
        {
            "in_pkts": [990, 0],
            "in_errors": [6, 0],
            "in_discards": [4, 0],
            "out_pkts": [1000, 0],
            "out_errors": [5, 0],
            "out_discards": [10, 0],
        }
    )
    got = error_ratios(samples)
    assert got.iloc[0].tolist() == [0.006, 0.004, 0.005, 0.01]
    assert got.iloc[1].isna().all(), "no traffic: no ratio"


def test_congestion_share_counts_intervals_strictly_above_80_percent():
    """6 intervals: 0.5, 0.8 (not above), 0.81, 0.95, NaN (unknown, left out), 0.2 → 2 / 5."""
    util = [0.5, 0.8, 0.81, 0.95, np.nan, 0.2]
    samples = pd.DataFrame({"port": "up1", "utilisation_ratio": util})
    got = congestion(samples).loc["up1"]
    assert (got["intervals"], got["congested_intervals"], got["congestion_share"]) == (5, 2, 0.4)


def day_of(values: dict[int, float], default: float = 0.1) -> pd.DataFrame:
    util = np.full(288, default)
    for slot, value in values.items():
        util[slot] = value
    return pd.DataFrame(
        {"port": "up1", "ts": DAY0 + np.arange(288) * 300, "utilisation_ratio": util}
    )


BUSY_HOUR_CASES = [
    (
        "the 12 consecutive samples with the largest sum, not the largest single sample",
        # one spike of 1.0 at slot 10 (hour sum 0.1×11 + 1.0 = 2.1) vs 12 samples of 0.5
        # from slot 200 (sum 6.0): the busy hour starts at slot 200 = 16:40.
        day_of({10: 1.0, **dict.fromkeys(range(200, 212), 0.5)}),
        DAY0 + 200 * 300,
        0.5,
        0.5,
    ),
    (
        "p95 of the hour's 12 samples, numpy linear: 0.2…0.75 step 0.05 → 0.7225",
        # sorted values v0..v11 = 0.2 + 0.05 i; position 0.95 × 11 = 10.45 →
        # v10 + 0.45 (v11 − v10) = 0.70 + 0.0225 = 0.7225; mean = 0.475
        day_of({100 + i: 0.2 + 0.05 * i for i in range(12)}),
        DAY0 + 100 * 300,
        0.475,
        0.7225,
    ),
    (
        "an hour with a missing sample cannot be the busy hour",
        day_of(
            {**dict.fromkeys(range(50, 62), 0.9), 55: np.nan, **dict.fromkeys(range(80, 92), 0.6)}
        ),
        DAY0 + 80 * 300,
        0.6,
        0.6,
    ),
    (
        "ties go to the earliest hour",
        day_of({}, default=0.3),
        DAY0,
        0.3,
        0.3,
    ),
]


@pytest.mark.parametrize(
    ("description", "samples", "start", "mean", "p95"),
    BUSY_HOUR_CASES,
    ids=[c[0] for c in BUSY_HOUR_CASES],
)
def test_busy_hour(description, samples, start, mean, p95):
    got = busy_hour(samples, DAY).loc["up1"]
    assert got["busy_hour_start"] == start, description
    assert got["busy_hour_mean"] == pytest.approx(mean), description
    assert got["busy_hour_p95"] == pytest.approx(p95), description


def test_busy_hour_of_a_port_without_a_complete_hour_is_missing():
    samples = day_of({}).iloc[:11]
    got = busy_hour(samples, DAY).loc["up1"]
    assert got["busy_hour_start"] == -1
    assert math.isnan(got["busy_hour_p95"])


def samples_of(entity: str, start: int, values: list[float], step: int = 300) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": entity,
            "metric": "snr_margin_down_db",
            "ts": start + np.arange(len(values)) * step,
            "value": values,
        }
    )


def test_rollup_statistics_by_hand():
    """Hour 00:00 of L1: values 1…12 → count 12, min 1, avg 6.5, max 12,
    p95 at position 0.95 × 11 = 10.45 → 11 + 0.45 = 11.45. A NaN is not a sample."""
    values = [float(v) for v in range(1, 13)]
    samples = pd.concat(
        [samples_of("L1", DAY0, values), samples_of("L1", DAY0 + 3600, [np.nan, 4.0])]
    )
    got = rollup(samples, Resolution.HOUR)
    assert got.iloc[0][["count", "min", "avg", "max", "p95"]].tolist() == pytest.approx(
        [12, 1, 6.5, 12, 11.45]
    )
    assert got.iloc[1][["bucket", "count", "p95"]].tolist() == [DAY0 + 3600, 1, 4.0]
    assert got.iloc[0]["p95"] == pytest.approx(np.percentile(values, 95))


def test_daily_p95_comes_from_raw_samples_not_hourly_p95s():
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 3.0, 288).tolist()
    samples = samples_of("L1", DAY0, values)
    daily = rollup(samples, Resolution.DAY).iloc[0]
    assert daily["count"] == 288
    assert daily["p95"] == pytest.approx(np.percentile(values, 95))


def test_daily_buckets_can_start_at_local_midnight():
    """origin −8 h: the 1d bucket of 2024-05-31 Asia/Shanghai starts at 05-30 16:00 UTC."""
    samples = samples_of("L1", DAY0 - 8 * 3600 + 60, [1.0])
    got = rollup(samples, Resolution.DAY, origin_s=-8 * 3600)
    assert got["bucket"].tolist() == [DAY0 - 8 * 3600]


def test_incremental_rollup_touches_only_new_buckets():
    """Watermark 02:00, now 05:03, settle 300 s: 05:03 − 5 min = 04:58, so the 04:00 hour
    is still open and the run computes [02:00, 04:00) — hours 02 and 03 — and nothing else."""
    samples = samples_of("L1", DAY0, [1.0] * 60)  # 00:00 … 04:55
    arrivals = samples.loc[samples["ts"] >= DAY0 + 2 * 3600]
    plan = plan_rollup(
        arrivals, resolution=Resolution.HOUR, watermark=DAY0 + 2 * 3600, now=DAY0 + 5 * 3600 + 180
    )
    assert plan.compute == TimeWindow(start=DAY0 + 2 * 3600, end=DAY0 + 4 * 3600)
    assert plan.watermark == DAY0 + 4 * 3600
    assert plan.dirty.empty
    result = apply_plan(samples, plan)
    assert result.changed["bucket"].tolist() == [DAY0 + 2 * 3600, DAY0 + 3 * 3600]


def test_late_data_marks_old_buckets_dirty_and_recomputes_them():
    """A district backlog delivers L2's 00:00–00:55 samples at 06:10, after the 00:00 hour
    was rolled up (watermark 06:00). Only (L2, 00:00) is dirty; L1's hour is untouched,
    and the new hour 05:00 is computed in the same run."""
    l1 = samples_of("L1", DAY0, [1.0] * 72)
    l2_late = samples_of("L2", DAY0, [2.0] * 12)
    plan = plan_rollup(
        l2_late, resolution=Resolution.HOUR, watermark=DAY0 + 5 * 3600, now=DAY0 + 6 * 3600 + 600
    )
    assert plan.dirty.to_dict("records") == [
        {"entity": "L2", "metric": "snr_margin_down_db", "bucket": DAY0}
    ]
    assert plan.compute == TimeWindow(start=DAY0 + 5 * 3600, end=DAY0 + 6 * 3600)
    result = apply_plan(pd.concat([l1, l2_late]), plan)
    changed = list(zip(result.changed["entity"], result.changed["bucket"], strict=True))
    assert changed == [("L1", DAY0 + 5 * 3600), ("L2", DAY0)]
    assert result.rows.set_index("entity").loc["L2", "avg"] == 2.0


def test_a_run_before_any_bucket_closes_changes_nothing():
    plan = plan_rollup(
        samples_of("L1", DAY0, [1.0]).iloc[:0],
        resolution=Resolution.DAY,
        watermark=DAY0,
        now=DAY0 + 3600,
    )
    assert plan.compute is None
    assert plan.watermark == DAY0
