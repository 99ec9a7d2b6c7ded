"""SLA results of targets with their own reporting period or time zone (``sla_periods``).

Targets on the global period (``[sla] period`` in ``[daemon] timezone``) are stored with
the KQIs in ``kpi_periods``/``sla_results`` (:mod:`nocd.storage.kpi_repo`). A target with
its own ``period``/``timezone`` is evaluated over periods keyed by (kind, time zone,
start), so a day and a month starting at the same instant, or the same month in two
zones, never share a row. Late data marks them dirty like the global periods
(:func:`mark_dirty`; :func:`nocd.storage.kpi_repo.mark_dirty_from` covers them too).
The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from kpi.sla import ReportingPeriod
from nocd.storage.ingest import copy_frame
from nocd.storage.kpi_repo import SlaRecord, sla_filters, sla_records
from nocd.storage.models import SlaPeriod, SlaPeriodResult

__all__ = [
    "SlaPeriodRecord",
    "dirty_periods",
    "mark_dirty",
    "period_of",
    "periods_between",
    "query_sla",
    "save_period",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaPeriodRecord:
    """One stored period of a (kind, time zone)."""

    kind: str
    timezone: str
    start: int
    end: int
    evaluated_until: int
    computed_at: int
    dirty: bool


def _record(row: SlaPeriod) -> SlaPeriodRecord:
    return SlaPeriodRecord(
        kind=row.kind,
        timezone=row.timezone,
        start=row.start,
        end=row.end,
        evaluated_until=row.evaluated_until,
        computed_at=row.computed_at,
        dirty=row.dirty,
    )


def _of(reporting: ReportingPeriod) -> tuple[str, str]:
    return reporting.kind.value, reporting.time_zone


def save_period(
    session: Session,
    reporting: ReportingPeriod,
    *,
    start: int,
    end: int,
    evaluated_until: int,
    computed_at: int,
    slas: pd.DataFrame,
) -> None:
    """Replace one period's SLA rows (``kpi_service.evaluate_targets`` frame), mark it clean."""
    kind, zone = _of(reporting)
    row = session.get(SlaPeriod, (kind, zone, start))
    if row is None:
        row = SlaPeriod(kind=kind, timezone=zone, start=start, end=end)
        session.add(row)
    row.end, row.evaluated_until, row.computed_at = end, evaluated_until, computed_at
    row.dirty = False
    session.flush()
    session.execute(
        delete(SlaPeriodResult).where(
            SlaPeriodResult.period_kind == kind,
            SlaPeriodResult.timezone == zone,
            SlaPeriodResult.period_start == start,
        )
    )
    if len(slas):
        s = slas.copy()
        s.insert(0, "period_start", start)
        s.insert(0, "timezone", zone)
        s.insert(0, "period_kind", kind)
        copy_frame(session, "sla_period_results", s)


def mark_dirty(session: Session, reporting: ReportingPeriod, period_starts: Iterable[int]) -> int:
    """Mark stored periods of ``reporting`` for recomputation; returns how many were marked."""
    starts = sorted({int(s) for s in period_starts})
    if not starts:
        return 0
    kind, zone = _of(reporting)
    result = session.execute(
        update(SlaPeriod)
        .where(SlaPeriod.kind == kind, SlaPeriod.timezone == zone, SlaPeriod.start.in_(starts))
        .values(dirty=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def period_of(session: Session, reporting: ReportingPeriod, start: int) -> SlaPeriodRecord | None:
    """The stored period of ``reporting`` starting at ``start``."""
    row = session.get(SlaPeriod, (*_of(reporting), start))
    return None if row is None else _record(row)


def periods_between(
    session: Session, reporting: ReportingPeriod, *, since: int, until: int
) -> list[SlaPeriodRecord]:
    """Stored periods of ``reporting`` overlapping ``[since, until)``, oldest first."""
    kind, zone = _of(reporting)
    rows = session.scalars(
        select(SlaPeriod)
        .where(
            SlaPeriod.kind == kind,
            SlaPeriod.timezone == zone,
            SlaPeriod.start < until,
            SlaPeriod.end > since,
        )
        .order_by(SlaPeriod.start)
    )
    return [_record(r) for r in rows]


def dirty_periods(session: Session, reporting: ReportingPeriod) -> list[SlaPeriodRecord]:
    """Periods of ``reporting`` that late data made stale, oldest first."""
    kind, zone = _of(reporting)
    rows = session.scalars(
        select(SlaPeriod)
        .where(SlaPeriod.kind == kind, SlaPeriod.timezone == zone, SlaPeriod.dirty.is_(True))
        .order_by(SlaPeriod.start)
    )
    return [_record(r) for r in rows]


def query_sla(
    session: Session,
    reporting: ReportingPeriod,
    *,
    period_start: int,
    district: str | None = None,
    sla_class: str | None = None,
    target: str | None = None,
) -> list[SlaRecord]:
    """Stored SLA rows of one period of ``reporting`` (target, district order)."""
    kind, zone = _of(reporting)
    conditions = [
        SlaPeriodResult.period_kind == kind,
        SlaPeriodResult.timezone == zone,
        SlaPeriodResult.period_start == period_start,
        *sla_filters(SlaPeriodResult, district=district, sla_class=sla_class, target=target),
    ]
    return sla_records(session, SlaPeriodResult, conditions)
