"""Incremental 5 min → 1 h → 1 d rollups of ``samples`` in storage, and retention.

    result = run_rollups(session, now=now)            # every few minutes; the caller commits
    rows = query_rollups(session, resolution="1h", device_id=7, since=..., until=...)
    deleted = apply_retention(session, now=now, raw_s=7 * 86400, rollup_s=400 * 86400)

Per resolution, ``rollup_state`` keeps a *watermark* (every bucket before it is final) and
the highest ``samples.id`` already checked for late arrivals. A run touches only new data:

1. samples with ``id`` above the cursor and ``ts`` before the watermark are late: the
   buckets they land in are *dirty* (``kpi.rollups.plan_rollup``);
2. the buckets closed since the last run (``[watermark, new watermark)``) are computed
   from the raw samples of that window, read device by device in chunks so that memory
   stays bounded (buckets are per series, so chunking by device is exact);
3. dirty buckets are recomputed from their raw samples and replace the stored rows.

Late samples also mark the KQI/SLA periods they fall in for recomputation
(``kpi_repo.mark_dirty``). Series are (device, entity, metric); inside a run they are
integer codes, which keeps the pure rollup fast.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np
import pandas as pd
from sqlalchemy import CursorResult, and_, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session

from kpi.rollups import (
    RESOLUTION_S,
    Resolution,
    RollupPlan,
    apply_plan,
    bucket_start,
    plan_rollup,
    rollup,
)
from nocd.storage.ingest import copy_frame
from nocd.storage.models import Rollup, RollupState, Sample

__all__ = [
    "DEVICE_CHUNK",
    "RollupRecord",
    "RollupRunResult",
    "apply_retention",
    "query_rollups",
    "run_rollups",
]

_logger = logging.getLogger(__name__)

DEVICE_CHUNK: Final = 200  # devices per read of a rollup window (bounds memory)
_KEY_CHUNK: Final = 400  # (device, entity, metric) keys per IN (...) list
_SEP: Final = "\x1f"  # joins device id and entity into one kpi entity label


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupRecord:
    """One stored rollup bucket."""

    device_id: int
    entity: str
    metric: str
    resolution: str
    bucket: int
    count: int
    min: float
    avg: float
    max: float
    p95: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupRunResult:
    """What one run did, per resolution, and the instants late data touched."""

    new_rows: dict[str, int] = field(default_factory=dict)
    dirty_rows: dict[str, int] = field(default_factory=dict)
    watermarks: dict[str, int] = field(default_factory=dict)
    late_instants: tuple[int, ...] = ()


def _state(session: Session, resolution: Resolution) -> RollupState | None:
    return session.get(RollupState, resolution.value)


def _device_ids(session: Session, start: int, end: int) -> list[int]:
    query = (
        select(Sample.device_id)
        .where(Sample.ts >= start, Sample.ts < end)
        .distinct()
        .order_by(Sample.device_id)
    )
    return list(session.scalars(query))


def _read_samples(session: Session, query: object) -> pd.DataFrame:
    rows = session.execute(query).all()  # type: ignore[call-overload]
    if not rows:
        return pd.DataFrame(
            {
                "device_id": pd.Series([], dtype=np.int64),
                "entity": pd.Series([], dtype=object),
                "metric": pd.Series([], dtype=object),
                "ts": pd.Series([], dtype=np.int64),
                "value": pd.Series([], dtype=np.float64),
            }
        )
    device_id, entity, metric, ts, value = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "device_id": np.asarray(device_id, dtype=np.int64),
            "entity": np.asarray(entity, dtype=object),
            "metric": np.asarray(metric, dtype=object),
            "ts": np.asarray(ts, dtype=np.int64),
            "value": np.asarray(value, dtype=np.float64),
        }
    )


_COLUMNS = (Sample.device_id, Sample.entity, Sample.metric, Sample.ts, Sample.value)


def _window_rows(samples: pd.DataFrame, resolution: Resolution) -> pd.DataFrame:
    """Rollup rows of ``samples`` (one read chunk), keyed by integer series codes."""
    keys = pd.MultiIndex.from_arrays(
        [
            samples["device_id"].to_numpy(),
            samples["entity"].to_numpy(),
            samples["metric"].to_numpy(),
        ]
    )
    codes, uniques = pd.factorize(keys)
    rows = rollup(
        pd.DataFrame(
            {"entity": codes, "metric": "", "ts": samples["ts"], "value": samples["value"]}
        ),
        resolution,
    )
    series = uniques.take(rows["entity"].to_numpy(dtype=np.int64))
    return _stored(
        rows,
        series.get_level_values(0).to_numpy(dtype=np.int64),
        series.get_level_values(1).to_numpy(dtype=object),
        series.get_level_values(2).to_numpy(dtype=object),
    )


def _stored(
    rows: pd.DataFrame, device_id: np.ndarray, entity: np.ndarray, metric: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "device_id": device_id,
            "entity": entity,
            "metric": metric,
            "resolution": rows["resolution"].to_numpy(dtype=object),
            "bucket": rows["bucket"].to_numpy(dtype=np.int64),
            "count": rows["count"].to_numpy(dtype=np.int64),
            "min": rows["min"].to_numpy(dtype=np.float64),
            "avg": rows["avg"].to_numpy(dtype=np.float64),
            "max": rows["max"].to_numpy(dtype=np.float64),
            "p95": rows["p95"].to_numpy(dtype=np.float64),
        }
    )


def _compute_window(
    session: Session, resolution: Resolution, start: int, end: int, chunk: int
) -> int:
    """Compute and store every bucket in ``[start, end)`` from raw samples; returns rows."""
    session.execute(
        delete(Rollup).where(
            Rollup.resolution == resolution.value, Rollup.bucket >= start, Rollup.bucket < end
        )
    )
    devices = _device_ids(session, start, end)
    written = 0
    for i in range(0, len(devices), chunk):
        part = devices[i : i + chunk]
        query = (
            select(*_COLUMNS)
            .where(
                Sample.device_id >= part[0],
                Sample.device_id <= part[-1],
                Sample.ts >= start,
                Sample.ts < end,
            )
            .order_by(Sample.device_id, Sample.entity, Sample.metric, Sample.ts)
        )
        samples = _read_samples(session, query)
        if samples.empty:
            continue
        written += copy_frame(session, "rollups", _window_rows(samples, resolution))
    return written


def _recompute_dirty(session: Session, plan_dirty: pd.DataFrame, resolution: Resolution) -> int:
    """Recompute the dirty ``(entity label, metric, bucket)`` keys of a plan; returns rows."""
    if plan_dirty.empty:
        return 0
    size = RESOLUTION_S[resolution]
    labels = plan_dirty["entity"].astype(str).str.split(_SEP, n=1, expand=True)
    dirty = pd.DataFrame(
        {
            "device_id": labels[0].astype(np.int64),
            "entity": labels[1],
            "metric": plan_dirty["metric"].astype(str),
            "bucket": plan_dirty["bucket"].astype(np.int64),
        }
    )
    written = 0
    series = dirty.groupby(["device_id", "entity", "metric"], sort=True)["bucket"].agg(
        ["min", "max"]
    )
    keys = list(series.itertuples(name=None))
    for i in range(0, len(keys), _KEY_CHUNK):
        part = keys[i : i + _KEY_CHUNK]
        where = or_(
            *(
                and_(
                    Sample.device_id == int(d),
                    Sample.entity == e,
                    Sample.metric == m,
                    Sample.ts >= int(lo),
                    Sample.ts < int(hi) + size,
                )
                for (d, e, m), lo, hi in part
            )
        )
        samples = _read_samples(session, select(*_COLUMNS).where(where))
        if samples.empty:
            continue
        labelled = pd.DataFrame(
            {
                "entity": samples["device_id"].astype(str) + _SEP + samples["entity"].astype(str),
                "metric": samples["metric"],
                "ts": samples["ts"],
                "value": samples["value"],
            }
        )
        chunk_keys = {(int(d), e, m) for (d, e, m), _lo, _hi in part}
        mask = [
            (int(d), e, m) in chunk_keys
            for d, e, m in zip(dirty["device_id"], dirty["entity"], dirty["metric"], strict=True)
        ]
        sub = plan_dirty.loc[mask]
        plan = RollupPlan(
            resolution=resolution,
            origin_s=0,
            previous_watermark=0,
            watermark=0,
            compute=None,
            dirty=sub.reset_index(drop=True),
        )
        result = apply_plan(labelled, plan)
        if result.rows.empty:
            continue
        split = result.rows["entity"].astype(str).str.split(_SEP, n=1, expand=True)
        rows = _stored(
            result.rows,
            split[0].astype(np.int64).to_numpy(),
            split[1].to_numpy(dtype=object),
            result.rows["metric"].to_numpy(dtype=object),
        )
        key_cols = (Rollup.device_id, Rollup.entity, Rollup.metric, Rollup.bucket)
        wanted = list(
            zip(
                rows["device_id"].tolist(),
                rows["entity"].tolist(),
                rows["metric"].tolist(),
                rows["bucket"].tolist(),
                strict=True,
            )
        )
        session.execute(
            delete(Rollup).where(
                Rollup.resolution == resolution.value, tuple_(*key_cols).in_(wanted)
            )
        )
        written += copy_frame(session, "rollups", rows)
    return written


def run_rollups(
    session: Session,
    *,
    now: int,
    resolutions: Sequence[Resolution] = tuple(Resolution),
    chunk: int = DEVICE_CHUNK,
) -> RollupRunResult:
    """One incremental run over every resolution (the caller commits).

    The first run starts at the bucket of the oldest raw sample. Returns the rows written
    and the timestamps of late samples (for KQI/SLA periods to recompute).
    """
    result = RollupRunResult()
    max_id = session.scalar(select(func.max(Sample.id)))
    if max_id is None:
        return result
    late: set[int] = set()
    for resolution in resolutions:
        state = _state(session, resolution)
        if state is None:
            oldest = session.scalar(select(func.min(Sample.ts)))
            if oldest is None:
                continue
            first = int(bucket_start(np.array([oldest]), resolution)[0])
            state = RollupState(
                resolution=resolution.value, watermark=first, last_sample_id=0, updated_at=now
            )
            session.add(state)
        arrivals = _read_samples(
            session,
            select(*_COLUMNS).where(
                Sample.id > state.last_sample_id,
                Sample.id <= max_id,
                Sample.ts < state.watermark,
            ),
        )
        labelled = pd.DataFrame(
            {
                "entity": arrivals["device_id"].astype(str) + _SEP + arrivals["entity"],
                "metric": arrivals["metric"],
                "ts": arrivals["ts"],
            }
        )
        plan = plan_rollup(labelled, resolution=resolution, watermark=state.watermark, now=now)
        new = 0
        if plan.compute is not None:
            new = _compute_window(session, resolution, plan.compute.start, plan.compute.end, chunk)
        dirty = _recompute_dirty(session, plan.dirty, resolution)
        late.update(int(t) for t in arrivals["ts"].to_numpy(dtype=np.int64))
        state.watermark = plan.watermark
        state.last_sample_id = int(max_id)
        state.updated_at = now
        session.flush()
        result.new_rows[resolution.value] = new
        result.dirty_rows[resolution.value] = dirty
        result.watermarks[resolution.value] = plan.watermark
        if new or dirty:
            _logger.debug(
                "rollup %s: %d new rows, %d recomputed, watermark %d",
                resolution.value,
                new,
                dirty,
                plan.watermark,
            )
    return RollupRunResult(
        new_rows=result.new_rows,
        dirty_rows=result.dirty_rows,
        watermarks=result.watermarks,
        late_instants=tuple(sorted(late)),
    )


def query_rollups(
    session: Session,
    *,
    resolution: str,
    device_ids: Sequence[int] | None = None,
    entity: str | None = None,
    metric: str | None = None,
    since: int | None = None,
    until: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[RollupRecord], int]:
    """One page of rollup rows (device, entity, metric, bucket order) and the total."""
    conditions = [Rollup.resolution == resolution]
    if device_ids is not None:
        conditions.append(Rollup.device_id.in_(list(device_ids)))
    if entity is not None:
        conditions.append(Rollup.entity == entity)
    if metric is not None:
        conditions.append(Rollup.metric == metric)
    if since is not None:
        conditions.append(Rollup.bucket >= since)
    if until is not None:
        conditions.append(Rollup.bucket < until)
    total = session.scalar(select(func.count()).select_from(Rollup).where(*conditions)) or 0
    query = (
        select(Rollup)
        .where(*conditions)
        .order_by(Rollup.device_id, Rollup.entity, Rollup.metric, Rollup.bucket)
        .limit(limit)
        .offset(offset)
    )
    records = [
        RollupRecord(
            device_id=r.device_id,
            entity=r.entity,
            metric=r.metric,
            resolution=r.resolution,
            bucket=r.bucket,
            count=r.count,
            min=r.min,
            avg=r.avg,
            max=r.max,
            p95=r.p95,
        )
        for r in session.scalars(query)
    ]
    return records, int(total)


def apply_retention(session: Session, *, now: int, raw_s: int, rollup_s: int) -> dict[str, int]:
    """Delete raw samples older than ``raw_s`` and rollups older than ``rollup_s`` seconds.

    Raw samples are kept until the daily rollup has consumed them, whatever ``raw_s`` says:
    deleting a sample no rollup has seen would lose it for good.
    """
    cutoff = now - raw_s
    day = _state(session, Resolution.DAY)
    if day is not None:
        cutoff = min(cutoff, day.watermark)
    else:
        cutoff = min(cutoff, session.scalar(select(func.min(Sample.ts))) or cutoff)
    raw = cast(CursorResult[Any], session.execute(delete(Sample).where(Sample.ts < cutoff)))
    old = cast(
        CursorResult[Any], session.execute(delete(Rollup).where(Rollup.bucket < now - rollup_s))
    )
    return {"samples": int(raw.rowcount or 0), "rollups": int(old.rowcount or 0)}
