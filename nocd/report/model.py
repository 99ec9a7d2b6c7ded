"""The SLA report as data: frozen dataclasses, and the pure builder from gathered frames.

    inputs = gather.gather(session, settings, day=date(2024, 6, 30), kind="month", now=…)
    report = build_report(inputs)          # pure: numbers from kpi/ functions, no I/O
    report.to_dict()                       # the JSON document (schema in docs/report.md)

Every table is a tuple of row dataclasses; the JSON, CSV and HTML renderers all read the
same rows, so the three formats carry the same numbers. ``district == "*"`` is the whole
network. Floats are rounded to 9 decimals so that golden files are byte-stable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from kpi import kqi as kq
from kpi.intervals import State, TimeWindow, overlay, state_seconds
from kpi.traffic import capacity_exhaustion

__all__ = [
    "ALL",
    "SCHEMA",
    "TABLES",
    "CapacityRow",
    "ChangeRow",
    "KqiRow",
    "OutageRow",
    "Report",
    "ReportInputs",
    "SlaRow",
    "StabilityRow",
    "TicketRow",
    "TrendRow",
    "WorstDslamRow",
    "WorstLineRow",
    "WorstPortRow",
    "build_report",
    "table_columns",
]

SCHEMA: Final = "nocd.report/1"
ALL: Final = kq.ALL
TOP_N: Final = 10
CAPACITY_HORIZON_DAYS: Final = 90.0
CAPACITY_THRESHOLD: Final = 0.8  # busy-hour p95 ÷ link speed counted as exhausted
STABILITY_CLASSES: Final = ("stable", "errored", "marginal", "unstable")


def _num(value: object) -> float | None:
    """A JSON-safe float: None for missing, NaN and ±inf; rounded to 9 decimals."""
    if value is None or value is pd.NA:
        return None
    x = float(value)  # type: ignore[arg-type]
    if not math.isfinite(x):
        return None
    return round(x, 9) + 0.0  # + 0.0: no "-0.0" in golden files


def _lookup(frame: pd.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    """``{key value: row as dict}`` (plain dicts keep the typing simple)."""
    return {r[key]: {str(k): v for k, v in r.items()} for r in frame.to_dict("records")}


def _int(value: object) -> int | None:
    if value is None or value is pd.NA:
        return None
    x = float(value)  # type: ignore[arg-type]
    return None if not math.isfinite(x) else round(x)


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaRow:
    """One SLA target for one district (``*`` = network) in the report period."""

    district: str
    target: str
    kqi: str
    sla_class: str
    scope: str  # internal | external
    objective: float | None
    sli: float | None
    status: str  # met | at_risk | breached
    error_budget_total: float | None
    error_budget_used: float | None
    error_budget_remaining: float | None
    error_budget_remaining_ratio: float | None
    burn_rate: float | None
    entities: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class KqiRow:
    """One KQI of the period for a district × SLA class (``*`` = all), as counts and value."""

    district: str
    sla_class: str
    kqi: str
    numerator: float | None
    denominator: float | None
    value: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendRow:
    """One day of the 30-day trend for one district (``*`` = network)."""

    date: str
    district: str
    line_availability: float | None
    customer_minutes_lost: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutageRow:
    """A device down interval overlapping the period; seconds are those inside the period."""

    device: str
    district: str
    start: str  # ISO 8601, report time zone
    end: str | None  # None: still down at the end of the report data
    duration_s: int  # down seconds inside the period, maintenance included
    maintenance_s: int  # of which inside a maintenance window (owed to nobody)
    cause: str
    lines: int
    customer_minutes_lost: float | None  # lines × (duration − maintenance) ÷ 60


@dataclass(frozen=True, slots=True, kw_only=True)
class WorstDslamRow:
    """A DSLAM ranked by the customer-minutes its lines lost."""

    rank: int
    device: str
    district: str
    lines: int
    down_s: int  # the device's own down seconds (outside maintenance)
    customer_minutes_lost: float | None  # Σ its lines' down seconds ÷ 60 (UAS included)
    availability: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorstPortRow:
    """An uplink port ranked by its congested share (5-minute intervals above 80 %)."""

    rank: int
    device: str
    port: str
    district: str
    intervals: int
    congested_intervals: int
    congestion_share: float | None
    max_utilisation: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorstLineRow:
    """A line ranked by its down seconds (UAS included)."""

    rank: int
    device: str
    ifindex: int
    district: str
    customer: str | None
    sla_class: str
    down_s: int
    unknown_s: int
    availability: float | None
    stability: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StabilityRow:
    """Lines per stability class (latest per-line scores) for a district (``*`` = network)."""

    district: str
    stable: int
    errored: int
    marginal: int
    unstable: int
    unscored: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRow:
    """Ticket figures of the period for a district (``*`` = network)."""

    district: str
    opened_faults: int
    opened_installations: int
    opened_complaints: int
    resolved_faults: int
    mttr_median_s: float | None
    mttr_p80_s: float | None
    mttr_p95_s: float | None
    on_site_within_30_min: float | None
    on_site_due: int
    callback_done: float | None
    callback_due: int
    installation_within_3_days: float | None
    installation_due: int
    network_side: int
    customer_side: int
    unknown_side: int
    network_side_share: float | None
    customer_side_share: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityRow:
    """An uplink whose busy-hour p95 is forecast to cross 80 % within 90 days."""

    device: str
    port: str
    district: str
    utilisation: float | None
    growth_per_year: float | None
    days_to_exhaustion: float | None
    days_low: float | None
    days_high: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeRow:
    """One difference between this report and the same report as of the day before."""

    district: str
    kind: str  # kqi | sla_status | new_outage
    item: str
    before: str | None  # numbers as their JSON text, statuses as words
    after: str | None
    delta: float | None


TABLES: Final[dict[str, type]] = {
    "sla": SlaRow,
    "kqis": KqiRow,
    "trend": TrendRow,
    "outages": OutageRow,
    "worst_dslams": WorstDslamRow,
    "worst_ports": WorstPortRow,
    "worst_lines": WorstLineRow,
    "stability": StabilityRow,
    "tickets": TicketRow,
    "capacity": CapacityRow,
    "changes": ChangeRow,
}


def table_columns(name: str) -> list[str]:
    """The field names of a table, in order (CSV header, JSON keys)."""
    return [f.name for f in fields(TABLES[name])]


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """One SLA report: metadata, the tables, and notes on sections without a data source."""

    date: str
    period: str  # day | month
    period_start: str
    period_end: str
    evaluated_until: str
    time_zone: str
    generated_at: str
    districts: Mapping[str, str]  # id → name
    tables: Mapping[str, tuple[Any, ...]]
    notes: Mapping[str, str] = field(default_factory=dict)  # table → why it is empty

    def rows(self, table: str) -> list[dict[str, Any]]:
        """One table as plain dicts (field order kept)."""
        return [asdict(r) for r in self.tables.get(table, ())]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (``docs/report.md``)."""
        return {
            "schema": SCHEMA,
            "date": self.date,
            "period": self.period,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "evaluated_until": self.evaluated_until,
            "time_zone": self.time_zone,
            "generated_at": self.generated_at,
            "districts": dict(sorted(self.districts.items())),
            "notes": dict(sorted(self.notes.items())),
            "tables": {name: self.rows(name) for name in TABLES},
        }


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportInputs:
    """Everything the builder needs, gathered from storage (``nocd.report.gather``).

    Frames (entities are integer ids, times UTC epoch seconds):

    * ``kqis``/``slas`` and ``prev_kqis``/``prev_slas``: ``kpi_service.compute_period`` of
      the period as of the report day's end and as of the day before (``None``: no
      previous report, e.g. the first day of a month report).
    * ``lines``: ``line, dslam, device, district, ifindex, customer, sla_class``.
    * ``line_seconds``: index ``line``, a column per state (period, maintenance and UAS
      applied). ``line_stability``: ``line, stability``.
    * ``trend``: per ``date`` (ISO) the KQI rows of ``line_availability`` and
      ``customer_minutes_lost`` of that day.
    * ``devices``: ``device_id, name, district``; ``device_timeline``: device intervals
      (``entity`` = device id) from their state events up to ``evaluated_until``, not
      clipped (an outage keeps its true start); ``device_maintenance``: ``entity, start,
      end``; ``down_causes``: ``entity, ts, reason`` of down events.
    * ``uplink_util``: 5-minute ``port, utilisation_ratio`` in the period;
      ``uplinks``: ``port, device, name, district``.
    * ``uplink_daily_p95``: ``port, day, p95`` (busy-hour utilisation per day, oldest first).
    * ``tickets``: ``kpi.kqi.TICKET_COLUMNS`` plus ``side``; ``None`` when tickets have no
      storage (the section then says so).
    """

    day: date
    kind: str
    period: TimeWindow
    evaluated_until: int
    time_zone: str
    generated_at: int
    districts: Mapping[str, str]
    kqis: pd.DataFrame
    slas: pd.DataFrame
    prev_kqis: pd.DataFrame | None
    prev_slas: pd.DataFrame | None
    lines: pd.DataFrame
    line_seconds: pd.DataFrame
    line_stability: pd.DataFrame
    trend: Mapping[str, pd.DataFrame]
    devices: pd.DataFrame
    device_timeline: pd.DataFrame
    device_maintenance: pd.DataFrame
    down_causes: pd.DataFrame
    uplinks: pd.DataFrame
    uplink_util: pd.DataFrame
    uplink_daily_p95: pd.DataFrame | None
    tickets: pd.DataFrame | None
    notes: Mapping[str, str] = field(default_factory=dict)


def _iso(epoch: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, zone).isoformat()


def _district_order(districts: Sequence[str]) -> list[str]:
    return [ALL, *sorted(d for d in districts if d != ALL)]


# --------------------------------------------------------------------------- sections


def sla_rows(slas: pd.DataFrame) -> tuple[SlaRow, ...]:
    """SLA evaluations, network first then districts, by target."""
    if slas.empty:
        return ()
    order = {d: i for i, d in enumerate(_district_order(slas["district"].unique().tolist()))}
    s = slas.assign(_o=slas["district"].map(order)).sort_values(["_o", "target"], kind="stable")
    return tuple(
        SlaRow(
            district=str(r.district),
            target=str(r.target),
            kqi=str(r.kqi),
            sla_class=str(r.sla_class),
            scope=str(r.scope),
            objective=_num(r.objective),
            sli=_num(r.sli),
            status=str(r.status),
            error_budget_total=_num(r.error_budget_total),
            error_budget_used=_num(r.error_budget_used),
            error_budget_remaining=_num(r.error_budget_remaining),
            error_budget_remaining_ratio=_num(r.error_budget_remaining_ratio),
            burn_rate=_num(r.burn_rate),
            entities=_int(r.entities),
        )
        for r in s.itertuples(index=False)
    )


def kqi_rows(kqis: pd.DataFrame) -> tuple[KqiRow, ...]:
    """KQI rows, network first, then districts; ``*`` class first within each."""
    if kqis.empty:
        return ()
    order = {d: i for i, d in enumerate(_district_order(kqis["district"].unique().tolist()))}
    k = kqis.assign(
        _o=kqis["district"].map(order), _c=(kqis["sla_class"] != ALL).astype(np.int64)
    ).sort_values(["_o", "_c", "sla_class", "kqi"], kind="stable")
    return tuple(
        KqiRow(
            district=str(r.district),
            sla_class=str(r.sla_class),
            kqi=str(r.kqi),
            numerator=_num(r.numerator),
            denominator=_num(r.denominator),
            value=_num(r.value),
        )
        for r in k.itertuples(index=False)
    )


def trend_rows(trend: Mapping[str, pd.DataFrame], districts: Sequence[str]) -> tuple[TrendRow, ...]:
    """Per district (network first) and day: availability and customer-minutes lost."""
    out: list[TrendRow] = []
    for district in _district_order(districts):
        for day in sorted(trend):
            k = trend[day]
            k = k.loc[(k["district"] == district) & (k["sla_class"] == ALL)]
            value = dict(zip(k["kqi"], k["value"], strict=True))
            out.append(
                TrendRow(
                    date=day,
                    district=district,
                    line_availability=_num(value.get("line_availability_ratio")),
                    customer_minutes_lost=_num(value.get("customer_minutes_lost")),
                )
            )
    return tuple(out)


def outage_rows(inputs: ReportInputs, zone: ZoneInfo) -> tuple[OutageRow, ...]:
    """Device down intervals in the period with maintenance overlap and customer-minutes.

    Maintenance is intersected with the outage (``kpi.intervals.overlay``), never
    subtracted: only the part of the outage inside a window is owed to nobody.
    """
    tl = inputs.device_timeline
    down = tl.loc[tl["state"] == State.DOWN.value].reset_index(drop=True)
    # Clip to the period (an outage from last month counts only its part in this one).
    clipped_start = down["start"].to_numpy(dtype=np.int64).clip(min=inputs.period.start)
    clipped_end = down["end"].to_numpy(dtype=np.int64).clip(max=inputs.evaluated_until)
    keep = clipped_end > clipped_start
    down = down.loc[keep].reset_index(drop=True)
    clipped_start, clipped_end = clipped_start[keep], clipped_end[keep]
    if down.empty:
        return ()
    # One pseudo-entity per outage, so that the seconds come out per outage.
    per_outage = pd.DataFrame(
        {
            "entity": np.arange(len(down), dtype=np.int64),
            "start": clipped_start,
            "end": clipped_end,
            "state": State.DOWN.value,
        }
    )
    maint = inputs.device_maintenance
    if len(maint):
        windows = down.reset_index().rename(columns={"index": "outage"})
        windows = windows.loc[:, ["outage", "entity"]].merge(maint, on="entity")
        windows = windows.loc[:, ["outage", "start", "end"]].rename(columns={"outage": "entity"})
        per_outage = overlay(per_outage, windows, state=State.MAINTENANCE)
    seconds = state_seconds(per_outage).reindex(range(len(down)), fill_value=0)
    names = _lookup(inputs.devices, "device_id")
    lines_per = inputs.lines.groupby("dslam").size().to_dict()
    causes = {
        (int(e), int(t)): str(r)
        for e, t, r in zip(
            inputs.down_causes["entity"],
            inputs.down_causes["ts"],
            inputs.down_causes["reason"],
            strict=True,
        )
    }
    rows = []
    maint_column = seconds[State.MAINTENANCE.value].to_numpy(dtype=np.int64)
    for i, r in enumerate(down.to_dict("records")):
        device = int(r["entity"])
        start, end = int(r["start"]), int(r["end"])
        maint_s = int(maint_column[i])
        dur = int(clipped_end[i] - clipped_start[i])
        n_lines = int(lines_per.get(device, 0))
        ongoing = end >= inputs.evaluated_until
        rows.append(
            OutageRow(
                device=str(names[device]["name"]),
                district=str(names[device]["district"]),
                start=_iso(start, zone),
                end=None if ongoing else _iso(end, zone),
                duration_s=dur,
                maintenance_s=maint_s,
                cause=causes.get((device, start), ""),
                lines=n_lines,
                customer_minutes_lost=_num(n_lines * (dur - maint_s) / 60),
            )
        )
    rows.sort(key=lambda o: (o.start, o.device))
    return tuple(rows)


def _availability(sec: pd.DataFrame) -> pd.Series:
    scheduled = sec[State.UP.value] + sec[State.DOWN.value] + sec[State.UNKNOWN.value]
    return (scheduled - sec[State.DOWN.value]) / scheduled.where(scheduled > 0)


def worst_dslam_rows(
    inputs: ReportInputs, outages: Sequence[OutageRow]
) -> tuple[WorstDslamRow, ...]:
    """DSLAMs by Σ line down seconds (the customer-minutes KQI), then device down time."""
    lines = inputs.lines
    sec = inputs.line_seconds.reindex(lines["line"]).fillna(0)
    sec.index = lines["dslam"].to_numpy()
    per = sec.groupby(level=0).sum()
    own_down: dict[str, int] = {}
    for o in outages:
        own_down[o.device] = own_down.get(o.device, 0) + o.duration_s - o.maintenance_s
    names = _lookup(inputs.devices, "device_id")
    counts = lines.groupby("dslam").size().to_dict()
    rows = []
    for dslam, s in per.iterrows():
        name = str(names[dslam]["name"])
        down_min = float(s[State.DOWN.value]) / 60
        if down_min <= 0 and own_down.get(name, 0) <= 0:
            continue
        scheduled = s[State.UP.value] + s[State.DOWN.value] + s[State.UNKNOWN.value]
        rows.append(
            (
                -down_min,
                name,
                str(names[dslam]["district"]),
                int(counts.get(dslam, 0)),
                own_down.get(name, 0),
                down_min,
                (scheduled - s[State.DOWN.value]) / scheduled if scheduled > 0 else None,
            )
        )
    rows.sort(key=lambda r: (r[0], -r[4], r[1]))
    return tuple(
        WorstDslamRow(
            rank=i + 1,
            device=r[1],
            district=r[2],
            lines=r[3],
            down_s=r[4],
            customer_minutes_lost=_num(r[5]),
            availability=_num(r[6]),
        )
        for i, r in enumerate(rows[:TOP_N])
    )


def worst_port_rows(inputs: ReportInputs) -> tuple[WorstPortRow, ...]:
    """Uplinks by congested share, then peak utilisation (``kpi.port.congestion``)."""
    from kpi.port import congestion  # local: only this section needs it

    util = inputs.uplink_util
    if util.empty:
        return ()
    cong = congestion(util)
    peak = util.groupby("port")["utilisation_ratio"].max()
    ports = _lookup(inputs.uplinks, "port")
    ranked = cong.assign(peak=peak).reset_index()
    ranked = ranked.loc[ranked["intervals"] > 0]
    ranked = ranked.assign(name=ranked["port"].map(lambda p: str(ports[p]["device"])))
    ranked = ranked.sort_values(
        ["congestion_share", "peak", "name"], ascending=[False, False, True], kind="stable"
    )
    return tuple(
        WorstPortRow(
            rank=i + 1,
            device=str(ports[r.port]["device"]),
            port=str(ports[r.port]["name"]),
            district=str(ports[r.port]["district"]),
            intervals=_int(r.intervals) or 0,
            congested_intervals=_int(r.congested_intervals) or 0,
            congestion_share=_num(r.congestion_share),
            max_utilisation=_num(r.peak),
        )
        for i, r in enumerate(ranked.head(TOP_N).itertuples(index=False))
    )


def worst_line_rows(inputs: ReportInputs) -> tuple[WorstLineRow, ...]:
    """Lines with downtime, by down seconds then unknown seconds."""
    sec = inputs.line_seconds
    if sec.empty:
        return ()
    lines = inputs.lines.set_index("line")
    stab = inputs.line_stability.set_index("line")["stability"]
    f = sec.join(lines, how="inner")
    f = f.loc[f[State.DOWN.value] > 0]
    f = f.assign(availability=_availability(f))
    f = f.sort_values(
        [State.DOWN.value, State.UNKNOWN.value, "device", "ifindex"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    rows = []
    for i, (line, r) in enumerate(f.head(TOP_N).iterrows()):
        stability = stab.get(line)
        rows.append(
            WorstLineRow(
                rank=i + 1,
                device=str(r["device"]),
                ifindex=int(r["ifindex"]),
                district=str(r["district"]),
                customer=None if pd.isna(r["customer"]) else str(r["customer"]),
                sla_class=str(r["sla_class"]),
                down_s=int(r[State.DOWN.value]),
                unknown_s=int(r[State.UNKNOWN.value]),
                availability=_num(r["availability"]),
                stability=None if stability is None or pd.isna(stability) else str(stability),
            )
        )
    return tuple(rows)


def stability_rows(inputs: ReportInputs, districts: Sequence[str]) -> tuple[StabilityRow, ...]:
    """Lines per stability class; lines without a score count as ``unscored``."""
    f = inputs.lines.loc[:, ["line", "district"]].merge(
        inputs.line_stability, on="line", how="left"
    )
    f["stability"] = f["stability"].where(f["stability"].isin(STABILITY_CLASSES), "unscored")
    rows = []
    for district in _district_order(districts):
        part = f if district == ALL else f.loc[f["district"] == district]
        counts = part["stability"].value_counts()
        rows.append(
            StabilityRow(
                district=district,
                **{c: int(counts.get(c, 0)) for c in (*STABILITY_CLASSES, "unscored")},
            )
        )
    return tuple(rows)


def _kqi_lookup(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
    f = frame.loc[frame["sla_class"] == ALL]
    return {
        (str(k), str(d)): (n, den, v)
        for k, d, n, den, v in zip(
            f["kqi"], f["district"], f["numerator"], f["denominator"], f["value"], strict=True
        )
    }


def ticket_rows(inputs: ReportInputs, districts: Sequence[str]) -> tuple[TicketRow, ...]:
    """Volumes, MTTR quantiles, on-site/callback/installation ratios and fault sides."""
    t = inputs.tickets
    if t is None:
        return ()
    period, now = inputs.period, inputs.evaluated_until
    window = TimeWindow(start=period.start, end=now)
    frames = [
        kq.repair_time_quantiles(t, window),
        kq.on_site_within_30_min_ratio(t, window, now=now),
        kq.callback_done_ratio(t, window, now=now),
        kq.installation_within_3_days_ratio(t, window, now=now),
    ]
    k = _kqi_lookup(pd.concat(frames, ignore_index=True)) if len(t) else {}
    opened_at = t["opened_at"].astype("float64")
    opened = t.loc[(opened_at >= window.start) & (opened_at < window.end)]
    resolved_at = t["resolved_at"].astype("float64")
    resolved = t.loc[(resolved_at >= window.start) & (resolved_at < window.end)]

    def ratio(kqi: str, district: str) -> tuple[float | None, int]:
        _, den, v = k.get((kqi, district), (None, 0, None))
        return _num(v), _int(den) or 0

    rows = []
    for district in _district_order(districts):
        o = opened if district == ALL else opened.loc[opened["district"] == district]
        r = resolved if district == ALL else resolved.loc[resolved["district"] == district]
        faults = o.loc[o["kind"] == "fault"]
        sides = faults["side"].fillna("unknown").value_counts()
        net, cust = int(sides.get("network", 0)), int(sides.get("customer_side", 0))
        unknown = len(faults) - net - cust
        on_site, on_site_due = ratio("on_site_within_30_min_ratio", district)
        callback, callback_due = ratio("callback_done_ratio", district)
        install, install_due = ratio("installation_within_3_days_ratio", district)
        rows.append(
            TicketRow(
                district=district,
                opened_faults=len(faults),
                opened_installations=int((o["kind"] == "installation").sum()),
                opened_complaints=int((o["kind"] == "complaint").sum()),
                resolved_faults=int((r["kind"] == "fault").sum()),
                mttr_median_s=ratio("repair_time_median_seconds", district)[0],
                mttr_p80_s=ratio("repair_time_p80_seconds", district)[0],
                mttr_p95_s=ratio("repair_time_p95_seconds", district)[0],
                on_site_within_30_min=on_site,
                on_site_due=on_site_due,
                callback_done=callback,
                callback_due=callback_due,
                installation_within_3_days=install,
                installation_due=install_due,
                network_side=net,
                customer_side=cust,
                unknown_side=unknown,
                network_side_share=_num(net / len(faults)) if len(faults) else None,
                customer_side_share=_num(cust / len(faults)) if len(faults) else None,
            )
        )
    return tuple(rows)


def capacity_rows(inputs: ReportInputs) -> tuple[CapacityRow, ...]:
    """Uplinks whose busy-hour p95 trend crosses 80 % within 90 days (``kpi.traffic``)."""
    daily = inputs.uplink_daily_p95
    if daily is None or daily.empty:
        return ()
    ports = _lookup(inputs.uplinks, "port")
    rows = []
    for port, part in daily.sort_values(["port", "day"]).groupby("port", sort=True):
        forecast = capacity_exhaustion(
            part["p95"].to_numpy(dtype=np.float64), link_speed=1.0, threshold=CAPACITY_THRESHOLD
        )
        if forecast.days is None or forecast.days > CAPACITY_HORIZON_DAYS:
            continue
        rows.append(
            CapacityRow(
                device=str(ports[port]["device"]),
                port=str(ports[port]["name"]),
                district=str(ports[port]["district"]),
                utilisation=_num(forecast.utilisation),
                growth_per_year=_num(forecast.growth_per_year),
                days_to_exhaustion=_num(round(forecast.days, 1)),
                days_low=_num(None if forecast.days_low is None else round(forecast.days_low, 1)),
                days_high=_num(
                    None if forecast.days_high is None else round(forecast.days_high, 1)
                ),
            )
        )
    rows.sort(key=lambda c: (c.days_to_exhaustion or 0.0, c.device, c.port))
    return tuple(rows)


def _text(value: object) -> str | None:
    n = _num(value)
    return None if n is None else repr(n)


def change_rows(inputs: ReportInputs, outages: Sequence[OutageRow]) -> tuple[ChangeRow, ...]:
    """KQI values and SLA statuses that differ from the day before, and outages started today."""
    rows: list[ChangeRow] = []
    if inputs.prev_kqis is not None:
        now_k, prev_k = _kqi_lookup(inputs.kqis), _kqi_lookup(inputs.prev_kqis)
        for kqi, district in sorted(set(now_k) | set(prev_k), key=lambda x: (x[1] != ALL, x[1], x)):
            after = _num(now_k.get((kqi, district), (None, None, None))[2])
            before = _num(prev_k.get((kqi, district), (None, None, None))[2])
            if after == before:
                continue
            delta = None if after is None or before is None else _num(after - before)
            rows.append(
                ChangeRow(
                    district=district,
                    kind="kqi",
                    item=kqi,
                    before=_text(before),
                    after=_text(after),
                    delta=delta,
                )
            )
    if inputs.prev_slas is not None:

        def statuses(f: pd.DataFrame) -> dict[tuple[str, str], str]:
            return {
                (str(t), str(d)): str(s)
                for t, d, s in zip(f["target"], f["district"], f["status"], strict=True)
            }

        now_s, prev_s = statuses(inputs.slas), statuses(inputs.prev_slas)
        keys = sorted(set(now_s) | set(prev_s), key=lambda x: (x[1] != ALL, x[1], x))
        for target, district in keys:
            after_s, before_s = now_s.get((target, district)), prev_s.get((target, district))
            if after_s != before_s:
                rows.append(
                    ChangeRow(
                        district=district,
                        kind="sla_status",
                        item=target,
                        before=before_s,
                        after=after_s,
                        delta=None,
                    )
                )
    zone = ZoneInfo(inputs.time_zone)
    day_start = datetime.combine(inputs.day, datetime.min.time(), zone).isoformat()
    for o in outages:
        if o.start >= day_start:
            rows.append(
                ChangeRow(
                    district=o.district,
                    kind="new_outage",
                    item=o.device,
                    before=None,
                    after=o.start,
                    delta=None,
                )
            )
    return tuple(rows)


# --------------------------------------------------------------------------- the report


def build_report(inputs: ReportInputs) -> Report:
    """The whole report from gathered inputs (pure: no I/O, no clock)."""
    zone = ZoneInfo(inputs.time_zone)
    districts = sorted(inputs.districts)
    outages = outage_rows(inputs, zone)
    notes = dict(inputs.notes)
    if inputs.tickets is None:
        notes.setdefault("tickets", "no data source yet")
    tables: dict[str, tuple[Any, ...]] = {
        "sla": sla_rows(inputs.slas),
        "kqis": kqi_rows(inputs.kqis),
        "trend": trend_rows(inputs.trend, districts),
        "outages": outages,
        "worst_dslams": worst_dslam_rows(inputs, outages),
        "worst_ports": worst_port_rows(inputs),
        "worst_lines": worst_line_rows(inputs),
        "stability": stability_rows(inputs, districts),
        "tickets": ticket_rows(inputs, districts),
        "capacity": capacity_rows(inputs),
        "changes": change_rows(inputs, outages),
    }
    return Report(
        date=inputs.day.isoformat(),
        period=inputs.kind,
        period_start=_iso(inputs.period.start, zone),
        period_end=_iso(inputs.period.end, zone),
        evaluated_until=_iso(inputs.evaluated_until, zone),
        time_zone=inputs.time_zone,
        generated_at=_iso(inputs.generated_at, zone),
        districts=dict(inputs.districts),
        tables=tables,
        notes=notes,
    )
