"""KQIs per district, per SLA class, per both and network-wide, as re-aggregable counts.

Every result row carries ``numerator`` and ``denominator`` with ``value = numerator ÷
denominator``, so a week, a month or a region is computed by summing the counts of its
parts — never by averaging their ratios. Rows with ``district == ALL`` or ``sla_class ==
ALL`` are the aggregates. Percentile KQIs (repair times) do not re-aggregate: their
``numerator`` is NaN and ``denominator`` the sample size.

Inventory frames: lines ``line, dslam, district, sla_class``; uplinks ``port, district``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from kpi.definitions import KqiKey
from kpi.intervals import State, TimeWindow, overlay

__all__ = [
    "ALL",
    "INSTALLATION_DEADLINE_S",
    "KQI_COLUMNS",
    "ON_SITE_DEADLINE_S",
    "TICKET_COLUMNS",
    "callback_done_ratio",
    "customer_minutes_lost",
    "expand_to_lines",
    "fault_reports_per_100_lines",
    "installation_within_3_days_ratio",
    "line_availability",
    "on_site_within_30_min_ratio",
    "propagate_device_outages",
    "rate_attainment_ratio",
    "repair_time_quantiles",
    "stable_line_ratio",
    "uplink_busy_hour_p95",
    "uplink_congestion_share",
]

ALL: Final = "*"
KQI_COLUMNS: Final = ("kqi", "district", "sla_class", "numerator", "denominator", "value")
ON_SITE_DEADLINE_S: Final = 30 * 60
INSTALLATION_DEADLINE_S: Final = 3 * 86_400
CALLBACK_AFTER_INSTALLATION_S: Final = 7 * 86_400
TICKET_COLUMNS: Final = (
    "ticket",
    "kind",  # "fault" | "installation"
    "district",
    "sla_class",
    "opened_at",  # epoch s; the order date for installations
    "dispatched_at",  # NaN when not dispatched
    "on_site_at",
    "resolved_at",  # repair done / installation completed
    "closed_at",
    "callback_at",  # customer callback (回访) done
)


def _rows(kqi: KqiKey, parts: pd.DataFrame, *, by_class: bool = True) -> pd.DataFrame:
    """Sum ``numerator``/``denominator`` of ``parts`` per district, class, both and overall."""
    levels: list[list[str]] = [["district"], []]
    if by_class:
        levels = [["district", "sla_class"], ["district"], ["sla_class"], []]
    frames = []
    for keys in levels:
        if keys:
            g = parts.groupby(keys, sort=True)[["numerator", "denominator"]].sum().reset_index()
        else:
            g = parts[["numerator", "denominator"]].sum().to_frame().T
        for col in ("district", "sla_class"):
            if col not in keys:
                g[col] = ALL
        frames.append(g)
    out = pd.concat(frames, ignore_index=True)
    out["kqi"] = kqi.value
    num = out["numerator"].astype("float64")
    den = out["denominator"].astype("float64")
    out["value"] = num / den.where(den > 0)
    return out.loc[:, list(KQI_COLUMNS)]


def _with_inventory(
    per_line: pd.DataFrame, inventory: pd.DataFrame, key: str = "line"
) -> pd.DataFrame:
    inv = inventory.set_index(key)[["district", "sla_class"]]
    return per_line.join(inv, how="inner")


def expand_to_lines(device_windows: pd.DataFrame, inventory: pd.DataFrame) -> pd.DataFrame:
    """Per-device windows (``entity`` = DSLAM) as per-line windows for every line behind it."""
    lines = inventory.loc[:, ["line", "dslam"]].rename(columns={"dslam": "entity"})
    joined = device_windows.loc[:, ["entity", "start", "end"]].merge(lines, on="entity")
    return joined.loc[:, ["line", "start", "end"]].rename(columns={"line": "entity"})


def propagate_device_outages(
    line_timeline: pd.DataFrame, device_timeline: pd.DataFrame, inventory: pd.DataFrame
) -> pd.DataFrame:
    """Lines are down while their DSLAM is down, whatever the line itself reported.

    Apply to a gap-filled timeline (``fill_gaps``) and before maintenance, so that a line
    with no data during its DSLAM's outage is down rather than unknown, and a maintenance
    window still wins. This is what makes customer-minutes-lost weigh a DSLAM outage by
    the lines behind it.
    """
    down = device_timeline.loc[device_timeline["state"] == State.DOWN.value]
    return overlay(line_timeline, expand_to_lines(down, inventory), state=State.DOWN)


def line_availability(seconds: pd.DataFrame, inventory: pd.DataFrame) -> pd.DataFrame:
    """1 − down ÷ scheduled, scheduled = up + down + unknown (maintenance and excluded time out).

    ``seconds`` is per line (index ``line``) with state columns, e.g. from
    ``kpi.sla.scheduled_seconds`` with UAS applied. Numerator: scheduled − down.
    """
    s = _with_inventory(seconds.rename_axis("line"), inventory)
    scheduled = s[State.UP.value] + s[State.DOWN.value] + s[State.UNKNOWN.value]
    parts = s.assign(numerator=scheduled - s[State.DOWN.value], denominator=scheduled)
    return _rows(KqiKey.LINE_AVAILABILITY, parts)


def customer_minutes_lost(seconds: pd.DataFrame, inventory: pd.DataFrame) -> pd.DataFrame:
    """Σ line down minutes (numerator: down seconds; denominator: 60 per line group)."""
    s = _with_inventory(seconds.rename_axis("line"), inventory)
    parts = s.assign(numerator=s[State.DOWN.value], denominator=0)
    rows = _rows(KqiKey.CUSTOMER_MINUTES_LOST, parts)
    rows["denominator"] = 60
    rows["value"] = rows["numerator"] / 60
    return rows


def stable_line_ratio(scores: pd.DataFrame, inventory: pd.DataFrame) -> pd.DataFrame:
    """Lines classed stable ÷ lines scored (``kpi.dsl_line.line_scores``; unscored lines out)."""
    s = _with_inventory(scores.rename_axis("line")[["stability"]], inventory)
    scored = s["stability"].notna()
    parts = s.assign(
        numerator=(s["stability"] == "stable").astype(np.int64),
        denominator=scored.astype(np.int64),
    )
    return _rows(KqiKey.STABLE_LINE_RATIO, parts)


def rate_attainment_ratio(
    attainment: pd.DataFrame, inventory: pd.DataFrame, *, column: str = "attains_plan_down"
) -> pd.DataFrame:
    """Lines attaining the configured share of plan ÷ lines with a plan (``rate_attainment``)."""
    s = _with_inventory(attainment.rename_axis("line")[[column]], inventory)
    known = s[column].notna()
    parts = s.assign(
        numerator=(s[column].fillna(False).astype(bool) & known).astype(np.int64),
        denominator=known.astype(np.int64),
    )
    return _rows(KqiKey.RATE_ATTAINMENT_RATIO, parts)


def uplink_congestion_share(congestion: pd.DataFrame, uplinks: pd.DataFrame) -> pd.DataFrame:
    """Congested 5-minute intervals ÷ intervals, over uplinks (``kpi.port.congestion``)."""
    inv = uplinks.set_index("port")[["district"]]
    s = congestion.rename_axis("port").join(inv, how="inner")
    parts = s.assign(numerator=s["congested_intervals"], denominator=s["intervals"])
    parts["sla_class"] = ALL
    return _rows(KqiKey.UPLINK_CONGESTION_SHARE, parts, by_class=False)


def uplink_busy_hour_p95(busy: pd.DataFrame, uplinks: pd.DataFrame) -> pd.DataFrame:
    """The worst uplink's busy-hour p95 utilisation per district and network-wide.

    ``busy`` is per port (index ``port``) with ``busy_hour_p95`` (``kpi.port.busy_hour``;
    NaN without a complete hour). Per-uplink values stay per uplink (storage, API); the
    bounded summary is the maximum: the district's most loaded uplink in its busy hour.
    Like the percentile KQIs it does not re-aggregate: ``numerator`` is NaN and
    ``denominator`` the number of uplinks with a busy hour.
    """
    inv = uplinks.set_index("port")[["district"]]
    s = busy.rename_axis("port")[["busy_hour_p95"]].join(inv, how="inner")
    s = s.loc[s["busy_hour_p95"].notna()]
    per_district = s.groupby("district", sort=True)["busy_hour_p95"].agg(["max", "size"])
    frame = pd.DataFrame(
        {
            "district": [*per_district.index.tolist(), ALL],
            "value": [*per_district["max"].tolist(), s["busy_hour_p95"].max()],
            "denominator": [*per_district["size"].tolist(), len(s)],
        }
    )
    frame["kqi"] = KqiKey.UPLINK_BUSY_HOUR_P95.value
    frame["sla_class"] = ALL
    frame["numerator"] = np.nan
    frame["value"] = frame["value"].astype("float64")
    return frame.loc[:, list(KQI_COLUMNS)]


# ----------------------------------------------------------------------------- tickets


def _in(frame: pd.DataFrame, column: str, period: TimeWindow) -> pd.Series:
    t = frame[column].astype("float64")
    return (t >= period.start) & (t < period.end)


def fault_reports_per_100_lines(
    tickets: pd.DataFrame, inventory: pd.DataFrame, period: TimeWindow
) -> pd.DataFrame:
    """Fault tickets opened in the period × 100 ÷ lines (numerator: faults × 100)."""
    cols = ["district", "sla_class", "numerator", "denominator"]
    faults = tickets.loc[(tickets["kind"] == "fault") & _in(tickets, "opened_at", period)]
    opened = faults.assign(numerator=100, denominator=0)[cols]
    lines = inventory.assign(numerator=0, denominator=1)[cols]
    parts = pd.concat([opened, lines], ignore_index=True)
    return _rows(KqiKey.FAULT_REPORTS_PER_100_LINES, parts)


def repair_time_quantiles(tickets: pd.DataFrame, period: TimeWindow) -> pd.DataFrame:
    """Median, p80 and p95 of resolved − opened for fault tickets resolved in the period."""
    done = tickets.loc[(tickets["kind"] == "fault") & _in(tickets, "resolved_at", period)]
    done = done.assign(
        repair_s=done["resolved_at"].astype("float64") - done["opened_at"].astype("float64")
    )
    frames = []
    for kqi, q in (
        (KqiKey.REPAIR_TIME_MEDIAN, 0.5),
        (KqiKey.REPAIR_TIME_P80, 0.8),
        (KqiKey.REPAIR_TIME_P95, 0.95),
    ):
        for keys in (["district", "sla_class"], ["district"], ["sla_class"], []):
            if keys:
                grouped = done.groupby(keys, sort=True)["repair_s"]
                g = pd.DataFrame(
                    {"value": grouped.quantile(q), "denominator": grouped.size()}
                ).reset_index()
            else:
                g = pd.DataFrame(
                    {"value": [done["repair_s"].quantile(q)], "denominator": [len(done)]}
                )
            for col in ("district", "sla_class"):
                if col not in keys:
                    g[col] = ALL
            g["kqi"] = kqi.value
            g["numerator"] = np.nan
            frames.append(g)
    return pd.concat(frames, ignore_index=True).loc[:, list(KQI_COLUMNS)]


def on_site_within_30_min_ratio(
    tickets: pd.DataFrame, period: TimeWindow, *, now: int
) -> pd.DataFrame:
    """Dispatches in the period with on-site arrival ≤ 30 min after dispatch ÷ dispatches due.

    A dispatch is due once the engineer arrived or 30 minutes have passed by ``now``; a
    dispatch still inside its 30 minutes counts neither way yet.
    """
    d = tickets.loc[_in(tickets, "dispatched_at", period)]
    waited = d["on_site_at"].astype("float64") - d["dispatched_at"].astype("float64")
    overdue = (now - d["dispatched_at"].astype("float64")) > ON_SITE_DEADLINE_S
    due = d["on_site_at"].notna() | overdue
    parts = d.assign(
        numerator=(waited <= ON_SITE_DEADLINE_S).astype(np.int64),
        denominator=due.astype(np.int64),
    )
    return _rows(KqiKey.ON_SITE_WITHIN_30_MIN, parts)


def callback_done_ratio(tickets: pd.DataFrame, period: TimeWindow, *, now: int) -> pd.DataFrame:
    """Callbacks done ÷ callbacks due.

    Fault tickets closed in the period are due, and good when the callback was made
    before closing (the 100 % callback promise). Installations completed in the period
    are due once their week is over (or the callback is made), and good when the callback
    came within 7 days of completion.
    """
    callback = tickets["callback_at"].astype("float64")
    faults = (tickets["kind"] == "fault") & _in(tickets, "closed_at", period)
    fault_good = faults & callback.notna() & (callback <= tickets["closed_at"].astype("float64"))
    resolved = tickets["resolved_at"].astype("float64")
    installs = (tickets["kind"] == "installation") & _in(tickets, "resolved_at", period)
    install_due = installs & (callback.notna() | (now - resolved > CALLBACK_AFTER_INSTALLATION_S))
    install_good = installs & (callback - resolved <= CALLBACK_AFTER_INSTALLATION_S)
    parts = tickets.assign(
        numerator=(fault_good | install_good).astype(np.int64),
        denominator=(faults | install_due).astype(np.int64),
    )
    return _rows(KqiKey.CALLBACK_DONE, parts)


def installation_within_3_days_ratio(
    tickets: pd.DataFrame, period: TimeWindow, *, now: int
) -> pd.DataFrame:
    """Installations ordered in the period completed ≤ 3 days after the order ÷ those due.

    An order is due once completed or once its 3 days have passed by ``now``.
    """
    i = tickets.loc[(tickets["kind"] == "installation") & _in(tickets, "opened_at", period)]
    took = i["resolved_at"].astype("float64") - i["opened_at"].astype("float64")
    overdue = (now - i["opened_at"].astype("float64")) > INSTALLATION_DEADLINE_S
    parts = i.assign(
        numerator=(took <= INSTALLATION_DEADLINE_S).astype(np.int64),
        denominator=(i["resolved_at"].notna() | overdue).astype(np.int64),
    )
    return _rows(KqiKey.INSTALLATION_WITHIN_3_DAYS, parts)
