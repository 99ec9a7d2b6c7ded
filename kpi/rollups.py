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
    percentile of the bucket's values. Rows come out sorted by entity, metric, bucket.

    This is the hot path of a day's rollup (tens of millions of samples), so it avoids a
    pandas groupby: one composite int64 key per sample, then contiguous runs. Input already
    ordered by entity, metric and time (as storage reads it) needs no global sort, and
    buckets of equal size (regular polling) sort their values as one 2-D ``np.sort``.
    """
    values = samples["value"].to_numpy(dtype=np.float64)
    ok = ~np.isnan(values)
    if not ok.all():
        values = values[ok]
    ts = samples["ts"].to_numpy(dtype=np.int64)
    bucket = bucket_start(ts if ok.all() else ts[ok], resolution, origin_s=origin_s)
    entity = samples["entity"].to_numpy()
    metric = samples["metric"].to_numpy()
    e_codes, e_uniq = pd.factorize(entity if ok.all() else entity[ok], sort=True)
    m_codes, m_uniq = pd.factorize(metric if ok.all() else metric[ok], sort=True)
    n = len(values)
    b_min = int(bucket.min()) if n else 0
    size = RESOLUTION_S[resolution]
    b_codes = (bucket - b_min) // size
    n_m = max(len(m_uniq), 1)
    n_b = int(b_codes.max()) + 1 if n else 1
    key = (e_codes.astype(np.int64) * n_m + m_codes) * n_b + b_codes
    ordered_keys = n < 2 or bool(np.all(key[1:] >= key[:-1]))
    if ordered_keys:
        k, v = key, values
    else:
        order = np.argsort(key, kind="stable")
        k, v = key[order], values[order]
    new = np.ones(n, dtype=bool)
    if n > 1:
        np.not_equal(k[1:], k[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    if n and counts.min() == counts.max():
        # equal-sized buckets: sort each bucket's values in one 2-D sort
        v = np.sort(v.reshape(len(starts), int(counts[0])), axis=1).ravel()
    elif n:
        v = v[np.lexsort((v, k))]
    group = k[starts]
    position = (counts - 1) * P95
    lo = np.floor(position).astype(np.int64)
    hi = np.ceil(position).astype(np.int64)
    low_v, high_v = v[starts + lo], v[starts + hi]
    sums = np.add.reduceat(v, starts) if n else np.zeros(0, dtype=np.float64)
    e_of = group // (n_m * n_b)
    return pd.DataFrame(
        {
            "entity": e_uniq.take(e_of) if n else np.array([], dtype=object),
            "metric": m_uniq.take((group // n_b) % n_m) if n else np.array([], dtype=object),
            "resolution": resolution.value,
            "bucket": (group % n_b) * size + b_min,
            "count": counts,
            "min": v[starts],
            "avg": sums / np.maximum(counts, 1),
            "max": v[starts + counts - 1],
            "p95": low_v + (high_v - low_v) * (position - lo),
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
