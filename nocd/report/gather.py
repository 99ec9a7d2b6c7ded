"""The report's I/O edge: reads storage into ``ReportInputs`` (frames), nothing else.

KQIs and SLAs come from ``nocd.kpi_service.compute_period`` (the same engine that fills
``kqi_results``/``sla_results``), so the report and ``/api/v1/sla`` never disagree; the
30-day trend runs the same timeline pipeline once over 30 days and cuts it per day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi import kqi as kq
from kpi.dsl_line import uas_adjustment
from kpi.intervals import STATES, TimeWindow, epoch_s, report_timeline, state_seconds
from kpi.intervals import timeline_from_events as _timeline
from kpi.sla import PeriodKind, ReportingPeriod
from nocd.config import Settings
from nocd.kpi_service import (
    HOUR_S,
    _maintenance_frame,
    compute_period,
    line_timeline,
    uas_bins,
)
from nocd.report.model import ReportInputs
from nocd.storage import kpi_repo, maintenance_repo
from nocd.storage.models import DeviceStateEvent, District, Port

__all__ = ["CAPACITY_HISTORY_DAYS", "TREND_DAYS", "gather", "report_window"]

TREND_DAYS: Final = 30
CAPACITY_HISTORY_DAYS: Final = 56  # 8 weeks of daily busy-hour p95 for the growth trend
DAY_S: Final = 86_400
_EMPTY_TL: Final = ("entity", "start", "end", "state")


def _midnight(day: date, zone: ZoneInfo) -> int:
    return epoch_s(datetime.combine(day, time(), zone))


def report_window(day: date, kind: str, time_zone: str) -> tuple[TimeWindow, int]:
    """The reporting period containing ``day`` and the end of ``day`` (local midnight)."""
    zone = ZoneInfo(time_zone)
    period = ReportingPeriod(kind=PeriodKind(kind), time_zone=time_zone)
    window = period.containing(_midnight(day, zone))
    return window, _midnight(day + timedelta(days=1), zone)


def _empty_timeline() -> pd.DataFrame:
    return pd.DataFrame(columns=list(_EMPTY_TL))


def _device_timeline(session: Session, start: int, until: int) -> pd.DataFrame:
    events = kpi_repo.device_events(session, start=start, end=until)
    return _timeline(events, now=until) if len(events) else _empty_timeline()


def _line_seconds(
    session: Session,
    lines: pd.DataFrame,
    devices: pd.DataFrame,
    windows: Sequence[TimeWindow],
    until: int,
) -> list[pd.DataFrame]:
    """Per-line state seconds (maintenance and UAS applied) of each window, one pass.

    The same pipeline as ``compute_period``: lines follow their DSLAM, port polls mark a
    line down, maintenance is intersected, then modem UAS is added.
    """
    start = min(w.start for w in windows)
    device_tl = _device_timeline(session, start, until)
    oper_down = kpi_repo.rollup_frame(
        session, "5m", metrics=("oper_up",), since=start, until=until, max_min=1.0
    )
    timeline = line_timeline(lines, device_tl, oper_down)
    maint = _maintenance_frame(maintenance_repo.windows_between(session, start, until), devices)
    line_maint = kq.expand_to_lines(maint, lines).astype({"start": np.int64, "end": np.int64})
    uas = uas_bins(
        lines,
        kpi_repo.rollup_frame(
            session, "1h", metrics=("uas_total",), since=start - HOUR_S, until=until
        ),
    )
    cols = [s.value for s in STATES]
    out = []
    for w in windows:
        window = TimeWindow(start=w.start, end=min(w.end, until))
        if window.seconds <= 0 or lines.empty:
            out.append(pd.DataFrame(columns=cols, dtype=np.int64).rename_axis("line"))
            continue
        tl = report_timeline(timeline, window, maintenance=line_maint, entities=lines["line"])
        seconds = state_seconds(tl)
        if len(uas):
            delta = uas_adjustment(tl, uas).reindex(index=seconds.index, fill_value=0)
            seconds[cols] = seconds[cols] + delta[cols]
        out.append(seconds.rename_axis("line"))
    return out


def _uplinks(session: Session) -> pd.DataFrame:
    """``port, device_id, entity, device, name, district``."""
    up = kpi_repo.uplink_inventory(session)
    devices = kpi_repo.device_inventory(session).set_index("device_id")["name"]
    names = dict(session.execute(select(Port.id, Port.name)).all())
    up["device"] = up["device_id"].map(devices)
    up["name"] = [
        names.get(p) or f"ifIndex {i}" for p, i in zip(up["port"], up["ifindex"], strict=True)
    ]
    return up


def _utilisation(
    session: Session, resolution: str, column: str, since: int, until: int
) -> pd.DataFrame:
    """``device_id, entity, bucket, utilisation_ratio`` = max(in, out) of ``column``."""
    util = kpi_repo.rollup_frame(
        session,
        resolution,
        metrics=("in_utilisation_ratio", "out_utilisation_ratio"),
        since=since,
        until=until,
        entity_prefix="if:",
    )
    if util.empty:
        return pd.DataFrame(columns=["device_id", "entity", "bucket", "utilisation_ratio"])
    return (
        util.pivot_table(index=["device_id", "entity", "bucket"], columns="metric", values=column)
        .max(axis=1)
        .rename("utilisation_ratio")
        .reset_index()
    )


def _daily_p95(
    session: Session, uplinks: pd.DataFrame, day: date, zone: ZoneInfo
) -> pd.DataFrame:
    """Per uplink and local day: the highest hourly p95 utilisation (busy-hour proxy).

    The traffic model's own busy hour (``kpi.traffic.busy_hour``) needs 5-minute series;
    over 8 weeks for every uplink that is ~16 000 rows per link, so the report reads the
    hourly rollups and takes the day's highest hourly p95. Missing days stay NaN.
    """
    first = day - timedelta(days=CAPACITY_HISTORY_DAYS - 1)
    since, until = _midnight(first, zone), _midnight(day + timedelta(days=1), zone)
    util = _utilisation(session, "1h", "p95", since, until)
    util = util.merge(uplinks.loc[:, ["port", "device_id", "entity"]], on=["device_id", "entity"])
    if util.empty:
        return pd.DataFrame(columns=["port", "day", "p95"])
    local = pd.to_datetime(util["bucket"], unit="s", utc=True).dt.tz_convert(zone)
    util["day"] = [(d - first).days for d in local.dt.date]
    daily = util.groupby(["port", "day"])["utilisation_ratio"].max()
    full = pd.MultiIndex.from_product(
        [sorted(util["port"].unique()), range(CAPACITY_HISTORY_DAYS)], names=["port", "day"]
    )
    return daily.reindex(full).rename("p95").reset_index()


def _down_causes(session: Session, until: int) -> pd.DataFrame:
    rows = session.execute(
        select(DeviceStateEvent.device_id, DeviceStateEvent.ts, DeviceStateEvent.reason).where(
            DeviceStateEvent.state == "down", DeviceStateEvent.ts < until
        )
    ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["entity", "ts", "reason"])


def gather(
    session: Session, settings: Settings, *, day: date, kind: str, now: int
) -> ReportInputs:
    """Everything the report of ``day`` (period ``kind``: day or month) needs, as of ``now``.

    The report covers the period up to the end of ``day`` (or ``now``, if earlier).
    """
    tz = settings.daemon.timezone
    zone = ZoneInfo(tz)
    period, day_end = report_window(day, kind, tz)
    until = min(now, day_end, period.end)
    result = compute_period(session, settings, period=period, now=until)
    # "Since yesterday": the same report as it stood at the end of the day before.
    prev_kqis = prev_slas = None
    day_start = _midnight(day, zone)
    if kind == PeriodKind.DAY.value:
        prev_period, _ = report_window(day - timedelta(days=1), kind, tz)
        prev = compute_period(session, settings, period=prev_period, now=prev_period.end)
        prev_kqis, prev_slas = prev.kqis, prev.slas
    elif day_start > period.start:
        prev = compute_period(session, settings, period=period, now=day_start)
        prev_kqis, prev_slas = prev.kqis, prev.slas

    lines = kpi_repo.line_inventory(session)
    devices = kpi_repo.device_inventory(session)
    days = [day - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    day_windows = [
        TimeWindow(start=_midnight(d, zone), end=_midnight(d + timedelta(days=1), zone))
        for d in days
    ]
    inventory = lines.loc[:, ["line", "dslam", "district", "sla_class"]]
    period_seconds, *daily = _line_seconds(session, lines, devices, [period, *day_windows], until)
    trend = {}
    for d, seconds in zip(days, daily, strict=True):
        if seconds.empty:
            trend[d.isoformat()] = pd.DataFrame(columns=list(kq.KQI_COLUMNS))
            continue
        trend[d.isoformat()] = pd.concat(
            [
                kq.line_availability(seconds, inventory),
                kq.customer_minutes_lost(seconds, inventory),
            ],
            ignore_index=True,
        )

    uplinks = _uplinks(session)
    util = _utilisation(session, "5m", "avg", period.start, until).merge(
        uplinks.loc[:, ["port", "device_id", "entity"]], on=["device_id", "entity"]
    )
    districts = dict(session.execute(select(District.id, District.name)).all())
    stability = result.lines.loc[:, ["line_id", "stability"]].rename(columns={"line_id": "line"})
    maint = _maintenance_frame(
        maintenance_repo.windows_between(session, period.start, until), devices
    )
    return ReportInputs(
        day=day,
        kind=kind,
        period=period,
        evaluated_until=until,
        time_zone=tz,
        generated_at=now,
        districts=districts,
        kqis=result.kqis,
        slas=result.slas,
        prev_kqis=prev_kqis,
        prev_slas=prev_slas,
        lines=lines,
        line_seconds=period_seconds,
        line_stability=stability,
        trend=trend,
        devices=devices,
        device_timeline=_device_timeline(session, period.start, until),
        device_maintenance=maint,
        down_causes=_down_causes(session, until),
        uplinks=uplinks,
        uplink_util=util.loc[:, ["port", "utilisation_ratio"]],
        uplink_daily_p95=_daily_p95(session, uplinks, day, zone),
        tickets=kpi_repo.ticket_frame(session, period.start),
    )
