"""KQIs and SLA evaluation on hand-built frames; expected values worked out in docstrings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from kpi.definitions import KqiKey
from kpi.intervals import State, TimeWindow, epoch_s, fill_gaps, report_timeline, state_seconds
from kpi.kqi import (
    ALL,
    callback_done_ratio,
    customer_minutes_lost,
    fault_reports_per_100_lines,
    installation_within_3_days_ratio,
    line_availability,
    on_site_within_30_min_ratio,
    propagate_device_outages,
    rate_attainment_ratio,
    repair_time_quantiles,
    stable_line_ratio,
)
from kpi.sla import (
    AtRiskPolicy,
    ReportingPeriod,
    SlaScope,
    SlaStatus,
    SlaTarget,
    WeeklySchedule,
    evaluate_availability,
    evaluate_kqi,
    sla_status,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = 1_714_492_800  # 2024-05-01 00:00 Asia/Shanghai
W = TimeWindow(start=T0, end=T0 + 1000)
INVENTORY = pd.DataFrame(
    {
        "line": ["L1", "L2", "L3"],
        "dslam": ["D1", "D1", "D2"],
        "district": ["north", "north", "south"],
        "sla_class": ["residential", "enterprise", "residential"],
    }
)


def timeline(*rows: tuple[str, int, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"entity": e, "start": T0 + s, "end": T0 + t, "state": st} for e, s, t, st in rows]
    )


def value(frame: pd.DataFrame, district: str, sla_class: str) -> float:
    row = frame.loc[(frame["district"] == district) & (frame["sla_class"] == sla_class)]
    assert len(row) == 1
    return float(row["value"].iloc[0])


@pytest.fixture
def line_seconds() -> pd.DataFrame:
    """L1 up; L2 down [100,200); L3 unknown [0,100) then up; DSLAM D1 down [500,600);
    L3 maintenance [900,1000). After propagation and maintenance:
    L1 up 900 down 100; L2 up 800 down 200; L3 up 800 unknown 100 maintenance 100."""
    lines = timeline(
        ("L1", 0, 1000, "up"),
        ("L2", 0, 100, "up"),
        ("L2", 100, 200, "down"),
        ("L2", 200, 1000, "up"),
        ("L3", 100, 1000, "up"),
    )
    devices = timeline(("D1", 0, 500, "up"), ("D1", 500, 600, "down"), ("D1", 600, 1000, "up"))
    filled = fill_gaps(lines, W)
    propagated = propagate_device_outages(filled, devices, INVENTORY)
    maintenance = pd.DataFrame({"entity": ["L3"], "start": [T0 + 900], "end": [T0 + 1000]})
    return state_seconds(report_timeline(propagated, W, maintenance=maintenance))


def test_device_outage_reaches_every_line_behind_it(line_seconds):
    assert line_seconds.loc["L1"].to_dict() == {
        "up": 900,
        "down": 100,
        "maintenance": 0,
        "unknown": 0,
    }
    assert line_seconds.loc["L2", "down"] == 200
    assert line_seconds.loc["L3"].to_dict() == {
        "up": 800,
        "down": 0,
        "maintenance": 100,
        "unknown": 100,
    }


AVAILABILITY_CASES = [
    ("north residential: L1 900/1000", "north", "residential", 0.9),
    ("north enterprise: L2 800/1000", "north", "enterprise", 0.8),
    ("north: (900 + 800) / 2000", "north", ALL, 0.85),
    ("south: L3 900 scheduled (maintenance out), none down, unknown not down", "south", ALL, 1.0),
    # the mean of 0.9 and 1.0 would be 0.95: periods and groups sum seconds instead
    ("residential: (900 + 900) / (1000 + 900), not the mean 0.95", ALL, "residential", 1800 / 1900),
    ("network: (900 + 800 + 900) / 2900", ALL, ALL, 2600 / 2900),
]


@pytest.mark.parametrize(
    ("description", "district", "sla_class", "expected"),
    AVAILABILITY_CASES,
    ids=[c[0] for c in AVAILABILITY_CASES],
)
def test_line_availability(line_seconds, description, district, sla_class, expected):
    got = line_availability(line_seconds, INVENTORY)
    assert value(got, district, sla_class) == pytest.approx(expected), description


def test_customer_minutes_lost_weighs_a_dslam_outage_by_its_lines(line_seconds):
    """D1's 100 s outage hits L1 and L2: 200 s; plus L2's own 100 s → 300 s = 5 min."""
    got = customer_minutes_lost(line_seconds, INVENTORY)
    assert value(got, "north", ALL) == 5.0
    assert value(got, ALL, ALL) == 5.0
    assert value(got, "south", ALL) == 0.0


def test_stable_line_and_rate_attainment_ratios():
    scores = pd.DataFrame(
        {"stability": ["stable", "unstable", None]}, index=pd.Index(["L1", "L2", "L3"], name="line")
    )
    got = stable_line_ratio(scores, INVENTORY)
    assert value(got, "north", ALL) == 0.5
    assert np.isnan(value(got, "south", ALL)), "no scored line: no ratio"
    attains = pd.DataFrame(
        {"attains_plan_down": pd.array([True, False, True], dtype="boolean")},
        index=pd.Index(["L1", "L2", "L3"], name="line"),
    )
    got = rate_attainment_ratio(attains, INVENTORY)
    assert value(got, ALL, ALL) == pytest.approx(2 / 3)
    assert value(got, ALL, "residential") == 1.0


HOUR = 3600
MAY = TimeWindow(start=T0, end=T0 + 31 * 86_400)
NAN = float("nan")
TICKETS = pd.DataFrame(
    [
        # ticket, kind, district, class, opened, dispatched, on_site, resolved, closed, callback
        ("F1", "fault", "north", "residential", 0, 600, 600 + 1200, 2 * HOUR, 3 * HOUR, 2.5 * HOUR),
        ("F2", "fault", "north", "residential", HOUR, HOUR, HOUR + 2400, 5 * HOUR, 6 * HOUR, NAN),
        ("F3", "fault", "south", "residential", 0, NAN, NAN, 4 * HOUR, 4 * HOUR, 3 * HOUR),
        ("F4", "fault", "north", "enterprise", -HOUR, NAN, NAN, NAN, NAN, NAN),  # April
        ("I1", "installation", "north", "residential", 0, NAN, NAN, 2 * 86_400, NAN, 3 * 86_400),
        ("I2", "installation", "south", "residential", 0, NAN, NAN, 4 * 86_400, NAN, NAN),
        ("I3", "installation", "south", "residential", 10 * 86_400, NAN, NAN, NAN, NAN, NAN),
    ],
    columns=[
        "ticket",
        "kind",
        "district",
        "sla_class",
        "opened_at",
        "dispatched_at",
        "on_site_at",
        "resolved_at",
        "closed_at",
        "callback_at",
    ],
)
for _col in ("opened_at", "dispatched_at", "on_site_at", "resolved_at", "closed_at", "callback_at"):
    TICKETS[_col] = TICKETS[_col].astype("float64") + T0
NOW_TICKETS = T0 + 12 * 86_400  # May 13: I3 (ordered May 11) is not yet due


def test_fault_reports_per_100_lines():
    """3 faults opened in May over 3 lines → 100; north: 2 faults / 2 lines × 100 = 100;
    south 1/1 × 100 = 100; F4 (April) does not count."""
    got = fault_reports_per_100_lines(TICKETS, INVENTORY, MAY)
    assert value(got, ALL, ALL) == 100.0
    assert value(got, "north", "enterprise") == 0.0


def test_repair_time_quantiles():
    """Repair times F1 2 h, F2 4 h, F3 4 h → median 4 h; p80 linear 4 h; network p95 4 h.
    North: 2 h and 4 h → median 3 h."""
    got = repair_time_quantiles(TICKETS, MAY)
    median = got.loc[got["kqi"] == KqiKey.REPAIR_TIME_MEDIAN.value]
    assert value(median, ALL, ALL) == 4 * HOUR
    assert value(median, "north", ALL) == 3 * HOUR
    assert (
        median.loc[(median["district"] == ALL) & (median["sla_class"] == ALL), "denominator"].iloc[
            0
        ]
        == 3
    )


def test_on_site_callback_and_installation_ratios():
    """On site: F1 20 min (good), F2 40 min (late) → 1/2.
    Callback: F1 before close (good), F2 none (bad), F3 before close (good); I1 after 1 day
    (good); I2 completed May 5, no callback, 7 days over by May 13 → due, bad → 3/5.
    Installation ≤ 3 days: I1 2 d good, I2 4 d late, I3 not yet due → 1/2."""
    assert value(on_site_within_30_min_ratio(TICKETS, MAY, now=NOW_TICKETS), ALL, ALL) == 0.5
    assert value(callback_done_ratio(TICKETS, MAY, now=NOW_TICKETS), ALL, ALL) == 0.6
    got = installation_within_3_days_ratio(TICKETS, MAY, now=NOW_TICKETS)
    assert value(got, ALL, ALL) == 0.5
    assert value(got, "south", ALL) == 0.0


# ----------------------------------------------------------------------------- SLA

MAY_S = 31 * 86_400  # 2 678 400 s
AVAIL = SlaTarget(
    kqi=KqiKey.LINE_AVAILABILITY,
    sla_class="enterprise",
    scope=SlaScope.EXTERNAL,
    objective=0.999,
)


def month_timeline(*outages: tuple[int, int, str]) -> pd.DataFrame:
    """One line, up all May (from before the month), with the given (start, end, state) spans."""
    rows = [("E1", -86_400, MAY_S + 86_400, "up")]
    tl = timeline(*rows)
    for start, end, state in outages:
        tl = pd.concat(
            [
                tl.assign(end=np.minimum(tl["end"], T0 + start)),
                timeline(("E1", start, end, state)),
                tl.assign(start=np.maximum(tl["start"], T0 + end)),
            ]
        )
        tl = tl.loc[tl["end"] > tl["start"]]
    return tl


SLA_CASES = [
    # description, outages, now offset, expected (sli, used, remaining, status)
    (
        "closed month, 30 min down of a 2678.4 s budget → met",
        # SLI 1 − 1800/2678400; remaining 878.4 (32.8 %); period over so no burn rule
        [(86_400, 86_400 + 1800, "down")],
        MAY_S + 10,
        (1 - 1800 / MAY_S, 1800, 878.4, SlaStatus.MET),
    ),
    (
        "closed month, 45 min down > 2678.4 s budget → breached",
        [(86_400, 86_400 + 2700, "down")],
        MAY_S + 10,
        (1 - 2700 / MAY_S, 2700, -21.6, SlaStatus.BREACHED),
    ),
    (
        "closed month, 30 min down + 1000 s unknown could exceed the budget → at_risk",
        # 1800 + 1000 = 2800 > 2678.4: the data cannot prove the SLA was met
        [(86_400, 86_400 + 1800, "down"), (200_000, 201_000, "unknown")],
        MAY_S + 10,
        (1 - 1800 / (MAY_S - 1000 + 1000), 1800, 878.4, SlaStatus.AT_RISK),
    ),
    (
        "open month, day 9: 600 s down, burn (600/777600)/0.001 = 0.77, 78 % left → met",
        [(86_400, 86_400 + 600, "down")],
        9 * 86_400,
        (1 - 600 / (9 * 86_400), 600, 2078.4, SlaStatus.MET),
    ),
    (
        "open month, day 9: 1200 s down, burn 1.54 > 1 → at_risk",
        [(86_400, 86_400 + 1200, "down")],
        9 * 86_400,
        (1 - 1200 / (9 * 86_400), 1200, 1478.4, SlaStatus.AT_RISK),
    ),
    (
        "open month, outage still open at now counts up to now: 2000 s → at_risk",
        # down since now − 2000; burn (2000/777600)/0.001 = 2.57
        [(9 * 86_400 - 2000, MAY_S + 86_400, "down")],
        9 * 86_400,
        (1 - 2000 / (9 * 86_400), 2000, 678.4, SlaStatus.AT_RISK),
    ),
    (
        "open month already over budget is breached at once (downtime only grows)",
        [(86_400, 86_400 + 3000, "down")],
        9 * 86_400,
        (1 - 3000 / (9 * 86_400), 3000, -321.6, SlaStatus.BREACHED),
    ),
]


@pytest.mark.parametrize(
    ("description", "outages", "now", "expected"), SLA_CASES, ids=[c[0] for c in SLA_CASES]
)
def test_availability_sla(description, outages, now, expected):
    got = evaluate_availability(month_timeline(*outages), target=AVAIL, period=MAY, now=T0 + now)
    sli, used, remaining, status = expected
    assert got.sli == pytest.approx(sli), description
    assert got.error_budget_used_s == used, description
    assert got.error_budget_remaining_s == pytest.approx(remaining), description
    assert got.status is status, description
    assert got.error_budget_total_s == pytest.approx(2678.4), description


def test_unknown_is_reported_separately_and_never_down():
    got = evaluate_availability(
        month_timeline((200_000, 201_000, "unknown")), target=AVAIL, period=MAY, now=T0 + MAY_S
    )
    assert (got.downtime_s, got.unknown_s, got.uptime_s) == (0, 1000, MAY_S - 1000)
    assert got.sli == 1.0


def test_maintenance_shrinks_scheduled_time_and_budget():
    """1 h maintenance over a 30 min outage: outage gone, scheduled 2674800, budget 2674.8."""
    maintenance = pd.DataFrame({"entity": ["E1"], "start": [T0 + 86_000], "end": [T0 + 89_600]})
    got = evaluate_availability(
        month_timeline((86_400, 86_400 + 1800, "down")),
        target=AVAIL,
        period=MAY,
        now=T0 + MAY_S,
        maintenance=maintenance,
    )
    assert (got.downtime_s, got.maintenance_s, got.scheduled_s) == (0, 3600, MAY_S - 3600)
    assert got.error_budget_total_s == pytest.approx(2674.8)


def test_future_maintenance_is_left_out_of_the_budget_of_an_open_month():
    """Day 9, a 1 h maintenance planned for day 20: period scheduled = May − 3600."""
    maintenance = pd.DataFrame(
        {"entity": ["E1"], "start": [T0 + 20 * 86_400], "end": [T0 + 20 * 86_400 + 3600]}
    )
    got = evaluate_availability(
        month_timeline(), target=AVAIL, period=MAY, now=T0 + 9 * 86_400, maintenance=maintenance
    )
    assert got.scheduled_s == 9 * 86_400
    assert got.scheduled_period_s == MAY_S - 3600


def test_business_hours_schedule_counts_only_scheduled_downtime():
    """Mon–Fri 08:00–18:00 Asia/Shanghai in May 2024: May 1 is a Wednesday → 23 weekdays ×
    36000 s = 828000 s scheduled. Outages: Sat May 4 02:00–04:00 (unscheduled, ignored) and
    Mon May 6 17:00–19:00 (one hour scheduled) → 3600 s down; budget 828 s → breached."""
    target = SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="enterprise",
        scope=SlaScope.EXTERNAL,
        objective=0.999,
        schedule=WeeklySchedule.parse("mon-fri 08:00-18:00"),
    )
    sat = epoch_s(datetime(2024, 5, 4, 2, tzinfo=SHANGHAI)) - T0
    mon = epoch_s(datetime(2024, 5, 6, 17, tzinfo=SHANGHAI)) - T0
    got = evaluate_availability(
        month_timeline((sat, sat + 7200, "down"), (mon, mon + 7200, "down")),
        target=target,
        period=MAY,
        now=T0 + MAY_S,
    )
    assert got.scheduled_s == 828_000
    assert got.downtime_s == 3600
    assert got.error_budget_total_s == pytest.approx(828.0)
    assert got.status is SlaStatus.BREACHED


def test_excluded_downtime_is_removed_and_reported():
    outage = TimeWindow(start=T0 + 86_400, end=T0 + 86_400 + 5000)
    target = SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="enterprise",
        scope=SlaScope.EXTERNAL,
        objective=0.999,
        exclusions=(outage,),
    )
    got = evaluate_availability(
        month_timeline((86_400, 86_400 + 5000, "down")), target=target, period=MAY, now=T0 + MAY_S
    )
    assert (got.downtime_s, got.excluded_s, got.scheduled_s) == (0, 5000, MAY_S - 5000)
    assert got.status is SlaStatus.MET


def test_berlin_march_budget_follows_the_23_hour_day():
    """March 2024 in Europe/Berlin is 31 d − 1 h = 2674800 s → 99.9 % budget 2674.8 s."""
    period = ReportingPeriod(time_zone="Europe/Berlin")
    march = period.containing(epoch_s(datetime(2024, 3, 15, tzinfo=ZoneInfo("Europe/Berlin"))))
    tl = pd.DataFrame(
        {"entity": ["E1"], "start": [march.start - 10], "end": [march.end + 10], "state": ["up"]}
    )
    target = SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="enterprise",
        scope=SlaScope.EXTERNAL,
        objective=0.999,
        period=period,
    )
    got = evaluate_availability(tl, target=target, period=march, now=march.end)
    assert got.scheduled_s == 2_674_800
    assert got.error_budget_total_s == pytest.approx(2674.8)


def test_two_months_sum_seconds_rather_than_average_percentages():
    """Feb 2024 (29 d) with 1 h down, March (31 d) without.

    Summed: 1 − 3600 / (60 × 86400) = 0.999305…; the mean of the two monthly SLIs would be
    (1 − 3600/2505600 + 1) / 2 = 0.999281… — not the same, and not right.
    """
    feb = TimeWindow(start=1_706_716_800, end=1_709_222_400)  # Shanghai Feb 2024
    mar = TimeWindow(start=feb.end, end=feb.end + 31 * 86_400)
    tl = pd.DataFrame(
        {
            "entity": "E1",
            "start": [feb.start, feb.start + 86_400, feb.start + 86_400 + 3600],
            "end": [feb.start + 86_400, feb.start + 86_400 + 3600, mar.end],
            "state": ["up", "down", "up"],
        }
    )
    months = [evaluate_availability(tl, target=AVAIL, period=p, now=mar.end) for p in (feb, mar)]
    both = evaluate_availability(
        tl, target=AVAIL, period=TimeWindow(start=feb.start, end=mar.end), now=mar.end
    )
    summed = 1 - sum(m.downtime_s for m in months) / sum(m.scheduled_s for m in months)
    assert both.sli == pytest.approx(summed)
    assert both.sli == pytest.approx(1 - 3600 / (60 * 86_400))
    assert both.sli != pytest.approx(sum(m.sli or 0 for m in months) / 2, abs=1e-9)


def test_uas_counts_as_downtime_in_the_sla():
    """The line's own timeline says up, but the modem counted 600 UAS in one bin."""
    bins = pd.DataFrame(
        {"entity": ["E1"], "start": [T0 + 86_400], "end": [T0 + 86_400 + 900], "uas_s": [600]}
    )
    got = evaluate_availability(
        month_timeline(), target=AVAIL, period=MAY, now=T0 + MAY_S, uas_bins=bins
    )
    assert (got.downtime_s, got.uptime_s) == (600, MAY_S - 600)


STATUS_CASES = [
    # description, total, used, unknown, open, burn, expected
    ("no downtime, closed", 100.0, 0, 0, False, None, SlaStatus.MET),
    ("used exactly the budget is still met", 100.0, 100, 0, False, 1.0, SlaStatus.MET),
    ("one second over the budget", 100.0, 101, 0, False, 1.01, SlaStatus.BREACHED),
    ("unknown could flip it", 100.0, 60, 41, False, 0.6, SlaStatus.AT_RISK),
    ("unknown could not flip it", 100.0, 60, 40, False, 0.6, SlaStatus.MET),
    ("open, burning too fast", 100.0, 10, 0, True, 1.2, SlaStatus.AT_RISK),
    ("open, under 25 % left though burn is fine", 100.0, 80, 0, True, 0.9, SlaStatus.AT_RISK),
    ("closed, under 25 % left is simply met", 100.0, 80, 0, False, 0.8, SlaStatus.MET),
    ("objective 100 %: any downtime breaches", 0.0, 1, 0, True, None, SlaStatus.BREACHED),
]


@pytest.mark.parametrize(
    ("description", "total", "used", "unknown", "period_open", "burn", "expected"),
    STATUS_CASES,
    ids=[c[0] for c in STATUS_CASES],
)
def test_sla_status(description, total, used, unknown, period_open, burn, expected):
    got = sla_status(
        budget_total=total,
        budget_used=used,
        unknown=unknown,
        period_open=period_open,
        burn_rate=burn,
        policy=AtRiskPolicy(),
    )
    assert got is expected, description


KQI_SLA_CASES = [
    # description, kqi, objective, value, good, total, now inside period?, expected
    (
        "ratio above objective, closed",
        KqiKey.STABLE_LINE_RATIO,
        0.95,
        0.97,
        97,
        100,
        False,
        SlaStatus.MET,
    ),
    (
        "ratio below objective, closed",
        KqiKey.STABLE_LINE_RATIO,
        0.95,
        0.94,
        94,
        100,
        False,
        SlaStatus.BREACHED,
    ),
    (
        "ratio below objective, open → may recover",
        KqiKey.STABLE_LINE_RATIO,
        0.95,
        0.94,
        94,
        100,
        True,
        SlaStatus.AT_RISK,
    ),
    (
        "ratio passing with 1 of 5 budget events left, open",
        KqiKey.STABLE_LINE_RATIO,
        0.95,
        0.96,
        96,
        100,
        True,
        SlaStatus.AT_RISK,
    ),
    (
        "repair p95 under its bound (lower is better)",
        KqiKey.REPAIR_TIME_P95,
        14_400,
        12_000,
        None,
        None,
        False,
        SlaStatus.MET,
    ),
    (
        "repair p95 over its bound",
        KqiKey.REPAIR_TIME_P95,
        14_400,
        15_000,
        None,
        None,
        False,
        SlaStatus.BREACHED,
    ),
    (
        "no value at the end of the period is a breach",
        KqiKey.CALLBACK_DONE,
        1.0,
        None,
        0,
        0,
        False,
        SlaStatus.BREACHED,
    ),
]


@pytest.mark.parametrize(
    ("description", "kqi", "objective", "value", "good", "total", "is_open", "expected"),
    KQI_SLA_CASES,
    ids=[c[0] for c in KQI_SLA_CASES],
)
def test_kqi_sla(description, kqi, objective, value, good, total, is_open, expected):
    target = SlaTarget(
        kqi=kqi, sla_class="residential", scope=SlaScope.INTERNAL, objective=objective
    )
    now = T0 + 86_400 if is_open else MAY.end
    got = evaluate_kqi(target, period=MAY, now=now, value=value, good=good, total=total)
    assert got.status is expected, description


def test_state_values_are_the_documented_vocabulary():
    assert [s.value for s in State] == ["up", "down", "maintenance", "unknown"]
