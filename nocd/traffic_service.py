"""The traffic model's I/O edge: rollups → ``kpi`` forecasts/capacity/flows/anomalies → alerts.

    service = TrafficService(settings=settings, sessions=sessions, tickets=ticket_service)
    await service.refit_once(now)     # daily: forecasts, busy hours, capacity, flows, trends
    await service.anomaly_once(now)   # every 5 min: on-line detector over the new buckets
    service.latest                    # newest results, for the API and /metrics (no DB)

Units of the model are uplinks (``ports.is_uplink``) and districts. A link's *load* is the
busier direction per 5-minute bucket, ``max(in_bps, out_bps)`` (a full-duplex port
congests in one direction first). On an uplink, ``in_bps`` flows towards the customers
(downstream) and ``out_bps`` away from them (upstream). A district's aggregate is the sum
over its *edge* links: the uplinks of its aggregation (or BRAS) devices, or all of its
uplinks when it has none, so that traffic is not counted once per hierarchy level.

Alerts enter the alerting pipeline through its external-alert inbox (the table the
Alertmanager webhook fills, receiver ``nocd-traffic``): the pipeline correlates, stores
and routes them like any received alert. Anomaly events are also stored in
``traffic_anomalies`` with the lead time over the first rule alert that followed them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from alerting.model import AlertStatus
from alerting.tickets import FaultSide, Priority
from alerting.workflow import WorkflowTemplate, parse_template
from kpi.anomaly import AnomalyEvent, OnlineDetector
from kpi.cad import CadDetector
from kpi.forecast import ForecastConfig, fit_forecaster
from kpi.traffic import (
    CapacityForecast,
    capacity_exhaustion,
    daily_busy_hours,
    direction_split,
    top_loaded_links,
    traffic_matrix,
)
from kpi.trend import detect_rate_increase
from nocd.config import Settings
from nocd.storage import alert_repo, ticket_repo, traffic_repo
from nocd.storage.alert_repo import WebhookAlert
from nocd.storage.traffic_repo import AnomalyRecord, DeviceRecord, LinkRecord

if TYPE_CHECKING:
    from nocd.ticket_service import TicketService

__all__ = [
    "CAPACITY_TEMPLATE",
    "HORIZONS",
    "RECEIVER",
    "STEP_S",
    "DistrictTrend",
    "FlowView",
    "LinkCapacity",
    "SeriesForecast",
    "TrafficResults",
    "TrafficService",
    "capacity_template",
    "open_capacity_ticket",
]

_logger = logging.getLogger(__name__)

STEP_S: Final = 300  # 5-minute rollup bucket
DAY: Final = 288  # samples per day
HORIZONS: Final = {"24h": DAY, "7d": 7 * DAY}  # forecast horizons, samples
RECEIVER: Final = "nocd-traffic"  # receiver name of the alerts this service puts in the inbox
_EDGE_KINDS: Final = frozenset({"aggregation", "bras"})
_Z90_WIDTH: Final = 3.29  # a 90 % band spans 3.29 standard deviations
_LINK_CHUNK: Final = 50  # links whose history is read and modelled at once (bounds memory)
_TICKET_KINDS: Final = ("fault", "complaint")

FloatArray = npt.NDArray[np.float64]

# A planning ticket, not a repair: no on-site or restore timers, closed when the expansion
# is done (or cancelled when the forecast no longer holds).
CAPACITY_TEMPLATE: Final = """\
name: capacity
kind: fault
title: Capacity expansion
source: "issue 8: an uplink forecast to cross its capacity threshold within the horizon"
service_hours: 7x24
links_required: false
holds: []
fields:
  resolution: {type: text}
transitions:
  new:           [acknowledged, cancelled]
  acknowledged:  [resolved, cancelled]
  resolved:      [signed_off]      # the expansion is accepted by planning
  signed_off:    [callback_done]   # the link's load confirmed below the threshold again
  callback_done: [closed]
  closed:        []
  cancelled:     []
steps:
  resolved:
    required: [resolution]
"""


def capacity_template() -> WorkflowTemplate:
    """The ``capacity`` ticket workflow (parsed from :data:`CAPACITY_TEMPLATE`)."""
    return parse_template(CAPACITY_TEMPLATE, "nocd/traffic_service.py:CAPACITY_TEMPLATE")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesForecast:
    """Forecast of one link's or district's load for one horizon."""

    scope: str  # "link" or "district"
    key: str  # "<device>/if:<n>" or the district id
    district: str
    device: str | None
    link: str | None  # "if:<n>"
    horizon: str  # "24h" or "7d"
    origin: int  # epoch s of the first forecast bucket
    step_s: int
    period: int  # seasonal period of the model, samples (2016 weekly, 288 daily fallback)
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    @property
    def peak_bps(self) -> float:
        """Largest point forecast within the horizon."""
        return max(self.mean) if self.mean else float("nan")

    @property
    def peak_upper_bps(self) -> float:
        """Largest upper bound within the horizon."""
        return max(self.upper) if self.upper else float("nan")


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkCapacity:
    """Busy hour and capacity exhaustion of one uplink."""

    key: str
    device: str
    district: str
    link: str
    speed_bps: float | None
    threshold: float
    history_days: float
    busy_hour_start: int | None  # epoch s of the last complete day's busy hour
    busy_hour_p95_bps: float | None
    forecast: CapacityForecast | None  # None when the speed is unknown
    reason: str | None  # why there is no date (also when ``forecast`` is None)
    origin: int  # epoch s the days count from (end of the last complete bucket)

    @property
    def days(self) -> float | None:
        """Days until the threshold is crossed (None: no date, see ``reason``)."""
        return None if self.forecast is None else self.forecast.days

    def date(self, days: float | None) -> datetime | None:
        """The instant ``days`` after the origin."""
        if days is None or not math.isfinite(days):
            return None
        return datetime.fromtimestamp(self.origin, UTC) + timedelta(days=days)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowView:
    """Flow direction and the district → uplink matrix of the last complete day."""

    matrix: pd.DataFrame  # districts × uplinks, busy-hour downstream bps
    by_district: pd.DataFrame  # direction_split over edge links
    by_node: pd.DataFrame  # direction_split per aggregation node
    top: pd.DataFrame  # top_loaded_links (busy-hour means)


@dataclass(frozen=True, slots=True, kw_only=True)
class DistrictTrend:
    """Fault/complaint trend of one district on the last complete day."""

    district: str
    days: int
    baseline_rate: float | None  # tickets per day when a warning stands, else None
    recent_rate: float  # mean of the last 7 days
    warning_day: str | None  # ISO date of the newest warning within the last 7 days


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficResults:
    """What the last refit produced (held in memory for the API and metrics)."""

    computed_at: int | None = None
    origin: int | None = None
    forecasts: tuple[SeriesForecast, ...] = ()
    capacity: tuple[LinkCapacity, ...] = ()
    flow: FlowView | None = None
    trends: tuple[DistrictTrend, ...] = ()


# --------------------------------------------------------------------------- pure-ish steps


def _fingerprint(*parts: object) -> str:
    text = "|".join(str(p) for p in ("nocd-traffic", *parts))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _arrays(
    rates: pd.DataFrame, links: Sequence[LinkRecord], start: int, end: int
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """link key → (down, up) arrays over the buckets of ``[start, end)``; NaN = no data."""
    n = (end - start) // STEP_S
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    by_entity = {(link.device_id, link.entity): link.key for link in links}
    for link in links:
        out[link.key] = (np.full(n, np.nan), np.full(n, np.nan))
    if rates.empty:
        return out
    for keys, group in rates.groupby(["device_id", "entity", "metric"], sort=False):
        device_id, entity, metric = cast(tuple[int, str, str], keys)
        key = by_entity.get((int(device_id), str(entity)))
        if key is None or metric not in ("in_bps", "out_bps"):
            continue
        idx = (group["bucket"].to_numpy(dtype=np.int64) - start) // STEP_S
        ok = (idx >= 0) & (idx < n)
        target = out[key][0 if metric == "in_bps" else 1]
        target[idx[ok]] = group["value"].to_numpy(dtype=np.float64)[ok]
    return out


def _trim(values: FloatArray) -> FloatArray:
    """Drop the leading buckets before the first value (a link younger than the window)."""
    valid = np.flatnonzero(~np.isnan(values))
    return values[valid[0] :] if len(valid) else values[:0]


def _forecasts(
    values: FloatArray,
    *,
    scope: str,
    key: str,
    district: str,
    device: str | None,
    link: str | None,
    origin: int,
    backcast: int = 0,
) -> tuple[list[SeriesForecast], SeriesForecast | None]:
    """24 h (and 7 d with a week of history) forecasts of ``values`` (oldest first).

    With ``backcast`` > 0 also the model's in-sample profile and band over the last
    ``backcast`` samples (horizon ``in-sample``): the anomaly detector is primed against
    the same kind of reference it will be scored against.
    """
    y = _trim(values)
    if int(np.count_nonzero(~np.isnan(y))) < 2 * DAY:
        return [], None
    try:
        model = fit_forecaster(y, ForecastConfig.for_day(DAY))
    except ValueError as exc:
        _logger.debug("no forecast for %s %s: %s", scope, key, exc)
        return [], None
    out = []
    for name, horizon in HORIZONS.items():
        if horizon > model.period:
            continue
        f = model.forecast(horizon)
        out.append(
            SeriesForecast(
                scope=scope,
                key=key,
                district=district,
                device=device,
                link=link,
                horizon=name,
                origin=origin,
                step_s=STEP_S,
                period=f.period,
                mean=tuple(float(v) for v in f.mean),
                lower=tuple(float(v) for v in f.lower),
                upper=tuple(float(v) for v in f.upper),
            )
        )
    back = None
    if backcast > 0:
        n = min(backcast, model.period)
        profile = model.profile(np.arange(-n, 0, dtype=np.int64))
        back = SeriesForecast(
            scope=scope,
            key=key,
            district=district,
            device=device,
            link=link,
            horizon="in-sample",
            origin=origin - n * STEP_S,
            step_s=STEP_S,
            period=model.period,
            mean=tuple(float(v) for v in profile),
            lower=tuple(float(v) for v in profile * math.exp(model.log_q_lower)),
            upper=tuple(float(v) for v in profile * math.exp(model.log_q_upper)),
        )
    return out, back


def _daily_p95(load: FloatArray) -> tuple[FloatArray, pd.DataFrame]:
    """Busy-hour p95 per complete day (NaN for days too sparse), and the busy-hour rows."""
    bh = daily_busy_hours(load, DAY)
    n_days = len(load) // DAY
    p95 = np.full(n_days, np.nan)
    if len(bh):
        p95[bh["day"].to_numpy(dtype=np.int64)] = bh["p95"].to_numpy(dtype=np.float64)
    return p95, bh


def link_capacity(
    link: LinkRecord,
    load: FloatArray,
    *,
    speed_bps: float | None,
    threshold: float,
    min_history_days: int,
    origin: int,
) -> LinkCapacity:
    """Busy hour of the last complete day and the capacity forecast of one link."""
    y = _trim(load)
    p95, bh = _daily_p95(y)
    start: int | None = None
    last_p95: float | None = None
    n_days = len(y) // DAY
    if len(bh) and int(bh["day"].iloc[-1]) == n_days - 1:
        row = bh.iloc[-1]
        start = origin - DAY * STEP_S + int(row["start"]) * STEP_S
        last_p95 = float(row["p95"])
    forecast: CapacityForecast | None = None
    reason: str | None
    if not speed_bps or speed_bps <= 0:
        reason = "link speed unknown"
    elif n_days == 0:
        reason = "no complete day of data"
    else:
        try:
            forecast = capacity_exhaustion(
                p95, speed_bps, threshold=threshold, min_history_days=min_history_days
            )
            reason = forecast.reason
        except ValueError as exc:  # too few valid days for a trend
            reason = str(exc)
    return LinkCapacity(
        key=link.key,
        device=link.device,
        district=link.district,
        link=link.entity,
        speed_bps=speed_bps,
        threshold=threshold,
        history_days=round(len(y) / DAY, 2),
        busy_hour_start=start,
        busy_hour_p95_bps=last_p95,
        forecast=forecast,
        reason=reason if forecast is None or forecast.days is None else forecast.reason,
        origin=origin,
    )


def _edge_node(device_id: int, devices: Mapping[int, DeviceRecord]) -> DeviceRecord | None:
    """The nearest aggregation/BRAS device at or above ``device_id``."""
    seen: set[int] = set()
    current: int | None = device_id
    while current is not None and current not in seen:
        seen.add(current)
        dev = devices.get(current)
        if dev is None:
            return None
        if dev.kind in _EDGE_KINDS:
            return dev
        current = dev.parent_id
    return None


def edge_links(links: Sequence[LinkRecord]) -> dict[str, list[LinkRecord]]:
    """district → the links its aggregate is summed over (see the module docstring)."""
    by_district: dict[str, list[LinkRecord]] = defaultdict(list)
    for link in links:
        by_district[link.district].append(link)
    return {
        district: [x for x in members if x.kind in _EDGE_KINDS] or members
        for district, members in by_district.items()
    }


def flow_view(
    rows: pd.DataFrame,
    links: Sequence[LinkRecord],
    devices: Mapping[int, DeviceRecord],
    *,
    top_n: int,
    baseline: pd.DataFrame | None = None,
) -> FlowView:
    """Direction split, top-N and the district → uplink matrix from per-link rows.

    ``rows``: ``link, down_bps, up_bps, speed_bps`` (busy-hour means of the last day);
    ``baseline``: the same a week earlier, for the change of the split.
    """
    info = {link.key: link for link in links}
    edges = {x.key for members in edge_links(links).values() for x in members}
    access = [x for x in links if x.kind not in _EDGE_KINDS]

    def enrich(frame: pd.DataFrame) -> pd.DataFrame:
        f = frame.copy()
        f["district"] = [info[k].district for k in f["link"]]
        nodes = []
        for k in f["link"]:
            node = _edge_node(info[k].device_id, devices)
            nodes.append(node.name if node is not None else info[k].device)
        f["node"] = nodes
        return f

    current = enrich(rows) if len(rows) else rows.assign(district=[], node=[])
    base = enrich(baseline) if baseline is not None and len(baseline) else None
    cols = ["down_bps", "up_bps", "down_share", "down_share_change", "total_change"]
    if len(current):
        edge_now = current.loc[current["link"].isin(edges)]
        edge_base = base.loc[base["link"].isin(edges)] if base is not None else None
        by_district = direction_split(edge_now, "district", edge_base).reindex(columns=cols)
        access_keys = {x.key for x in access}
        node_rows = current.loc[current["link"].isin(access_keys)] if access_keys else current
        node_base = None
        if base is not None:
            node_base = base.loc[base["link"].isin(access_keys)] if access_keys else base
        by_node = direction_split(node_rows, "node", node_base).reindex(columns=cols)
        with_speed = current.loc[current["speed_bps"] > 0]
        top = top_loaded_links(with_speed, top_n) if len(with_speed) else pd.DataFrame()
    else:
        by_district = by_node = pd.DataFrame(columns=cols)
        top = pd.DataFrame()
    matrix = _matrix(current, access, links, devices)
    return FlowView(matrix=matrix, by_district=by_district, by_node=by_node, top=top)


def _matrix(
    current: pd.DataFrame,
    access: Sequence[LinkRecord],
    links: Sequence[LinkRecord],
    devices: Mapping[int, DeviceRecord],
) -> pd.DataFrame:
    """District → uplink: each access link's downstream traffic, attributed to the uplinks
    of its aggregation node in proportion to their own traffic (itself if it has none)."""
    if current.empty:
        return pd.DataFrame()
    down = dict(zip(current["link"], current["down_bps"].fillna(0.0), strict=True))
    uplinks_of: dict[int, list[str]] = defaultdict(list)
    for link in links:
        if link.kind in _EDGE_KINDS:
            uplinks_of[link.device_id].append(link.key)
    rows: list[tuple[str, str, float]] = []
    sources = access if access else [x for x in links if x.kind in _EDGE_KINDS]
    for link in sources:
        value = float(down.get(link.key, 0.0))
        node = _edge_node(link.device_id, devices) if access else None
        targets = uplinks_of.get(node.id, []) if node is not None else []
        if not targets:
            rows.append((link.district, link.key, value))
            continue
        weights = np.array([max(float(down.get(t, 0.0)), 0.0) for t in targets])
        if weights.sum() <= 0:
            weights = np.ones(len(targets))
        for target, w in zip(targets, weights / weights.sum(), strict=True):
            rows.append((link.district, target, value * float(w)))
    frame = pd.DataFrame(rows, columns=["district", "uplink", "down_bps"])
    return traffic_matrix(frame, "down_bps")


def busy_rows(
    arrays: Mapping[str, tuple[FloatArray, FloatArray]],
    speeds: Mapping[str, float | None],
    *,
    offset_days: int = 0,
) -> pd.DataFrame:
    """Per link, mean down/up over the busy hour of one complete day (0 = the last)."""
    rows = []
    for key, (down, up) in arrays.items():
        end = len(down) - offset_days * DAY
        if end < DAY:
            continue
        d, u = down[end - DAY : end], up[end - DAY : end]
        load = np.fmax(d, u)
        if np.isnan(load).mean() > 0.5:
            continue
        sums = np.convolve(np.nan_to_num(load), np.ones(12), mode="valid")
        s = int(np.argmax(sums))
        rows.append(
            {
                "link": key,
                "down_bps": float(np.nanmean(d[s : s + 12]))
                if np.isfinite(d[s : s + 12]).any()
                else 0.0,
                "up_bps": float(np.nanmean(u[s : s + 12]))
                if np.isfinite(u[s : s + 12]).any()
                else 0.0,
                "speed_bps": float(speeds.get(key) or 0.0),
            }
        )
    return pd.DataFrame(rows, columns=["link", "down_bps", "up_bps", "speed_bps"])


def _nansum(stack: list[FloatArray]) -> FloatArray:
    if not stack:
        return np.zeros(0)
    arr = np.vstack(stack)
    total: FloatArray = np.nansum(arr, axis=0)
    total[np.all(np.isnan(arr), axis=0)] = np.nan
    return total


# --------------------------------------------------------------------------- tickets


def open_capacity_ticket(
    session: Session, tickets: TicketService, cap: LinkCapacity, *, now: datetime
) -> str | None:
    """Open a P4 ``capacity`` ticket for ``cap`` unless one is open for the link already.

    The forecast is attached as the opening note (JSON). Returns the new ticket id, or
    None when an open one exists (deduplicated by the ``[capacity] <link>`` title).
    """
    title = f"[capacity] {cap.key}"
    existing = ticket_repo.search_tickets(
        session, ticket_repo.TicketFilter(open_only=True, text=title), limit=1
    )
    if existing.total:
        return None
    if "capacity" not in tickets.templates:
        tickets.templates = {**tickets.templates, "capacity": capacity_template()}
    f = cap.forecast
    document = {
        "link": cap.key,
        "speed_bps": cap.speed_bps,
        "threshold": cap.threshold,
        "days": None if f is None else f.days,
        "date": _date_text(cap, None if f is None else f.days),
        "date_low": _date_text(cap, None if f is None else f.days_low),
        "date_high": _date_text(cap, None if f is None else f.days_high),
        "utilisation": None if f is None else f.utilisation,
        "growth_per_year": None if f is None else f.growth_per_year,
        "busy_hour_p95_bps": cap.busy_hour_p95_bps,
        "history_days": cap.history_days,
        "computed_at": now.isoformat(),
    }
    stored = tickets.create(
        session,
        template="capacity",
        district=cap.district,
        actor="nocd-traffic",
        now=now,
        priority=Priority.P4,
        title=f"{title} forecast to reach {cap.threshold:.0%} of link speed by {document['date']}",
        side=FaultSide.NETWORK,
        note="forecast: " + json.dumps(document, sort_keys=True),
    )
    return stored.ticket.id


def _date_text(cap: LinkCapacity, days: float | None) -> str | None:
    when = cap.date(days)
    return when.date().isoformat() if when is not None else None


# --------------------------------------------------------------------------- the service


@dataclass(slots=True)
class _LinkState:
    detector: OnlineDetector | CadDetector | None  # None: CAD had no traffic to prime on
    cursor: int  # the next bucket to score (epoch s)
    retry_at: int = 0  # with no detector: when to try priming again (epoch s)


@dataclass(slots=True)
class TrafficService:
    """Runs refits and anomaly passes against storage; see the module docstring."""

    settings: Settings
    sessions: Callable[[], Session]
    tickets: TicketService | None = None
    _latest: TrafficResults = field(default_factory=TrafficResults)
    _links: dict[str, _LinkState] = field(default_factory=dict)
    _expected: dict[str, tuple[SeriesForecast, ...]] = field(default_factory=dict)
    _standing: dict[str, WebhookAlert] = field(default_factory=dict)  # capacity and trends

    @property
    def latest(self) -> TrafficResults:
        """Newest refit results."""
        return self._latest

    # -- refit --------------------------------------------------------------------------------
    def refit_sync(self, now: int) -> TrafficResults:
        """One refit over every uplink and district; stores alerts/tickets, keeps results."""
        cfg = self.settings.traffic
        end = now // STEP_S * STEP_S
        start = end - cfg.history_days * 86_400
        with self.sessions() as session:
            links = traffic_repo.uplinks(session)
            devices = traffic_repo.devices(session)
            watermark = traffic_repo.rollup_watermark(session)
        if watermark is not None:
            end = min(end, watermark // STEP_S * STEP_S)
        forecasts: list[SeriesForecast] = []
        backcasts: dict[str, SeriesForecast] = {}
        capacity: list[LinkCapacity] = []
        edges = {x.key for members in edge_links(links).values() for x in members}
        district_down: dict[str, list[FloatArray]] = defaultdict(list)
        district_up: dict[str, list[FloatArray]] = defaultdict(list)
        rows_now: list[pd.DataFrame] = []
        rows_base: list[pd.DataFrame] = []
        for i in range(0, len(links), _LINK_CHUNK):
            chunk = links[i : i + _LINK_CHUNK]
            ids = [x.device_id for x in chunk]
            with self.sessions() as session:
                rates = traffic_repo.link_rates(
                    session, ids, since=start, until=end, metrics=("in_bps", "out_bps")
                )
                speeds_polled = traffic_repo.link_rates(
                    session, ids, since=end - 86_400, until=end, metrics=("speed_bps",)
                )
            arrays = _arrays(rates, chunk, start, end)
            speeds = _speeds(chunk, speeds_polled)
            for link in chunk:
                down, up = arrays[link.key]
                load = np.fmax(down, up)
                ahead, back = _forecasts(
                    load,
                    scope="link",
                    key=link.key,
                    district=link.district,
                    device=link.device,
                    link=link.entity,
                    origin=end,
                    backcast=cfg.anomaly_warmup_samples,
                )
                forecasts += ahead
                if back is not None:
                    backcasts[link.key] = back
                capacity.append(
                    link_capacity(
                        link,
                        load,
                        speed_bps=speeds[link.key],
                        threshold=cfg.capacity_threshold,
                        min_history_days=cfg.min_history_days,
                        origin=end,
                    )
                )
                if link.key in edges:
                    district_down[link.district].append(down)
                    district_up[link.district].append(up)
            rows_now.append(busy_rows(arrays, speeds))
            rows_base.append(busy_rows(arrays, speeds, offset_days=7))
        for district in sorted(district_down):
            load = np.fmax(_nansum(district_down[district]), _nansum(district_up[district]))
            forecasts += _forecasts(
                load,
                scope="district",
                key=district,
                district=district,
                device=None,
                link=None,
                origin=end,
            )[0]
        frame_now = pd.concat(rows_now, ignore_index=True) if rows_now else busy_rows({}, {})
        frame_base = pd.concat(rows_base, ignore_index=True) if rows_base else None
        flow = flow_view(frame_now, links, devices, top_n=cfg.top_n, baseline=frame_base)
        trends = self._trends(now)
        results = TrafficResults(
            computed_at=now,
            origin=end,
            forecasts=tuple(forecasts),
            capacity=tuple(capacity),
            flow=flow,
            trends=trends,
        )
        # Newest first: the forward forecast (7 d, else 24 h), then the in-sample band.
        expected: dict[str, list[SeriesForecast]] = defaultdict(list)
        for f in sorted(forecasts, key=lambda f: -HORIZONS[f.horizon]):
            if f.scope == "link":
                expected[f.key].append(f)
        for key, back in backcasts.items():
            expected[key].append(back)
        self._expected = {key: tuple(fs) for key, fs in expected.items()}
        self._publish_standing(results, now)
        self._latest = results
        dated = sum(1 for c in capacity if c.days is not None)
        _logger.info(
            "traffic refit: %d links, %d forecasts, %d exhaustion dates",
            len(links),
            len(forecasts),
            dated,
        )
        return results

    def _trends(self, now: int) -> tuple[DistrictTrend, ...]:
        cfg = self.settings.traffic
        today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        first = today - timedelta(days=cfg.trend_days)
        with self.sessions() as session:
            counts = traffic_repo.daily_ticket_counts(
                session, since=first, until=today, kinds=_TICKET_KINDS
            )
        if counts.empty:
            return ()
        days = pd.date_range(first, today - timedelta(days=1), freq="D").date
        out = []
        for district, group in counts.groupby("district"):
            series = group.set_index("day")["count"].reindex(days, fill_value=0)
            values = series.to_numpy(dtype=np.float64)
            warnings = detect_rate_increase(values, cfg.trend())
            recent = [w for w in warnings if w.day >= len(values) - 7]
            newest = recent[-1] if recent else None
            out.append(
                DistrictTrend(
                    district=str(district),
                    days=len(values),
                    baseline_rate=newest.baseline_rate if newest else None,
                    recent_rate=float(np.mean(values[-7:])),
                    warning_day=str(days[newest.day]) if newest else None,
                )
            )
        return tuple(out)

    def _publish_standing(self, results: TrafficResults, now: int) -> None:
        """Capacity and trend alerts: fire the ones that hold, resolve the rest, tickets."""
        cfg = self.settings.traffic
        at = datetime.fromtimestamp(now, UTC)
        standing: dict[str, WebhookAlert] = {}
        within = [
            c
            for c in results.capacity
            if c.days is not None and c.days <= cfg.capacity_horizon_days
        ]
        for cap in within:
            fp = _fingerprint("capacity", cap.key)
            f = cap.forecast
            assert f is not None and f.days is not None
            previous = self._standing.get(fp)
            standing[fp] = WebhookAlert(
                fingerprint=fp,
                status=AlertStatus.FIRING,
                labels={
                    "alertname": "traffic_capacity_exhaustion",
                    "severity": "warning",
                    "district": cap.district,
                    "device": cap.device,
                    "link": cap.link,
                },
                annotations={
                    "summary": f"{cap.key} forecast to reach {cap.threshold:.0%} of link speed "
                    f"in {f.days:.0f} days ({_date_text(cap, f.days)})",
                    "exhaustion_date": _date_text(cap, f.days) or "",
                    "exhaustion_date_low": _date_text(cap, f.days_low) or "",
                    "exhaustion_date_high": _date_text(cap, f.days_high) or "",
                    "lead_time_days": f"{f.days:.1f}",
                    "utilisation": f"{f.utilisation:.3f}",
                },
                starts_at=previous.starts_at if previous is not None else at,
                ends_at=None,
                receiver=RECEIVER,
            )
        for trend in results.trends:
            if trend.warning_day is None:
                continue
            fp = _fingerprint("trend", trend.district, trend.warning_day)
            previous = self._standing.get(fp)
            standing[fp] = WebhookAlert(
                fingerprint=fp,
                status=AlertStatus.FIRING,
                labels={
                    "alertname": "fault_trend_rising",
                    "severity": "warning",
                    "district": trend.district,
                },
                annotations={
                    "summary": f"fault/complaint tickets rising in {trend.district}: "
                    f"{trend.recent_rate:.1f}/day against {trend.baseline_rate or 0:.1f}/day",
                    "warning_day": trend.warning_day,
                },
                starts_at=previous.starts_at if previous is not None else at,
                ends_at=None,
                receiver=RECEIVER,
            )
        gone = [
            WebhookAlert(
                fingerprint=a.fingerprint,
                status=AlertStatus.RESOLVED,
                labels=a.labels,
                annotations=a.annotations,
                starts_at=a.starts_at,
                ends_at=at,
                receiver=RECEIVER,
            )
            for fp, a in self._standing.items()
            if fp not in standing
        ]
        with self.sessions() as session:
            alert_repo.store_webhook_alerts(session, [*standing.values(), *gone], now=at)
            session.commit()
        self._standing = standing
        if self.tickets is not None and cfg.capacity_tickets:
            for cap in within:
                self._ticket(cap, at)

    def _ticket(self, cap: LinkCapacity, at: datetime) -> None:
        assert self.tickets is not None
        try:
            with self.sessions() as session:
                opened = open_capacity_ticket(session, self.tickets, cap, now=at)
        except Exception as exc:  # noqa: BLE001 - per-ticket stability point: one refused
            # ticket (workflow validation, a lost race) must not stop the others or the refit.
            _logger.error("capacity ticket for %s not opened: %s", cap.key, exc)
            return
        if opened is not None:
            _logger.info("capacity ticket %s opened for %s", opened, cap.key)

    # -- anomaly pass -------------------------------------------------------------------------
    def anomaly_sync(self, now: int) -> list[AnomalyRecord]:
        """Score the 5-minute buckets that became final since the last pass; raise alerts."""
        cfg = self.settings.traffic
        cad = cfg.anomaly_detector == "cad"
        if not cad and cfg.anomaly_use_forecast and self._latest.computed_at is None:
            # Scored against forecast bands: wait for the first refit rather than prime the
            # detectors against a different reference (their surprise would be miscalibrated).
            return []
        end = now // STEP_S * STEP_S
        with self.sessions() as session:
            links = traffic_repo.uplinks(session)
            watermark = traffic_repo.rollup_watermark(session)
        if watermark is not None:
            end = min(end, watermark // STEP_S * STEP_S)
        warmup = cfg.anomaly_cad_warmup_samples if cad else cfg.anomaly_warmup_samples
        warm_start = end - warmup * STEP_S
        events: list[AnomalyRecord] = []
        for i in range(0, len(links), _LINK_CHUNK):
            chunk = links[i : i + _LINK_CHUNK]
            for x in chunk:  # an idle link (no detector) is primed again once a day
                idle = self._links.get(x.key)
                if idle is not None and idle.detector is None and now >= idle.retry_at:
                    del self._links[x.key]
            since = min(
                (self._links[x.key].cursor if x.key in self._links else warm_start) for x in chunk
            )
            if since >= end:
                continue
            with self.sessions() as session:
                rates = traffic_repo.link_rates(
                    session,
                    [x.device_id for x in chunk],
                    since=since,
                    until=end,
                    metrics=("in_bps", "out_bps"),
                )
            arrays = _arrays(rates, chunk, since, end)
            for link in chunk:
                down, up = arrays[link.key]
                events += self._score(link, np.fmax(down, up), since, now)
        with self.sessions() as session:
            for record in events:
                traffic_repo.add_anomaly(session, record)
            self._maintain_alerts(session, now)
            session.commit()
        for record in events:
            _logger.warning(
                "traffic anomaly on %s: %s (score %.2f)", record.link, record.kind, record.score
            )
        return events

    def _score(
        self, link: LinkRecord, load: FloatArray, since: int, now: int
    ) -> list[AnomalyRecord]:
        cfg = self.settings.traffic
        state = self._links.get(link.key)
        priming = state is None
        if state is None:
            detector = self._new_detector(load)
            # No traffic in the priming week (CAD needs its peak): idle until a daily retry,
            # so a chunk holding an idle link is not read back a week on every pass.
            state = _LinkState(detector=detector, cursor=since, retry_at=now + 86_400)
            self._links[link.key] = state
        first = (state.cursor - since) // STEP_S
        out: list[AnomalyRecord] = []
        if state.detector is None:
            pass  # idle link: nothing to score until the daily retry primes a detector
        elif isinstance(state.detector, CadDetector):
            for j in range(max(0, first), len(load)):
                _, event = state.detector.update(float(load[j]))
                if event is not None and not priming:
                    out.append(self._record(link, event, since + j * STEP_S, now))
        else:
            expected = self._expected.get(link.key, ()) if cfg.anomaly_use_forecast else ()
            for j in range(max(0, first), len(load)):
                bucket = since + j * STEP_S
                e, s = _band(expected, bucket)
                _, event = state.detector.update(float(load[j]), e, s)
                if event is not None and not priming:
                    out.append(self._record(link, event, bucket, now))
        state.cursor = since + len(load) * STEP_S
        return out

    def _new_detector(self, priming: FloatArray) -> OnlineDetector | CadDetector | None:
        """A link's detector; CAD's value range is 0 .. the peak load of its priming week.

        NAB hands CAD OSE each file's min..max. A load is a rate: 0 is its a-priori floor
        and "no traffic" is the outage to catch, so the floor is 0 (with the observed
        minimum as floor, a night trough and a dead link fall in the same bottom level). The
        ceiling is the observed peak, not the link speed: three bits over 0..speed would put
        a link that peaks at 40 % of its speed into three levels. Later loads above the peak
        are clamped to the top level. None while the week holds no traffic (retried daily).
        """
        cfg = self.settings.traffic
        if cfg.anomaly_detector != "cad":
            return OnlineDetector(cfg.detector())
        finite = priming[np.isfinite(priming)]
        if len(finite) == 0 or not float(finite.max()) > 0.0:
            return None
        return CadDetector(cfg.cad(min(0.0, float(finite.min())), float(finite.max())))

    def _record(
        self, link: LinkRecord, event: AnomalyEvent, bucket: int, now: int
    ) -> AnomalyRecord:
        return AnomalyRecord(
            fingerprint=_fingerprint("anomaly", link.key, bucket),
            link=link.key,
            device=link.device,
            district=link.district,
            kind=event.kind.value,
            score=float(event.score),
            deviation=float(event.deviation) if math.isfinite(event.deviation) else 0.0,
            sample_ts=bucket,
            detected_at=now,
        )

    def _maintain_alerts(self, session: Session, now: int) -> None:
        """Re-send standing and open anomaly alerts, resolve expired ones, fill lead times."""
        cfg = self.settings.traffic
        at = datetime.fromtimestamp(now, UTC)
        window = timedelta(seconds=cfg.lead_window_s)
        for record in traffic_repo.without_lead_time(session, since=now - 2 * cfg.lead_window_s):
            detected = datetime.fromtimestamp(record.detected_at, UTC)
            onset = datetime.fromtimestamp(record.sample_ts, UTC)
            found = traffic_repo.first_rule_alert_after(
                session, record.device, after=onset - window, until=detected + window
            )
            if found is not None:
                key, started = found
                lead = int((started - detected).total_seconds())
                traffic_repo.set_lead_time(session, record.fingerprint, lead, key)
        session.flush()
        alerts: list[WebhookAlert] = list(self._standing.values())
        open_events = traffic_repo.open_anomalies(session)
        leads = {
            r.fingerprint: r.lead_time_s
            for r in traffic_repo.list_anomalies(
                session, since=now - 2 * cfg.lead_window_s, limit=10_000
            )
        }
        for record in open_events:
            expired = now - record.detected_at >= cfg.anomaly_hold_s
            alerts.append(_anomaly_alert(record, cfg.anomaly_severity.value, leads, at, expired))
            if expired:
                traffic_repo.resolve_anomaly(session, record.fingerprint, now)
        alert_repo.store_webhook_alerts(session, alerts, now=at)

    async def refit_once(self, now: int) -> None:
        """Scheduler entry: one refit off the event loop."""
        await asyncio.to_thread(self.refit_sync, now)

    async def anomaly_once(self, now: int) -> None:
        """Scheduler entry: one anomaly pass off the event loop."""
        await asyncio.to_thread(self.anomaly_sync, now)


def _band(forecasts: Sequence[SeriesForecast], bucket: int) -> tuple[float | None, float | None]:
    """Expected value and robust spread of ``bucket`` from the first band covering it."""
    for f in forecasts:
        i = (bucket - f.origin) // f.step_s
        if i < 0 or i >= len(f.mean):
            continue
        spread = (f.upper[i] - f.lower[i]) / _Z90_WIDTH
        if math.isfinite(f.mean[i]) and spread > 0:
            return f.mean[i], spread
        return None, None
    return None, None


def _anomaly_alert(
    record: AnomalyRecord,
    severity: str,
    leads: Mapping[str, int | None],
    at: datetime,
    resolved: bool,
) -> WebhookAlert:
    annotations = {
        "summary": f"traffic {record.kind} on {record.link} (score {record.score:.2f}, "
        f"z {record.deviation:+.1f})",
        "onset_at": _iso(record.sample_ts),
        "detected_at": _iso(record.detected_at),
        "detection_delay_s": str(record.detected_at - record.sample_ts),
    }
    lead = leads.get(record.fingerprint)
    if lead is not None:
        annotations["lead_time_s"] = str(lead)
    return WebhookAlert(
        fingerprint=record.fingerprint,
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        labels={
            "alertname": "traffic_anomaly",
            "severity": severity,
            "district": record.district,
            "device": record.device,
            "link": record.link.rsplit("/", 1)[-1],
            "kind": record.kind,
        },
        annotations=annotations,
        starts_at=datetime.fromtimestamp(record.sample_ts, UTC),
        ends_at=at if resolved else None,
        receiver=RECEIVER,
    )


def _speeds(links: Iterable[LinkRecord], polled: pd.DataFrame) -> dict[str, float | None]:
    """Inventory speed, else the newest polled ``speed_bps`` of the last day."""
    newest: dict[tuple[int, str], float] = {}
    if len(polled):
        last = polled.sort_values("bucket").groupby(["device_id", "entity"])["value"].last()
        for index, v in last.items():
            d, e = cast(tuple[int, str], index)
            newest[(int(d), str(e))] = float(v)
    return {
        x.key: x.speed_bps if x.speed_bps else newest.get((x.device_id, x.entity)) for x in links
    }
