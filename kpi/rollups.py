"""Incremental 5 min → 1 h → 1 d rollups (count/min/avg/max/p95) over long-format samples.

Samples are ``entity, metric, ts, value`` (``ts`` epoch seconds). Every resolution is
computed from the raw samples, not from the level below: p95 does not compose (the p95
of hourly p95s is not the daily p95), so a daily bucket needs that day's raw samples —
which is why raw retention (default 7 d) must exceed a day plus the longest backlog a
district can deliver late.

Incremental protocol, per resolution, with a stored *watermark* (every bucket ending at
or before it is final):

1. ``plan = plan_rollup(arrivals, resolution=…, watermark=…, now=…)`` — ``arrivals`` are
   the keys and timestamps of samples received since the last run. The plan names the
   new closed buckets ``[watermark, plan.watermark)`` and the *dirty* buckets: old
   buckets that late samples landed in (per entity and metric).
2. The caller loads the raw samples for ``plan.compute`` and for the dirty keys.
3. ``result = apply_plan(samples, plan)`` returns the recomputed rows (upsert them) and
   ``result.changed`` (bucket starts per entity/metric), from which the affected SLA
   periods follow (``ReportingPeriod.touching``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import pandas as pd

from kpi.intervals import TimeWindow

__all__ = [
    "RESOLUTION_S",
    "ROLLUP_COLUMNS",
    "SAMPLE_COLUMNS",
    "Resolution",
    "RollupPlan",
    "RollupResult",
    "apply_plan",
    "bucket_start",
    "plan_rollup",
    "rollup",
]


class Resolution(StrEnum):
    """Rollup bucket sizes."""

    FIVE_MIN = "5m"
    HOUR = "1h"
    DAY = "1d"


RESOLUTION_S: Final = {Resolution.FIVE_MIN: 300, Resolution.HOUR: 3_600, Resolution.DAY: 86_400}
SAMPLE_COLUMNS: Final = ("entity", "metric", "ts", "value")
ROLLUP_COLUMNS: Final = (
    "entity",
    "metric",
    "resolution",
    "bucket",
    "count",
    "min",
    "avg",
    "max",
    "p95",
)
P95: Final = 0.95
SETTLE_S: Final = 300  # seconds after a bucket's end before it is considered closed


def bucket_start(ts: np.ndarray, resolution: Resolution, *, origin_s: int = 0) -> np.ndarray:
    """Start of the bucket holding each timestamp.

    ``origin_s`` shifts bucket edges: ``origin_s=-8 * 3600`` makes daily buckets start at
    midnight Asia/Shanghai. Zones with DST have no fixed-length local day; roll those up in
    UTC days and report local days from hourly buckets.
    """
    size = RESOLUTION_S[resolution]
    ts = np.asarray(ts, dtype=np.int64)
    return ((ts - origin_s) // size) * size + origin_s


def rollup(samples: pd.DataFrame, resolution: Resolution, *, origin_s: int = 0) -> pd.DataFrame:
    """Aggregate samples into buckets: one row per entity, metric and bucket (``ROLLUP_COLUMNS``).

    NaN values are not samples (they do not count). ``p95`` is numpy's "linear"
    percentile of the bucket's values, computed by one sort rather than a per-group call.
    """
    values = samples["value"].to_numpy(dtype=np.float64)
    ok = ~np.isnan(values)
    frame = pd.DataFrame(
        {
            "entity": samples["entity"].to_numpy(dtype=object)[ok],
            "metric": samples["metric"].to_numpy(dtype=object)[ok],
            "bucket": bucket_start(
                samples["ts"].to_numpy(dtype=np.int64)[ok], resolution, origin_s=origin_s
            ),
            "value": values[ok],
        }
    )
    grouped = frame.groupby(["entity", "metric", "bucket"], sort=True)
    stats = grouped["value"].agg(["count", "min", "mean", "max"]).reset_index()
    gid = grouped.ngroup().to_numpy()
    order = np.lexsort((frame["value"].to_numpy(), gid))
    ordered = frame["value"].to_numpy()[order]
    counts = stats["count"].to_numpy(dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    position = (counts - 1) * P95
    lo = np.floor(position).astype(np.int64)
    hi = np.ceil(position).astype(np.int64)
    low_v, high_v = ordered[first + lo], ordered[first + hi]
    p95 = low_v + (high_v - low_v) * (position - lo)
    return pd.DataFrame(
        {
            "entity": stats["entity"],
            "metric": stats["metric"],
            "resolution": resolution.value,
            "bucket": stats["bucket"].astype(np.int64),
            "count": counts,
            "min": stats["min"],
            "avg": stats["mean"],
            "max": stats["max"],
            "p95": p95,
        }
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupPlan:
    """What one incremental run must (re)compute for one resolution."""

    resolution: Resolution
    origin_s: int
    previous_watermark: int
    watermark: int  # new watermark, store it after the rows are saved
    compute: TimeWindow | None  # new closed buckets, all entities
    dirty: pd.DataFrame  # entity, metric, bucket: old buckets with late samples


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupResult:
    """Recomputed rollup rows and the buckets they replace or add."""

    rows: pd.DataFrame
    changed: pd.DataFrame  # entity, metric, resolution, bucket


def plan_rollup(
    arrivals: pd.DataFrame,
    *,
    resolution: Resolution,
    watermark: int,
    now: int,
    settle_s: int = SETTLE_S,
    origin_s: int = 0,
) -> RollupPlan:
    """Plan one incremental run: new closed buckets since ``watermark`` and late-data buckets.

    A bucket closes ``settle_s`` after its end. Samples arriving for a bucket before the
    watermark make that (entity, metric, bucket) dirty; samples at or after it are picked
    up by this or a later run anyway.
    """
    # the bucket holding ``now - settle_s`` is still open; every one before it has closed
    newest_open = bucket_start(np.array([now - settle_s]), resolution, origin_s=origin_s)
    new_watermark = max(watermark, int(newest_open[0]))
    ts = arrivals["ts"].to_numpy(dtype=np.int64)
    late = ts < watermark
    dirty = (
        pd.DataFrame(
            {
                "entity": arrivals["entity"].to_numpy(dtype=object)[late],
                "metric": arrivals["metric"].to_numpy(dtype=object)[late],
                "bucket": bucket_start(ts[late], resolution, origin_s=origin_s),
            }
        )
        .drop_duplicates()
        .sort_values(["entity", "metric", "bucket"])
        .reset_index(drop=True)
    )
    compute = TimeWindow(start=watermark, end=new_watermark) if new_watermark > watermark else None
    return RollupPlan(
        resolution=resolution,
        origin_s=origin_s,
        previous_watermark=watermark,
        watermark=new_watermark,
        compute=compute,
        dirty=dirty,
    )


def apply_plan(samples: pd.DataFrame, plan: RollupPlan) -> RollupResult:
    """Recompute the buckets of ``plan`` from ``samples`` (the raw samples the caller loaded).

    Samples outside the plan's buckets are ignored, so passing a superset is safe.
    """
    ts = samples["ts"].to_numpy(dtype=np.int64)
    bucket = bucket_start(ts, plan.resolution, origin_s=plan.origin_s)
    wanted = np.zeros(len(samples), dtype=bool)
    if plan.compute is not None:
        wanted |= (bucket >= plan.compute.start) & (bucket < plan.compute.end)
    if len(plan.dirty):
        keys = pd.MultiIndex.from_frame(plan.dirty[["entity", "metric", "bucket"]])
        mine = pd.MultiIndex.from_arrays(
            [
                samples["entity"].to_numpy(dtype=object),
                samples["metric"].to_numpy(dtype=object),
                bucket,
            ]
        )
        wanted |= mine.isin(keys)
    rows = rollup(samples.loc[wanted], plan.resolution, origin_s=plan.origin_s)
    changed = rows.loc[:, ["entity", "metric", "resolution", "bucket"]].reset_index(drop=True)
    return RollupResult(rows=rows, changed=changed)
