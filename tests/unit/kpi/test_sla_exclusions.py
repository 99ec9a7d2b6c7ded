"""Excluded downtimes of an SLA target: intersected with the timeline, never subtracted.

One line on Monday 2024-06-03 in Asia/Shanghai (UTC+8 all year: a DST-free zone), with a
daily reporting period ``[00:00, 24:00)`` local. ``h(x)`` is local hour ``x`` of that day.
The line is up all day except down 10:00–12:00 (unless a row says otherwise). An exclusion
removes the time it covers from every state and from the schedule: it is neither uptime
nor downtime. Subtracting its length from the downtime instead would turn case
"exclusion 11–13" into 0 s down; intersecting leaves the 10–11 hour down.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from kpi.definitions import KqiKey
from kpi.intervals import TimeWindow
from kpi.sla import (
    PeriodKind,
    ReportingPeriod,
    SlaScope,
    SlaStatus,
    SlaTarget,
    WeeklySchedule,
    evaluate_availability,
)

ZONE = "Asia/Shanghai"
D0 = int(datetime(2024, 6, 3, tzinfo=ZoneInfo(ZONE)).timestamp())
DAY = TimeWindow(start=D0, end=D0 + 86_400)


def h(hours: float) -> int:
    return D0 + int(hours * 3600)


def w(start: float, end: float) -> TimeWindow:
    return TimeWindow(start=h(start), end=h(end))


def timeline(*spans: tuple[float, float, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [("L1", h(s), h(e), state) for s, e, state in spans],
        columns=["entity", "start", "end", "state"],
    )


OUTAGE = timeline((-24, 10, "up"), (10, 12, "down"), (12, 48, "up"))
CLOSED = h(25)  # evaluated the next day: the whole period is in the past


def target(*exclusions: TimeWindow, schedule: WeeklySchedule | None = None) -> SlaTarget:
    return SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="enterprise",
        scope=SlaScope.EXTERNAL,
        objective=0.99,
        period=ReportingPeriod(kind=PeriodKind.DAY, time_zone=ZONE),
        schedule=schedule,
        exclusions=exclusions,
    )


# (description, timeline, target, maintenance, now,
#  expected (up, down, unknown, maintenance, excluded, scheduled) seconds)
CASES = [
    ("no exclusion", OUTAGE, target(), None, CLOSED, (79_200, 7_200, 0, 0, 0, 86_400)),
    (
        "exclusion 11–13 cuts one hour of the outage and one hour of uptime",
        OUTAGE,
        target(w(11, 13)),
        None,
        CLOSED,
        (75_600, 3_600, 0, 0, 7_200, 79_200),
    ),
    (
        "exclusion 02–03 over uptime only: the downtime stays whole",
        OUTAGE,
        target(w(2, 3)),
        None,
        CLOSED,
        (75_600, 7_200, 0, 0, 3_600, 82_800),
    ),
    (
        "exclusion from 22:00 the day before to 01:00: only its hour inside the period counts",
        OUTAGE,
        target(w(-2, 1)),
        None,
        CLOSED,
        (75_600, 7_200, 0, 0, 3_600, 82_800),
    ),
    (
        "overlapping exclusions 11–12:30 and 12–13 count once (11–13)",
        OUTAGE,
        target(w(11, 12.5), w(12, 13)),
        None,
        CLOSED,
        (75_600, 3_600, 0, 0, 7_200, 79_200),
    ),
    (
        "exclusion the next day changes nothing in this period",
        OUTAGE,
        target(w(30, 31)),
        None,
        CLOSED,
        (79_200, 7_200, 0, 0, 0, 86_400),
    ),
    (
        # maintenance 09–10:30 first relabels 10–10:30 of the outage; the exclusion 10–11
        # then takes 10–10:30 maintenance and 10:30–11 down: 1 h maintenance (09–10),
        # 1 h down (11–12), 21 h up
        "exclusion over the edge of a maintenance window and an outage",
        OUTAGE,
        target(w(10, 11)),
        pd.DataFrame({"entity": ["L1"], "start": [h(9)], "end": [h(10.5)]}),
        CLOSED,
        (75_600, 3_600, 0, 3_600, 3_600, 79_200),
    ),
    (
        # scheduled 08–18 = 10 h; 17–18 excluded; 17–20 outside the schedule is nothing
        "exclusion 17–20 with a mon-fri 08:00-18:00 schedule: only its scheduled hour",
        OUTAGE,
        target(w(17, 20), schedule=WeeklySchedule.parse("mon-fri 08:00-18:00")),
        None,
        CLOSED,
        (25_200, 7_200, 0, 0, 3_600, 32_400),
    ),
    (
        # no data 14–16 (unknown); exclusion 15–17 takes 15–16 unknown and 16–17 up
        "exclusion over unknown time: the rest of the unknown stays unknown, never down",
        timeline((-24, 10, "up"), (10, 12, "down"), (12, 14, "up"), (16, 48, "up")),
        target(w(15, 17)),
        None,
        CLOSED,
        (68_400, 7_200, 3_600, 0, 7_200, 79_200),
    ),
]


@pytest.mark.parametrize(
    ("description", "tl", "sla_target", "maintenance", "now", "expected"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_exclusions_are_intersected_with_the_timeline(
    description: str,
    tl: pd.DataFrame,
    sla_target: SlaTarget,
    maintenance: pd.DataFrame | None,
    now: int,
    expected: tuple[int, int, int, int, int, int],
) -> None:
    a = evaluate_availability(tl, target=sla_target, period=DAY, now=now, maintenance=maintenance)
    got = (a.uptime_s, a.downtime_s, a.unknown_s, a.maintenance_s, a.excluded_s, a.scheduled_s)
    assert got == expected, description
    up, down, unknown, _, _, scheduled = expected
    assert up + down + unknown == scheduled, "the table itself adds up"
    assert a.sli == pytest.approx(1 - down / scheduled, abs=1e-12), description
    assert a.error_budget_total_s == pytest.approx(0.01 * scheduled), "closed: no future time"


def test_exclusion_in_an_open_period_also_shrinks_the_budget_still_to_come() -> None:
    """At 12:00 an outage open since 10:00 counts up to 12:00; the exclusion 11:30–14:00 takes
    11:30–12:00 of it. So far: up 00–10 = 36 000 s, down 10–11:30 = 5 400 s, excluded 1 800 s,
    scheduled 41 400 s. Still to come: 12–24 minus the excluded 12–14 = 36 000 s. Budget
    = 1 % × (41 400 + 36 000) = 774 s; 5 400 s used → breached (final: downtime only grows).
    """
    open_outage = timeline((-24, 10, "up"), (10, 48, "down"))
    a = evaluate_availability(open_outage, target=target(w(11.5, 14)), period=DAY, now=h(12))
    assert a.evaluated_until == h(12)
    assert (a.uptime_s, a.downtime_s, a.excluded_s, a.scheduled_s) == (36_000, 5_400, 1_800, 41_400)
    assert a.scheduled_period_s == 77_400
    assert a.error_budget_total_s == pytest.approx(774.0)
    assert a.error_budget_remaining_s == pytest.approx(774.0 - 5_400)
    assert a.burn_rate == pytest.approx((5_400 / 41_400) / 0.01)
    assert a.status is SlaStatus.BREACHED
