"""``/api/v1`` KPIs, KQIs and SLAs: samples and rollups, per-line KPIs, stored period results.

Reads need a token of any role. Periods are named by a date in the reporting time zone
(``period=2024-06`` or ``2024-06-15``: the period containing that day); without one, the
current period. Ratios are 0…1, times are UTC epoch seconds.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from kpi.intervals import TimeWindow, epoch_s
from kpi.sla import ReportingPeriod
from nocd.api.deps import MAX_EPOCH_S, Offset, ReadAccess, SessionDep
from nocd.api.schemas import PageOut
from nocd.config import Settings
from nocd.storage import kpi_repo, rollup_repo, sla_period_repo
from nocd.storage.models import Device, Sample

__all__ = ["MAX_PAGE_SIZE", "router"]

MAX_PAGE_SIZE = 10_000

router = APIRouter(prefix="/api/v1", tags=["kpi"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")]
PeriodQuery = Annotated[
    str | None,
    Query(
        description="a month (`2024-06`) or a day (`2024-06-15`) in the period; default: now",
        pattern=r"^\d{4}-\d{2}(-\d{2})?$",
        examples=["2024-06"],
    ),
]


class Resolution(StrEnum):
    """``raw`` samples or a rollup resolution."""

    RAW = "raw"
    FIVE_MIN = "5m"
    HOUR = "1h"
    DAY = "1d"


def _finite(value: float | None) -> float | None:
    """JSON has no inf/NaN: those become null."""
    return value if value is not None and math.isfinite(value) else None


class KpiPoint(BaseModel):
    """One raw sample (``value``) or one rollup bucket (``count``…``p95``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device": "xihu-dslam-01",
                    "district": "xihu",
                    "entity": "line:1001",
                    "metric": "snr_margin_down_db",
                    "resolution": "1h",
                    "ts": 1717171200,
                    "value": None,
                    "count": 12,
                    "min": 7.9,
                    "avg": 8.4,
                    "max": 9.1,
                    "p95": 9.0,
                }
            ]
        }
    )

    device: str
    district: str
    entity: str
    metric: str
    resolution: Resolution
    ts: int = Field(description="sample time, or bucket start (UTC epoch s)")
    value: float | None = None
    count: int | None = None
    min: float | None = None
    avg: float | None = None
    max: float | None = None
    p95: float | None = None


class LineKpiOut(BaseModel):
    """The latest KPIs of one DSL line (MTBR/MTBE null: no retrain / errored second seen)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device": "xihu-dslam-01",
                    "district": "xihu",
                    "ifindex": 1001,
                    "customer": "C1001",
                    "sla_class": "residential",
                    "computed_at": 1717999200,
                    "stability": "stable",
                    "mtbr_24h_s": None,
                    "mtbr_7d_s": 302400.0,
                    "mtbe_24h_s": None,
                    "mtbe_7d_s": 60480.0,
                    "excluded_bins": 0,
                    "actual_down_bps": 49800000.0,
                    "rate_attainment_down_ratio": 0.996,
                    "attains_plan_down": True,
                    "headroom_down_bps": 8100000.0,
                }
            ]
        }
    )

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


class KqiOut(BaseModel):
    """A KQI for one district × SLA class (``*`` = all) in one period: ``value = n ÷ d``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period_start": 1717171200,
                    "period_end": 1719763200,
                    "kqi": "line_availability_ratio",
                    "district": "xihu",
                    "sla_class": "*",
                    "numerator": 2582500.0,
                    "denominator": 2588400.0,
                    "value": 0.99772,
                }
            ]
        }
    )

    period_start: int
    period_end: int
    kqi: str
    district: str
    sla_class: str
    numerator: float | None
    denominator: float | None
    value: float | None


class UplinkKqiOut(BaseModel):
    """One uplink in one period: 5-minute congestion counts and its busy hour."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period_start": 1717171200,
                    "device": "xihu-agg-01",
                    "district": "xihu",
                    "ifindex": 49,
                    "entity": "if:49",
                    "description": "uplink core-1",
                    "speed_bps": 10_000_000_000,
                    "intervals": 8640,
                    "congested_intervals": 12,
                    "congestion_share": 0.0013888888888888889,
                    "busy_hour_start": 1717758000,
                    "busy_hour_mean": 0.71,
                    "busy_hour_p95": 0.83,
                }
            ]
        }
    )

    period_start: int
    device: str
    district: str
    ifindex: int
    entity: str = Field(description="`if:<ifIndex>`, as in /api/v1/kpis")
    description: str | None
    speed_bps: int | None
    intervals: int = Field(description="5-minute intervals with a known utilisation")
    congested_intervals: int = Field(description="… of them above the congestion threshold")
    congestion_share: float | None
    busy_hour_start: int | None = Field(
        description="start of the busiest complete hour (UTC epoch s); null: none complete"
    )
    busy_hour_mean: float | None = Field(description="mean utilisation ratio in that hour")
    busy_hour_p95: float | None = Field(description="p95 utilisation ratio in that hour")


class KqiList(BaseModel):
    """KQIs of one period (or of every stored period in a time range) and when computed.

    For a range, ``period_start``/``period_end`` span the periods found, and
    ``evaluated_until``/``computed_at`` are the newest period's; ``dirty`` if any is.
    Rows of several periods re-aggregate by summing ``numerator`` and ``denominator``.
    """

    period_start: int
    period_end: int
    evaluated_until: int | None
    computed_at: int | None
    dirty: bool
    items: list[KqiOut]


class SlaOut(BaseModel):
    """One SLA target for one district (``*`` = network) in one period.

    Seconds (``up_s`` … ``scheduled_s``) are set for availability targets; the error
    budget is in seconds for them and in events (lines, tickets) for ratio KQIs.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target": "enterprise-availability",
                    "district": "xihu",
                    "kqi": "line_availability_ratio",
                    "sla_class": "enterprise",
                    "scope": "external",
                    "objective": 0.999,
                    "period_start": 1717171200,
                    "period_end": 1719763200,
                    "evaluated_until": 1718035200,
                    "entities": 1,
                    "sli": 0.997917,
                    "up_s": 862200,
                    "down_s": 1800,
                    "unknown_s": 0,
                    "maintenance_s": 0,
                    "excluded_s": 0,
                    "scheduled_s": 864000,
                    "error_budget_total": 2592.0,
                    "error_budget_used": 1800.0,
                    "error_budget_remaining": 792.0,
                    "error_budget_remaining_ratio": 0.3056,
                    "burn_rate": 2.083,
                    "status": "at_risk",
                    "period_kind": "month",
                    "timezone": "Asia/Shanghai",
                }
            ]
        }
    )

    target: str
    district: str
    kqi: str
    sla_class: str
    scope: str
    objective: float
    period_start: int
    period_end: int
    evaluated_until: int
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
    period_kind: str = Field(description="day | week | month: the target's reporting period")
    timezone: str = Field(description="the time zone of the target's reporting period")


_FLOATS = (
    "sli",
    "error_budget_total",
    "error_budget_used",
    "error_budget_remaining",
    "error_budget_remaining_ratio",
    "burn_rate",
)


def _reporting_period(request: Request) -> ReportingPeriod:
    settings: Settings = request.app.state.settings
    return settings.sla.reporting_period(settings.daemon.timezone)


def _period(request: Request, period: str | None) -> TimeWindow:
    return _period_in(_reporting_period(request), period)


def _period_in(reporting: ReportingPeriod, period: str | None) -> TimeWindow:
    """The period of ``reporting`` named by ``period`` (a date in it), or the current one."""
    if period is None:
        return reporting.containing(epoch_s(datetime.now(reporting.zone)))
    try:
        day = date.fromisoformat(period if len(period) == 10 else f"{period}-01")
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad period {period!r}"
        ) from exc
    midday = datetime(day.year, day.month, day.day, 12, tzinfo=reporting.zone)
    return reporting.containing(epoch_s(midday))


SinceQuery = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_EPOCH_S,
        description="instead of `period`: every stored period overlapping [since, until) "
        "(UTC epoch s, inclusive)",
    ),
]
UntilQuery = Annotated[
    int | None, Query(ge=0, le=MAX_EPOCH_S, description="end of that range (exclusive)")
]


def _stored_periods(
    request: Request, session: Session, period: str | None, since: int | None, until: int | None
) -> tuple[TimeWindow, list[kpi_repo.PeriodRecord]]:
    """The period asked for by name, or the stored periods of a time range."""
    if since is None and until is None:
        window = _period(request, period)
        stored = kpi_repo.period_of(session, window.start)
        return window, [stored] if stored else []
    if period is not None or since is None or until is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "give either `period`, or both `since` and `until`",
        )
    if until <= since:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "`until` must be after `since`")
    found = kpi_repo.periods_between(session, since=since, until=until)
    if not found:
        return TimeWindow(start=0, end=0), []
    return TimeWindow(start=found[0].start, end=found[-1].end), found


def _device_ids(
    session: Session, district: str | None, device: str | None
) -> dict[int, tuple[str, str]]:
    query = select(Device.id, Device.name, Device.district_id)
    if district is not None:
        query = query.where(Device.district_id == district)
    if device is not None:
        query = query.where(Device.name == device)
    return {int(i): (n, d) for i, n, d in session.execute(query).all()}


@router.get("/kpis", summary="KPI samples or rollups")
def list_kpis(
    session: SessionDep,
    _token: ReadAccess,
    district: str | None = None,
    device: Annotated[str | None, Query(description="device name")] = None,
    entity: Annotated[
        str | None, Query(description="`device`, `if:<ifIndex>` or `line:<ifIndex>`")
    ] = None,
    metric: Annotated[str | None, Query(examples=["snr_margin_down_db"])] = None,
    since: Annotated[
        int | None, Query(ge=0, le=MAX_EPOCH_S, description="from (UTC epoch s, inclusive)")
    ] = None,
    until: Annotated[
        int | None, Query(ge=0, le=MAX_EPOCH_S, description="to (UTC epoch s, exclusive)")
    ] = None,
    resolution: Resolution = Resolution.HOUR,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PageOut[KpiPoint]:
    """Raw samples (kept 7 days) or 5m/1h/1d rollups (kept 400 days), by device, entity,
    metric and time."""
    devices = _device_ids(session, district, device)
    filtered = district is not None or device is not None
    if filtered and not devices:
        return PageOut(items=[], total=0, limit=limit, offset=offset)
    ids = list(devices) if filtered else None
    if resolution is Resolution.RAW:
        return _raw(session, devices, ids, entity, metric, since, until, limit, offset)
    records, total = rollup_repo.query_rollups(
        session,
        resolution=resolution.value,
        device_ids=ids,
        entity=entity,
        metric=metric,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    if not filtered:
        devices = _device_ids(session, None, None)
    items = [
        KpiPoint(
            device=devices[r.device_id][0],
            district=devices[r.device_id][1],
            entity=r.entity,
            metric=r.metric,
            resolution=resolution,
            ts=r.bucket,
            count=r.count,
            min=_finite(r.min),
            avg=_finite(r.avg),
            max=_finite(r.max),
            p95=_finite(r.p95),
        )
        for r in records
    ]
    return PageOut(items=items, total=total, limit=limit, offset=offset)


def _raw(
    session: Session,
    devices: dict[int, tuple[str, str]],
    ids: list[int] | None,
    entity: str | None,
    metric: str | None,
    since: int | None,
    until: int | None,
    limit: int,
    offset: int,
) -> PageOut[KpiPoint]:
    conditions: list[ColumnElement[bool]] = []
    if ids is not None:
        conditions.append(Sample.device_id.in_(ids))
    if entity is not None:
        conditions.append(Sample.entity == entity)
    if metric is not None:
        conditions.append(Sample.metric == metric)
    if since is not None:
        conditions.append(Sample.ts >= since)
    if until is not None:
        conditions.append(Sample.ts < until)
    total = int(session.scalar(select(func.count()).select_from(Sample).where(*conditions)) or 0)
    query = (
        select(Sample.device_id, Sample.entity, Sample.metric, Sample.ts, Sample.value)
        .where(*conditions)
        .order_by(Sample.device_id, Sample.entity, Sample.metric, Sample.ts, Sample.id)
        .limit(limit)
        .offset(offset)
    )
    rows = session.execute(query).all()
    if ids is None:
        devices = _device_ids(session, None, None)
    items = [
        KpiPoint(
            device=devices[d][0],
            district=devices[d][1],
            entity=e,
            metric=m,
            resolution=Resolution.RAW,
            ts=t,
            value=_finite(v),
        )
        for d, e, m, t, v in rows
    ]
    return PageOut(items=items, total=total, limit=limit, offset=offset)


@router.get("/kpis/lines", summary="Latest per-line KPIs")
def list_line_kpis(
    session: SessionDep,
    _token: ReadAccess,
    district: str | None = None,
    device: str | None = None,
    stability: Annotated[str | None, Query(pattern="^(stable|errored|marginal|unstable)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PageOut[LineKpiOut]:
    """Stability class, MTBR/MTBE and rate attainment per line, from the newest KQI run."""
    records, total = kpi_repo.query_line_kpis(
        session, district=district, device=device, stability=stability, limit=limit, offset=offset
    )
    items = [
        LineKpiOut(
            **{
                **asdict(r),
                "mtbr_24h_s": _finite(r.mtbr_24h_s),
                "mtbr_7d_s": _finite(r.mtbr_7d_s),
                "mtbe_24h_s": _finite(r.mtbe_24h_s),
                "mtbe_7d_s": _finite(r.mtbe_7d_s),
            }
        )
        for r in records
    ]
    return PageOut(items=items, total=total, limit=limit, offset=offset)


@router.get("/kqis", summary="KQIs of a reporting period")
def list_kqis(
    request: Request,
    session: SessionDep,
    _token: ReadAccess,
    district: Annotated[str | None, Query(description="district id, or `*` for all")] = None,
    sla_class: Annotated[str | None, Query(description="SLA class, or `*` for all")] = None,
    kqi: Annotated[str | None, Query(examples=["line_availability_ratio"])] = None,
    period: PeriodQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> KqiList:
    """KQIs as re-aggregable counts per district × SLA class (``*`` rows are the totals)."""
    window, found = _stored_periods(request, session, period, since, until)
    records = [
        r
        for p in found  # rows exist only for stored periods
        for r in kpi_repo.query_kqis(
            session, period_start=p.start, district=district, sla_class=sla_class, kqi=kqi
        )
    ]
    newest = found[-1] if found else None
    return KqiList(
        period_start=window.start,
        period_end=window.end,
        evaluated_until=newest.evaluated_until if newest else None,
        computed_at=newest.computed_at if newest else None,
        dirty=any(p.dirty for p in found),
        items=[
            KqiOut(
                period_start=r.period_start,
                period_end=r.period_end,
                kqi=r.kqi,
                district=r.district,
                sla_class=r.sla_class,
                numerator=_finite(r.numerator),
                denominator=_finite(r.denominator),
                value=_finite(r.value),
            )
            for r in records
        ],
    )


@router.get("/kqis/uplinks", summary="Per-uplink KQIs of a reporting period")
def list_uplink_kqis(
    request: Request,
    session: SessionDep,
    _token: ReadAccess,
    district: Annotated[str | None, Query(description="district id")] = None,
    device: Annotated[str | None, Query(description="device name")] = None,
    entity: Annotated[
        str | None, Query(pattern=r"^if:\d{1,10}$", description="`if:<ifIndex>`")
    ] = None,
    period: PeriodQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PageOut[UplinkKqiOut]:
    """Congestion counts and busy-hour p95 per uplink: the values behind the bounded
    ``uplink_*`` KQI rows (per district, the busiest uplink), which never become metrics."""
    window = _period(request, period)
    ifindex = int(entity.removeprefix("if:")) if entity is not None else None
    if ifindex is not None and ifindex > 2**31 - 1:
        return PageOut(items=[], total=0, limit=limit, offset=offset)
    records, total = kpi_repo.query_uplink_kqis(
        session,
        period_start=window.start,
        district=district,
        device=device,
        ifindex=ifindex,
        limit=limit,
        offset=offset,
    )
    items = [
        UplinkKqiOut(
            **{
                **asdict(r),
                "entity": f"if:{r.ifindex}",
                "congestion_share": (r.congested_intervals / r.intervals if r.intervals else None),
                "busy_hour_mean": _finite(r.busy_hour_mean),
                "busy_hour_p95": _finite(r.busy_hour_p95),
            }
        )
        for r in records
    ]
    return PageOut(items=items, total=total, limit=limit, offset=offset)


@router.get("/sla", summary="SLA evaluations of a reporting period")
def list_sla(
    request: Request,
    session: SessionDep,
    _token: ReadAccess,
    district: Annotated[
        str | None, Query(description="district id, or `*` for the network")
    ] = None,
    sla_class: Annotated[str | None, Query(alias="class", description="SLA class")] = None,
    target: Annotated[str | None, Query(examples=["enterprise-availability"])] = None,
    period: PeriodQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> list[SlaOut]:
    """SLI, up/down/unknown/maintenance seconds, error budget, burn rate and status.

    Targets on the global reporting period first, then those with their own
    ``period``/``timezone``: for ``period`` (a date) their period containing that date in
    their zone, for a range every stored period of theirs overlapping it.
    """
    _window, found = _stored_periods(request, session, period, since, until)
    filters = {"district": district, "sla_class": sla_class, "target": target}
    records = [
        r for p in found for r in kpi_repo.query_sla(session, period_start=p.start, **filters)
    ]
    settings: Settings = request.app.state.settings
    for reporting in settings.sla.own_periods(settings.daemon.timezone):
        if since is None or until is None:
            own = sla_period_repo.period_of(session, reporting, _period_in(reporting, period).start)
            starts = [own.start] if own else []
        else:
            starts = [
                p.start
                for p in sla_period_repo.periods_between(
                    session, reporting, since=since, until=until
                )
            ]
        records += [
            r
            for start in starts
            for r in sla_period_repo.query_sla(session, reporting, period_start=start, **filters)
        ]
    default = _reporting_period(request)
    return [
        SlaOut(
            **{
                **asdict(r),
                **{k: _finite(getattr(r, k)) for k in _FLOATS},
                "period_kind": r.period_kind or default.kind.value,
                "timezone": r.timezone or default.time_zone,
            }
        )
        for r in records
    ]
