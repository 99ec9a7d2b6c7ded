"""KPI frames out of storage and KQI/SLA/line results back in.

    lines = line_inventory(session)                    # line, dslam, district, sla_class, …
    events = device_events(session, start=…, end=…)    # entity, ts, state (device timeline)
    frame = rollup_frame(session, "5m", metrics=("uas_total",), since=…, until=…)
    save_period(session, period=…, evaluated_until=…, computed_at=…, kqis=…, slas=…)
    mark_dirty(session, period_starts)                 # late data: recompute these periods

Frames use integer ids as entities (``lines.id``, ``devices.id``, ``ports.id``): they are
what ``kpi/`` joins on, and they keep 100 000-line frames small. The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, delete, exists, func, not_, select, update
from sqlalchemy.orm import Session, aliased

from kpi.intervals import epoch_s
from kpi.kqi import TICKET_COLUMNS
from nocd.storage.ingest import copy_frame
from nocd.storage.models import (
    Customer,
    Device,
    DeviceStateEvent,
    DistrictEvent,
    KpiPeriod,
    KqiResult,
    Line,
    LineKpi,
    Port,
    Rollup,
    RollupState,
    SlaPeriod,
    SlaPeriodResult,
    SlaResult,
    TicketEventRow,
    TicketRow,
    UplinkKqi,
)

__all__ = [
    "KqiRecord",
    "LineKpiRecord",
    "LineStabilityRecord",
    "PeriodRecord",
    "SlaRecord",
    "UplinkKqiRecord",
    "device_events",
    "device_inventory",
    "dirty_periods",
    "line_inventory",
    "line_stability_counts",
    "line_stability_since",
    "mark_dirty",
    "mark_dirty_from",
    "period_of",
    "periods_between",
    "query_kqis",
    "query_line_kpis",
    "query_sla",
    "query_uplink_kqis",
    "rollup_frame",
    "rollup_watermark",
    "save_line_kpis",
    "save_period",
    "silent_since",
    "sla_filters",
    "sla_records",
    "ticket_frame",
    "uplink_inventory",
]

DEFAULT_SLA_CLASS = "residential"  # a line without a customer is scored as residential


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodRecord:
    """A computed reporting period."""

    start: int
    end: int
    evaluated_until: int
    computed_at: int
    dirty: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class KqiRecord:
    """One stored KQI row."""

    period_start: int
    period_end: int
    kqi: str
    district: str
    sla_class: str
    numerator: float | None
    denominator: float | None
    value: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaRecord:
    """One stored SLA evaluation (``district`` ``*`` = network-wide)."""

    period_start: int
    period_end: int
    evaluated_until: int
    target: str
    district: str
    kqi: str
    sla_class: str
    scope: str
    objective: float
    entities: int | None
    sli: float | None
    up_s: int | None
    down_s: int | None
    unknown_s: int | None
    maintenance_s: int | None
    excluded_s: int | None
    scheduled_s: int | None
    error_budget_total: float | None
    error_budget_used: float | None
    error_budget_remaining: float | None
    error_budget_remaining_ratio: float | None
    burn_rate: float | None
    status: str
    # a target with its own reporting period (sla_periods); None: the global period
    period_kind: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UplinkKqiRecord:
    """One uplink's congestion counts and busy hour in one period."""

    period_start: int
    device: str
    district: str
    ifindex: int
    description: str | None
    speed_bps: int | None
    intervals: int
    congested_intervals: int
    busy_hour_start: int | None
    busy_hour_mean: float | None
    busy_hour_p95: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LineKpiRecord:
    """The latest KPIs of one line."""

    device: str
    district: str
    ifindex: int
    customer: str | None
    sla_class: str
    computed_at: int
    stability: str | None
    mtbr_24h_s: float | None
    mtbr_7d_s: float | None
    mtbe_24h_s: float | None
    mtbe_7d_s: float | None
    excluded_bins: int
    actual_down_bps: float | None
    rate_attainment_down_ratio: float | None
    attains_plan_down: bool | None
    headroom_down_bps: float | None


# --------------------------------------------------------------------------- frames


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=list(columns))


def line_inventory(session: Session) -> pd.DataFrame:
    """Every line: ``line, dslam, device, district, ifindex, customer, sla_class, plan_*_bps``."""
    query = (
        select(
            Line.id,
            Line.device_id,
            Device.name,
            Device.district_id,
            Line.ifindex,
            Line.customer_id,
            func.coalesce(Customer.sla_class, DEFAULT_SLA_CLASS),
            Line.plan_down_kbps,
            Line.plan_up_kbps,
        )
        .join(Device, Device.id == Line.device_id)
        .outerjoin(Customer, Customer.id == Line.customer_id)
        .order_by(Line.id)
    )
    columns = (
        "line",
        "dslam",
        "device",
        "district",
        "ifindex",
        "customer",
        "sla_class",
        "plan_down_kbps",
        "plan_up_kbps",
    )
    frame = _frame(session.execute(query).all(), columns)
    frame["plan_down_bps"] = frame["plan_down_kbps"].astype("float64") * 1000
    frame["plan_up_bps"] = frame["plan_up_kbps"].astype("float64") * 1000
    return frame.drop(columns=["plan_down_kbps", "plan_up_kbps"])


def device_inventory(session: Session) -> pd.DataFrame:
    """Every device: ``device_id, name, district, parent_id``."""
    query = select(Device.id, Device.name, Device.district_id, Device.parent_id).order_by(Device.id)
    return _frame(session.execute(query).all(), ("device_id", "name", "district", "parent_id"))


def uplink_inventory(session: Session) -> pd.DataFrame:
    """Uplink ports: ``port, device_id, entity`` (``if:<ifIndex>``) and ``district``."""
    query = (
        select(Port.id, Port.device_id, Port.ifindex, Device.district_id)
        .join(Device, Device.id == Port.device_id)
        .where(Port.is_uplink.is_(True))
        .order_by(Port.id)
    )
    frame = _frame(session.execute(query).all(), ("port", "device_id", "ifindex", "district"))
    frame["entity"] = "if:" + frame["ifindex"].astype(str)
    return frame


def _superseded_silence() -> ColumnElement[bool]:
    """True for a device event central wrote because the device's district fell silent
    (``district_repo.mark_silent``: ``unknown`` at the second of a ``silent`` district
    event) when the district has come back since.

    The district kept its own timeline while central could not hear it, and its outbox
    delivers that history in order before it is marked ``ok`` again; from then on the
    district's events are the record of that time, and central's placeholder would only
    hide them. While the district is still silent the ``unknown`` stands.
    """
    silent = aliased(DistrictEvent)
    back = aliased(DistrictEvent)
    return and_(
        DeviceStateEvent.state == "unknown",
        exists().where(
            Device.id == DeviceStateEvent.device_id,
            silent.district == Device.district_id,
            silent.state == "silent",
            silent.ts == DeviceStateEvent.ts,
            back.district == silent.district,
            back.state == "ok",
            back.id > silent.id,  # written after it: the district came back since
        ),
    )


def device_events(session: Session, *, start: int, end: int) -> pd.DataFrame:
    """State events ``entity`` (device id), ``ts``, ``state`` in ``[start, end)``, plus each
    device's last event before ``start`` (so the window does not start unknown).

    Central's placeholders for a silent district that has come back are left out
    (:func:`_superseded_silence`), so that central computes from the district's record,
    as an all-in-one nocd would from the same data.
    """
    kept = not_(_superseded_silence())
    last_before = (
        select(DeviceStateEvent.device_id, func.max(DeviceStateEvent.ts).label("ts"))
        .where(DeviceStateEvent.ts < start, kept)
        .group_by(DeviceStateEvent.device_id)
        .subquery()
    )
    before = (
        select(DeviceStateEvent.device_id, DeviceStateEvent.ts, DeviceStateEvent.state)
        .join(
            last_before,
            (DeviceStateEvent.device_id == last_before.c.device_id)
            & (DeviceStateEvent.ts == last_before.c.ts),
        )
        .where(kept)
        .order_by(DeviceStateEvent.id)
    )
    inside = select(DeviceStateEvent.device_id, DeviceStateEvent.ts, DeviceStateEvent.state).where(
        DeviceStateEvent.ts >= start, DeviceStateEvent.ts < end, kept
    )
    rows = [*session.execute(before).all(), *session.execute(inside.order_by(DeviceStateEvent.id))]
    frame = _frame(rows, ("entity", "ts", "state"))
    return frame.astype({"ts": np.int64}) if len(frame) else frame


def rollup_frame(
    session: Session,
    resolution: str,
    *,
    metrics: Sequence[str],
    since: int,
    until: int,
    entity_prefix: str | None = None,
    max_min: float | None = None,
) -> pd.DataFrame:
    """Rollup rows ``device_id, entity, metric, bucket, count, min, avg, max, p95``.

    ``max_min`` keeps only buckets whose minimum is below it (e.g. ``oper_up`` buckets
    with a down poll), which keeps month-long reads to the rows that matter.
    """
    conditions = [
        Rollup.resolution == resolution,
        Rollup.metric.in_(list(metrics)),
        Rollup.bucket >= since,
        Rollup.bucket < until,
    ]
    if entity_prefix is not None:
        conditions.append(Rollup.entity.startswith(entity_prefix, autoescape=True))
    if max_min is not None:
        conditions.append(Rollup.min < max_min)
    query = select(
        Rollup.device_id,
        Rollup.entity,
        Rollup.metric,
        Rollup.bucket,
        Rollup.count,
        Rollup.min,
        Rollup.avg,
        Rollup.max,
        Rollup.p95,
    ).where(*conditions)
    columns = ("device_id", "entity", "metric", "bucket", "count", "min", "avg", "max", "p95")
    return _frame(session.execute(query).all(), columns)


def _aware_epoch(value: datetime | None) -> float:
    if value is None:
        return float("nan")
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return float(epoch_s(value))


def ticket_frame(session: Session, since: int) -> pd.DataFrame:
    """``kpi.kqi.TICKET_COLUMNS`` plus ``side`` for tickets changed since ``since``.

    A ticket not updated since the period began has no event in it. Dispatch and
    on-site times are the first audit events entering those states; an installation's
    order date is its ``ordered_at`` field when recorded, else its creation.
    """
    since_dt = datetime.fromtimestamp(since, UTC)
    rows = session.execute(
        select(
            TicketRow.id,
            TicketRow.kind,
            TicketRow.district,
            Customer.sla_class,
            TicketRow.created_at,
            TicketRow.fields,
            TicketRow.resolved_at,
            TicketRow.closed_at,
            TicketRow.callback_done_at,
            TicketRow.side,
        )
        .outerjoin(Customer, Customer.id == TicketRow.customer_id)
        .where(TicketRow.updated_at >= since_dt)
        .order_by(TicketRow.id)
    ).all()
    ids = [r[0] for r in rows]
    firsts: dict[tuple[str, str], float] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for ticket, state, at in session.execute(
            select(TicketEventRow.ticket_id, TicketEventRow.state, TicketEventRow.at).where(
                TicketEventRow.ticket_id.in_(part),
                TicketEventRow.state.in_(("dispatched", "on_site")),
            )
        ):
            t = _aware_epoch(at)
            key = (ticket, state)
            firsts[key] = min(firsts.get(key, t), t)
    records = []
    for tid, kind, district, sla, created, fields, resolved, closed, callback, side in rows:
        ordered = (fields or {}).get("ordered_at")
        opened = _aware_epoch(created)
        if kind == "installation" and isinstance(ordered, dict) and "$dt" in ordered:
            opened = _aware_epoch(datetime.fromisoformat(str(ordered["$dt"])))
        records.append(
            {
                "ticket": tid,
                "kind": kind,
                "district": district,
                "sla_class": sla or DEFAULT_SLA_CLASS,
                "opened_at": opened,
                "dispatched_at": firsts.get((tid, "dispatched"), float("nan")),
                "on_site_at": firsts.get((tid, "on_site"), float("nan")),
                "resolved_at": _aware_epoch(resolved),
                "closed_at": _aware_epoch(closed),
                "callback_at": _aware_epoch(callback),
                "side": side,
            }
        )
    return pd.DataFrame(records, columns=[*TICKET_COLUMNS, "side"])


# --------------------------------------------------------------------------- results


def period_of(session: Session, start: int) -> PeriodRecord | None:
    """The stored period starting at ``start``."""
    row = session.get(KpiPeriod, start)
    return None if row is None else _period_record(row)


def _period_record(row: KpiPeriod) -> PeriodRecord:
    return PeriodRecord(
        start=row.start,
        end=row.end,
        evaluated_until=row.evaluated_until,
        computed_at=row.computed_at,
        dirty=row.dirty,
    )


def save_period(
    session: Session,
    *,
    start: int,
    end: int,
    evaluated_until: int,
    computed_at: int,
    kqis: pd.DataFrame,
    slas: pd.DataFrame,
    uplinks: pd.DataFrame | None = None,
) -> None:
    """Replace one period's KQI, SLA and per-uplink rows and mark it clean."""
    row = session.get(KpiPeriod, start)
    if row is None:
        row = KpiPeriod(start=start, end=end)
        session.add(row)
    row.end, row.evaluated_until, row.computed_at, row.dirty = (
        end,
        evaluated_until,
        computed_at,
        False,
    )
    session.flush()
    session.execute(delete(KqiResult).where(KqiResult.period_start == start))
    session.execute(delete(SlaResult).where(SlaResult.period_start == start))
    session.execute(delete(UplinkKqi).where(UplinkKqi.period_start == start))
    if len(kqis):
        k = kqis.loc[:, ["kqi", "district", "sla_class", "numerator", "denominator", "value"]]
        k = k.astype({"numerator": "float64", "denominator": "float64", "value": "float64"})
        k.insert(0, "period_start", start)
        copy_frame(session, "kqi_results", k)
    if len(slas):
        s = slas.copy()
        s.insert(0, "period_start", start)
        copy_frame(session, "sla_results", s)
    if uplinks is not None and len(uplinks):
        u = uplinks.copy()
        u.insert(0, "period_start", start)
        copy_frame(session, "uplink_kqis", u)


def mark_dirty(session: Session, period_starts: Iterable[int]) -> int:
    """Mark stored periods for recomputation (late data); returns how many were marked."""
    starts = sorted({int(s) for s in period_starts})
    if not starts:
        return 0
    result = session.execute(
        update(KpiPeriod).where(KpiPeriod.start.in_(starts)).values(dirty=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_dirty_from(session: Session, instant: int) -> int:
    """Mark every stored period already computed past ``instant`` for recomputation.

    For a late device-state event: it changes the device's timeline from ``instant`` up
    to its next event, which may lie in any later period, so every period whose
    evaluation covered ``instant`` is stale. A period not yet evaluated that far will
    see the event when it is next computed. Returns how many periods were marked.
    """
    marked = 0
    for model in (KpiPeriod, SlaPeriod):  # global periods, and targets' own periods
        result = session.execute(
            update(model)
            .where(model.evaluated_until > instant, model.dirty.is_(False))
            .values(dirty=True)
        )
        marked += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return marked


def silent_since(session: Session, district: str) -> int | None:
    """When ``district`` last fell silent (its newest ``silent`` event), if ever."""
    return session.scalar(
        select(func.max(DistrictEvent.ts)).where(
            DistrictEvent.district == district, DistrictEvent.state == "silent"
        )
    )


def periods_between(session: Session, *, since: int, until: int) -> list[PeriodRecord]:
    """Stored periods overlapping ``[since, until)``, oldest first."""
    rows = session.scalars(
        select(KpiPeriod)
        .where(KpiPeriod.start < until, KpiPeriod.end > since)
        .order_by(KpiPeriod.start)
    )
    return [_period_record(r) for r in rows]


def dirty_periods(session: Session) -> list[PeriodRecord]:
    """Periods that late data made stale, oldest first."""
    rows = session.scalars(
        select(KpiPeriod).where(KpiPeriod.dirty.is_(True)).order_by(KpiPeriod.start)
    )
    return [_period_record(r) for r in rows]


def save_line_kpis(session: Session, frame: pd.DataFrame, *, computed_at: int) -> int:
    """Replace every line's latest KPIs (``frame`` columns as ``line_kpis``, ``line_id`` first)."""
    session.execute(delete(LineKpi))
    if frame.empty:
        return 0
    out = frame.copy()
    out.insert(1, "computed_at", computed_at)
    return copy_frame(session, "line_kpis", out)


def query_kqis(
    session: Session,
    *,
    period_start: int,
    district: str | None = None,
    sla_class: str | None = None,
    kqi: str | None = None,
) -> list[KqiRecord]:
    """Stored KQI rows of one period."""
    conditions = [KqiResult.period_start == period_start]
    if district is not None:
        conditions.append(KqiResult.district == district)
    if sla_class is not None:
        conditions.append(KqiResult.sla_class == sla_class)
    if kqi is not None:
        conditions.append(KqiResult.kqi == kqi)
    query = (
        select(KqiResult, KpiPeriod.end)
        .join(KpiPeriod, KpiPeriod.start == KqiResult.period_start)
        .where(*conditions)
        .order_by(KqiResult.kqi, KqiResult.district, KqiResult.sla_class)
    )
    return [
        KqiRecord(
            period_start=r.period_start,
            period_end=end,
            kqi=r.kqi,
            district=r.district,
            sla_class=r.sla_class,
            numerator=r.numerator,
            denominator=r.denominator,
            value=r.value,
        )
        for r, end in session.execute(query).all()
    ]


def query_sla(
    session: Session,
    *,
    period_start: int | None,
    district: str | None = None,
    sla_class: str | None = None,
    target: str | None = None,
) -> list[SlaRecord]:
    """Stored SLA rows of one global period.

    ``None``: of the newest global period, followed by the rows of the newest period of
    each (kind, time zone) that targets with their own period use — of those computed by
    the newest KQI run, so a calendar no longer configured drops out.
    """
    newest = period_start is None
    if period_start is None:
        period_start = session.scalar(select(func.max(KpiPeriod.start)))
    records = (
        []
        if period_start is None
        else sla_records(
            session,
            SlaResult,
            [
                SlaResult.period_start == period_start,
                *sla_filters(SlaResult, district=district, sla_class=sla_class, target=target),
            ],
        )
    )
    if newest and period_start is not None:
        run = select(func.max(KpiPeriod.computed_at)).scalar_subquery()
        latest = (
            select(SlaPeriod.kind, SlaPeriod.timezone, func.max(SlaPeriod.start).label("start"))
            .where(SlaPeriod.computed_at >= run)
            .group_by(SlaPeriod.kind, SlaPeriod.timezone)
            .subquery()
        )
        own = and_(
            SlaPeriodResult.period_kind == latest.c.kind,
            SlaPeriodResult.timezone == latest.c.timezone,
            SlaPeriodResult.period_start == latest.c.start,
        )
        records += sla_records(
            session,
            SlaPeriodResult,
            [
                exists().where(own),
                *sla_filters(
                    SlaPeriodResult, district=district, sla_class=sla_class, target=target
                ),
            ],
        )
    return records


def sla_filters(
    model: type[SlaResult] | type[SlaPeriodResult],
    *,
    district: str | None,
    sla_class: str | None,
    target: str | None,
) -> list[ColumnElement[bool]]:
    """The optional district / SLA class / target conditions on an SLA result table."""
    conditions: list[ColumnElement[bool]] = []
    if district is not None:
        conditions.append(model.district == district)
    if sla_class is not None:
        conditions.append(model.sla_class == sla_class)
    if target is not None:
        conditions.append(model.target == target)
    return conditions


def sla_records(
    session: Session,
    model: type[SlaResult] | type[SlaPeriodResult],
    conditions: Sequence[ColumnElement[bool]],
) -> list[SlaRecord]:
    """SLA rows of ``model`` matching ``conditions``, in target, district order."""
    query = select(model).where(*conditions).order_by(model.target, model.district)
    names = [c.name for c in model.__table__.columns if c.name in SlaRecord.__dataclass_fields__]
    return [SlaRecord(**{n: getattr(r, n) for n in names}) for r in session.scalars(query)]


def query_uplink_kqis(
    session: Session,
    *,
    period_start: int,
    district: str | None = None,
    device: str | None = None,
    ifindex: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[UplinkKqiRecord], int]:
    """One page of per-uplink KQI rows of a period (device, ifIndex order) and the total."""
    conditions = [UplinkKqi.period_start == period_start]
    if district is not None:
        conditions.append(Device.district_id == district)
    if device is not None:
        conditions.append(Device.name == device)
    if ifindex is not None:
        conditions.append(Port.ifindex == ifindex)
    base = (
        select(UplinkKqi, Device.name, Device.district_id, Port.ifindex, Port.description)
        .add_columns(Port.speed_bps)
        .join(Port, Port.id == UplinkKqi.port_id)
        .join(Device, Device.id == Port.device_id)
        .where(*conditions)
    )
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    query = base.order_by(Device.name, Port.ifindex).limit(limit).offset(offset)
    records = [
        UplinkKqiRecord(
            period_start=u.period_start,
            device=name,
            district=district_id,
            ifindex=port_ifindex,
            description=description,
            speed_bps=speed,
            intervals=u.intervals,
            congested_intervals=u.congested_intervals,
            busy_hour_start=u.busy_hour_start,
            busy_hour_mean=u.busy_hour_mean,
            busy_hour_p95=u.busy_hour_p95,
        )
        for u, name, district_id, port_ifindex, description, speed in session.execute(query).all()
    ]
    return records, total


def query_line_kpis(
    session: Session,
    *,
    district: str | None = None,
    device: str | None = None,
    stability: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[LineKpiRecord], int]:
    """One page of per-line KPIs (device, ifIndex order) and how many match."""
    conditions = []
    if district is not None:
        conditions.append(Device.district_id == district)
    if device is not None:
        conditions.append(Device.name == device)
    if stability is not None:
        conditions.append(LineKpi.stability == stability)
    base = (
        select(LineKpi, Device.name, Device.district_id, Line.ifindex, Line.customer_id)
        .join(Line, Line.id == LineKpi.line_id)
        .join(Device, Device.id == Line.device_id)
        .where(*conditions)
    )
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    classes = dict(session.execute(select(Customer.id, Customer.sla_class)).all())
    query = base.order_by(Device.name, Line.ifindex).limit(limit).offset(offset)
    records = [
        LineKpiRecord(
            device=name,
            district=district_id,
            ifindex=ifindex,
            customer=customer,
            sla_class=classes.get(customer, DEFAULT_SLA_CLASS) if customer else DEFAULT_SLA_CLASS,
            computed_at=k.computed_at,
            stability=k.stability,
            mtbr_24h_s=k.mtbr_24h_s,
            mtbr_7d_s=k.mtbr_7d_s,
            mtbe_24h_s=k.mtbe_24h_s,
            mtbe_7d_s=k.mtbe_7d_s,
            excluded_bins=k.excluded_bins,
            actual_down_bps=k.actual_down_bps,
            rate_attainment_down_ratio=k.rate_attainment_down_ratio,
            attains_plan_down=k.attains_plan_down,
            headroom_down_bps=k.headroom_down_bps,
        )
        for k, name, district_id, ifindex, customer in session.execute(query).all()
    ]
    return records, total


# --------------------------------------------------------------------------- alerting reads


@dataclass(frozen=True, slots=True, kw_only=True)
class LineStabilityRecord:
    """One line's stability class as of the KPI computation at ``computed_at``."""

    device: str
    district: str
    ifindex: int
    stability: str | None
    computed_at: int


def line_stability_counts(session: Session) -> dict[str, dict[str, int]]:
    """district → stability class → lines, from the newest per-line KPIs (``unknown``: no
    class, e.g. a line never in showtime). Counted in the database: one grouped query."""
    query = (
        select(Device.district_id, LineKpi.stability, func.count())
        .join(Line, Line.id == LineKpi.line_id)
        .join(Device, Device.id == Line.device_id)
        .group_by(Device.district_id, LineKpi.stability)
    )
    counts: dict[str, dict[str, int]] = {}
    for district, stability, n in session.execute(query).all():
        by_class = counts.setdefault(district, {})
        key = stability or "unknown"
        by_class[key] = by_class.get(key, 0) + int(n)
    return counts


def line_stability_since(
    session: Session, *, computed_after: int | None
) -> list[LineStabilityRecord]:
    """Every line's stored stability class if ``line_kpis`` was written after
    ``computed_after`` (``None``: in any case), else nothing; by device and ifIndex."""
    conditions = [] if computed_after is None else [LineKpi.computed_at > computed_after]
    query = (
        select(
            Device.name, Device.district_id, Line.ifindex, LineKpi.stability, LineKpi.computed_at
        )
        .join(Line, Line.id == LineKpi.line_id)
        .join(Device, Device.id == Line.device_id)
        .where(*conditions)
        .order_by(Device.name, Line.ifindex)
    )
    return [
        LineStabilityRecord(
            device=name, district=district, ifindex=ifindex, stability=stability, computed_at=at
        )
        for name, district, ifindex, stability, at in session.execute(query).all()
    ]


def rollup_watermark(session: Session, resolution: str) -> int | None:
    """Every ``resolution`` rollup bucket before this epoch second is final (None: no rollups)."""
    return session.scalar(select(RollupState.watermark).where(RollupState.resolution == resolution))
