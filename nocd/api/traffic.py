"""``/api/v1`` traffic model: load forecasts, capacity exhaustion, flow direction and matrix.

Reads need a token of any role. Results are those of the newest refit (``computed_at``,
UTC epoch seconds; refitted daily, ``[traffic] refit_interval_s``); before the first refit
lists are empty. A *link* is an uplink port, named ``<device>/if:<ifIndex>``; its load is
the busier direction, ``max(in_bps, out_bps)``. 503 when this process runs no traffic
model (role ``district``, or ``[traffic] enabled = false``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from nocd.api.deps import MAX_EPOCH_S, Offset, ReadAccess, SessionDep
from nocd.storage import traffic_repo
from nocd.traffic_service import LinkCapacity, SeriesForecast, TrafficResults, TrafficService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["traffic"])


class Horizon(StrEnum):
    """Forecast horizon: the next day or the next week of 5-minute buckets."""

    DAY = "24h"
    WEEK = "7d"


class Scope(StrEnum):
    """What a forecast is for."""

    LINK = "link"
    DISTRICT = "district"


def _num(value: float | None) -> float | None:
    """JSON has no inf/NaN: those become null."""
    return float(value) if value is not None and math.isfinite(value) else None


def _iso(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _service(request: Request) -> TrafficService:
    service: TrafficService | None = getattr(request.app.state, "traffic", None)
    if service is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "this nocd process runs no traffic model"
        )
    return service


# --------------------------------------------------------------------------- forecasts


class ForecastPoint(BaseModel):
    """One 5-minute bucket ahead: point forecast and 90 % prediction interval."""

    ts: int = Field(description="bucket start, UTC epoch seconds")
    mean_bps: float | None
    lower_bps: float | None
    upper_bps: float | None


class ForecastOut(BaseModel):
    """The forecast load of one link or district."""

    scope: Scope
    key: str = Field(description="link `<device>/if:<n>` or district id")
    district: str
    device: str | None
    link: str | None = Field(description="`if:<n>` (links only)")
    horizon: Horizon
    origin: datetime = Field(description="start of the first forecast bucket")
    step_s: int
    period_samples: int = Field(description="seasonal period the model used (2016 = weekly)")
    peak_bps: float | None
    peak_upper_bps: float | None
    points: list[ForecastPoint] | None = Field(description="omitted with points=false")

    @classmethod
    def of(cls, f: SeriesForecast, points: bool) -> ForecastOut:
        return cls(
            scope=Scope(f.scope),
            key=f.key,
            district=f.district,
            device=f.device,
            link=f.link,
            horizon=Horizon(f.horizon),
            origin=datetime.fromtimestamp(f.origin, UTC),
            step_s=f.step_s,
            period_samples=f.period,
            peak_bps=_num(f.peak_bps),
            peak_upper_bps=_num(f.peak_upper_bps),
            points=[
                ForecastPoint(
                    ts=f.origin + i * f.step_s,
                    mean_bps=_num(m),
                    lower_bps=_num(lo),
                    upper_bps=_num(hi),
                )
                for i, (m, lo, hi) in enumerate(zip(f.mean, f.lower, f.upper, strict=True))
            ]
            if points
            else None,
        )


class ForecastsOut(BaseModel):
    """Forecasts of the newest refit."""

    computed_at: datetime | None
    items: list[ForecastOut]
    total: int
    limit: int
    offset: int


@router.get("/forecasts", response_model=ForecastsOut)
def list_forecasts(
    request: Request,
    _token: ReadAccess,
    link: Annotated[str | None, Query(description="`<device>/if:<n>`")] = None,
    district: Annotated[str | None, Query()] = None,
    scope: Annotated[Scope | None, Query()] = None,
    horizon: Annotated[Horizon, Query()] = Horizon.DAY,
    points: Annotated[bool, Query(description="include the 5-minute points")] = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> ForecastsOut:
    """Load forecasts with prediction intervals, per link or district, for one horizon."""
    results = _service(request).latest
    items = [
        f
        for f in results.forecasts
        if f.horizon == horizon.value
        and (link is None or f.key == link)
        and (district is None or f.district == district)
        and (scope is None or f.scope == scope.value)
    ]
    page = items[offset : offset + limit]
    return ForecastsOut(
        computed_at=_iso(results.computed_at),
        items=[ForecastOut.of(f, points) for f in page],
        total=len(items),
        limit=limit,
        offset=offset,
    )


# --------------------------------------------------------------------------- capacity


class CapacityOut(BaseModel):
    """Busy hour and capacity exhaustion of one uplink."""

    link: str = Field(description="`<device>/if:<n>`")
    device: str
    district: str
    speed_bps: float | None
    threshold: float = Field(description="share of link speed that counts as exhausted")
    history_days: float
    busy_hour_start: datetime | None = Field(description="busy hour of the last complete day")
    busy_hour_p95_bps: float | None
    utilisation: float | None = Field(description="busy-hour p95 / speed, busiest weekday")
    growth_per_year: float | None = Field(description="0.5 = +50 %/year")
    days: float | None = Field(description="days until the threshold is crossed")
    date: datetime | None
    date_low: datetime | None = Field(description="earliest date of the 90 % range")
    date_high: datetime | None = Field(description="latest date of the 90 % range")
    reason: str | None = Field(description="why there is no date (or already above)")

    @classmethod
    def of(cls, c: LinkCapacity) -> CapacityOut:
        f = c.forecast
        return cls(
            link=c.key,
            device=c.device,
            district=c.district,
            speed_bps=_num(c.speed_bps),
            threshold=c.threshold,
            history_days=c.history_days,
            busy_hour_start=_iso(c.busy_hour_start),
            busy_hour_p95_bps=_num(c.busy_hour_p95_bps),
            utilisation=_num(f.utilisation) if f is not None else None,
            growth_per_year=_num(f.growth_per_year) if f is not None else None,
            days=_num(c.days),
            date=c.date(c.days),
            date_low=c.date(f.days_low) if f is not None else None,
            date_high=c.date(f.days_high) if f is not None else None,
            reason=c.reason,
        )


class CapacityListOut(BaseModel):
    """Uplinks forecast to exhaust within ``within_days`` (soonest first)."""

    computed_at: datetime | None
    within_days: float
    items: list[CapacityOut]


@router.get("/capacity", response_model=CapacityListOut)
def list_capacity(
    request: Request,
    _token: ReadAccess,
    within_days: Annotated[float, Query(gt=0, le=3650)] = 90.0,
    district: Annotated[str | None, Query()] = None,
    link: Annotated[str | None, Query(description="`<device>/if:<n>`")] = None,
    all_links: Annotated[
        bool, Query(alias="all", description="also links with no date (with the reason)")
    ] = False,
) -> CapacityListOut:
    """Uplinks predicted to cross the threshold within ``within_days``, with dates and range."""
    results = _service(request).latest
    chosen = [
        c
        for c in results.capacity
        if (district is None or c.district == district)
        and (link is None or c.key == link)
        and (all_links or (c.days is not None and c.days <= within_days))
    ]
    chosen.sort(key=lambda c: (c.days is None, c.days if c.days is not None else 0.0, c.key))
    return CapacityListOut(
        computed_at=_iso(results.computed_at),
        within_days=within_days,
        items=[CapacityOut.of(c) for c in chosen],
    )


# --------------------------------------------------------------------------- flows


class Value(StrEnum):
    """Which direction the matrix sums."""

    DOWN = "down_bps"
    UP = "up_bps"


class SplitOut(BaseModel):
    """Downstream/upstream split of one district or aggregation node (busy-hour means)."""

    name: str
    down_bps: float | None
    up_bps: float | None
    down_share: float | None
    down_share_change: float | None = Field(description="share points against a week ago")
    total_change: float | None = Field(description="ratio − 1 against a week ago")


class TopLinkOut(BaseModel):
    """A loaded uplink (busy-hour means of the last day)."""

    link: str
    down_bps: float | None
    up_bps: float | None
    speed_bps: float | None
    utilisation: float | None


class MatrixOut(BaseModel):
    """District → uplink traffic matrix, direction split and the top-N loaded links."""

    computed_at: datetime | None
    value: str = Field(description="busy-hour downstream bps attributed to each uplink")
    districts: list[str]
    uplinks: list[str]
    matrix: list[list[float]] = Field(description="rows: districts; columns: uplinks")
    by_district: list[SplitOut]
    by_node: list[SplitOut]
    top: list[TopLinkOut]


def _splits(frame: pd.DataFrame) -> list[SplitOut]:
    out = []
    for name, row in frame.iterrows():
        out.append(
            SplitOut(
                name=str(name),
                down_bps=_num(row.get("down_bps")),
                up_bps=_num(row.get("up_bps")),
                down_share=_num(row.get("down_share")),
                down_share_change=_num(row.get("down_share_change")),
                total_change=_num(row.get("total_change")),
            )
        )
    return out


def _matrix_out(results: TrafficResults, top_n: int, district: str | None) -> MatrixOut:
    flow = results.flow
    if flow is None:
        return MatrixOut(
            computed_at=_iso(results.computed_at),
            value=Value.DOWN.value,
            districts=[],
            uplinks=[],
            matrix=[],
            by_district=[],
            by_node=[],
            top=[],
        )
    matrix = flow.matrix
    if district is not None and len(matrix):
        matrix = matrix.loc[matrix.index == district]
        matrix = matrix.loc[:, (matrix > 0).any(axis=0)]
    by_district = flow.by_district
    if district is not None:
        by_district = by_district.loc[by_district.index == district]
    top = flow.top.head(top_n)
    return MatrixOut(
        computed_at=_iso(results.computed_at),
        value=Value.DOWN.value,
        districts=[str(d) for d in matrix.index],
        uplinks=[str(u) for u in matrix.columns],
        matrix=[[float(v) for v in row] for row in matrix.to_numpy()],
        by_district=_splits(by_district),
        by_node=_splits(flow.by_node),
        top=[
            TopLinkOut(
                link=str(key),
                down_bps=_num(row["down_bps"]),
                up_bps=_num(row["up_bps"]),
                speed_bps=_num(row["speed_bps"]),
                utilisation=_num(row["utilisation"]),
            )
            for key, row in top.iterrows()
        ],
    )


@router.get("/traffic/matrix", response_model=MatrixOut)
def traffic_matrix(
    request: Request,
    _token: ReadAccess,
    district: Annotated[str | None, Query()] = None,
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> MatrixOut:
    """District → uplink matrix, downstream/upstream split per district and node, top-N."""
    return _matrix_out(_service(request).latest, top, district)


# --------------------------------------------------------------------------- anomalies


class AnomalyOut(BaseModel):
    """One on-line anomaly event and its lead time over the first rule alert after it."""

    link: str
    device: str
    district: str
    kind: str
    score: float
    deviation: float
    onset_at: datetime
    detected_at: datetime
    resolved_at: datetime | None
    lead_time_s: int | None = Field(description="positive: the anomaly warned this much earlier")
    lead_alert_key: str | None


@router.get("/traffic/anomalies", response_model=list[AnomalyOut])
def list_anomalies(
    _token: ReadAccess,
    session: SessionDep,
    link: Annotated[str | None, Query(description="`<device>/if:<n>`")] = None,
    since: Annotated[int | None, Query(ge=0, le=MAX_EPOCH_S, description="UTC epoch s")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AnomalyOut]:
    """Stored anomaly events, newest first."""
    return [
        AnomalyOut(
            link=r.link,
            device=r.device,
            district=r.district,
            kind=r.kind,
            score=r.score,
            deviation=r.deviation,
            onset_at=datetime.fromtimestamp(r.sample_ts, UTC),
            detected_at=datetime.fromtimestamp(r.detected_at, UTC),
            resolved_at=_iso(r.resolved_at),
            lead_time_s=r.lead_time_s,
            lead_alert_key=r.lead_alert_key,
        )
        for r in traffic_repo.list_anomalies(session, since=since, link=link, limit=limit)
    ]
