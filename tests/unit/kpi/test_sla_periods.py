"""Reporting periods in a target's own time zone and kind; expected values worked by hand.

One outage, 2026-10-31 23:00 → 2026-11-01 01:00 UTC (7 200 s), seen by targets whose
periods are calendar months in UTC or in Asia/Shanghai (UTC+8, no DST), or weeks:

* In UTC it straddles the month boundary: 3 600 s in October, 3 600 s in November.
* In Shanghai it is 2026-11-01 07:00 → 09:00 local, wholly inside November, whose
  period is [2026-10-31 16:00Z, 2026-11-30 16:00Z) = 30 days = 2 592 000 s.
* 2026-11-01 is a Sunday: the outage lies in the week starting Monday 2026-10-26
  (UTC: [1 792 972 800, +604 800); Shanghai: [1 792 944 000, +604 800)).

Seconds of the periods sum; an SLI is never averaged (``docs/kpi.md``).
"""

from __future__ import annotations

import pandas as pd
import pytest

from kpi.definitions import KqiKey
from kpi.intervals import State, TimeWindow
from kpi.sla import (
    PeriodKind,
    ReportingPeriod,
    SlaScope,
    SlaStatus,
    SlaTarget,
    WeeklySchedule,
    evaluate_availability,
)

UTC_OCT = TimeWindow(start=1_790_812_800, end=1_793_491_200)  # 31 days
UTC_NOV = TimeWindow(start=1_793_491_200, end=1_796_083_200)  # 30 days
SHANGHAI_NOV = TimeWindow(start=1_793_462_400, end=1_796_054_400)  # 30 days
UTC_WEEK = TimeWindow(start=1_792_972_800, end=1_792_972_800 + 604_800)
SHANGHAI_WEEK = TimeWindow(start=1_792_944_000, end=1_792_944_000 + 604_800)
OUTAGE = TimeWindow(start=1_793_487_600, end=1_793_494_800)  # 7 200 s
NOW = 1_796_083_200 + 5 * 86_400  # every period above has closed

MONTH_UTC = ReportingPeriod(kind=PeriodKind.MONTH, time_zone="UTC")
MONTH_SHANGHAI = ReportingPeriod(kind=PeriodKind.MONTH, time_zone="Asia/Shanghai")
WEEK_UTC = ReportingPeriod(kind=PeriodKind.WEEK, time_zone="UTC")
WEEK_SHANGHAI = ReportingPeriod(kind=PeriodKind.WEEK, time_zone="Asia/Shanghai")
DAY_SHANGHAI = ReportingPeriod(kind=PeriodKind.DAY, time_zone="Asia/Shanghai")


def one_line_with_the_outage() -> pd.DataFrame:
    """Line L1 up from 2026-09-30 to 2026-12-02 UTC except during ``OUTAGE``."""
    first, last = UTC_OCT.start - 86_400, UTC_NOV.end + 86_400
    rows = [
        (first, OUTAGE.start, State.UP),
        (OUTAGE.start, OUTAGE.end, State.DOWN),
        (OUTAGE.end, last, State.UP),
    ]
    return pd.DataFrame(
        [{"entity": "L1", "start": s, "end": e, "state": st.value} for s, e, st in rows]
    )


def target(period: ReportingPeriod, objective: float, schedule: str | None = None) -> SlaTarget:
    return SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="enterprise",
        scope=SlaScope.EXTERNAL,
        objective=objective,
        period=period,
        schedule=WeeklySchedule.parse(schedule) if schedule else None,
    )


@pytest.mark.parametrize(
    ("description", "period", "instant", "expected"),
    [
        ("UTC month of the outage start", MONTH_UTC, OUTAGE.start, UTC_OCT),
        ("UTC month of the outage end", MONTH_UTC, OUTAGE.end - 1, UTC_NOV),
        ("Shanghai month of the outage start", MONTH_SHANGHAI, OUTAGE.start, SHANGHAI_NOV),
        ("Shanghai month of the outage end", MONTH_SHANGHAI, OUTAGE.end - 1, SHANGHAI_NOV),
        ("UTC week (Mon 2026-10-26)", WEEK_UTC, OUTAGE.start, UTC_WEEK),
        ("Shanghai week (Mon 2026-10-26 +08)", WEEK_SHANGHAI, OUTAGE.end - 1, SHANGHAI_WEEK),
        (
            "Shanghai day 2026-11-01",
            DAY_SHANGHAI,
            OUTAGE.start,
            TimeWindow(start=1_793_462_400, end=1_793_462_400 + 86_400),
        ),
    ],
)
def test_periods_are_calendar_aligned_in_the_targets_zone(
    description: str, period: ReportingPeriod, instant: int, expected: TimeWindow
) -> None:
    assert period.containing(instant) == expected, description


def test_late_data_of_the_outage_dirties_one_shanghai_month_but_two_utc_months() -> None:
    instants = [OUTAGE.start, OUTAGE.end - 1]
    assert MONTH_SHANGHAI.touching(instants) == (SHANGHAI_NOV,)
    assert MONTH_UTC.touching(instants) == (UTC_OCT, UTC_NOV)
    assert WEEK_UTC.touching(instants) == (UTC_WEEK,)


@pytest.mark.parametrize(
    ("description", "sla", "period", "down", "scheduled", "status"),
    [
        # objective 0.998: budget 0.002 × scheduled seconds
        (
            "Shanghai November: the whole outage; budget 5 184 s < 7 200 s",
            target(MONTH_SHANGHAI, 0.998),
            SHANGHAI_NOV,
            7_200,
            2_592_000,
            SlaStatus.BREACHED,
        ),
        (
            "UTC October: its last hour; budget 5 356.8 s",
            target(MONTH_UTC, 0.998),
            UTC_OCT,
            3_600,
            2_678_400,
            SlaStatus.MET,
        ),
        (
            "UTC November: its first hour; budget 5 184 s",
            target(MONTH_UTC, 0.998),
            UTC_NOV,
            3_600,
            2_592_000,
            SlaStatus.MET,
        ),
        (
            "UTC week, objective 0.99: budget 6 048 s < 7 200 s",
            target(WEEK_UTC, 0.99),
            UTC_WEEK,
            7_200,
            604_800,
            SlaStatus.BREACHED,
        ),
        (
            "Shanghai week mon-fri 08:00-18:00: Sunday 07:00-09:00 is unscheduled",
            target(WEEK_SHANGHAI, 0.99, "mon-fri 08:00-18:00"),
            SHANGHAI_WEEK,
            0,
            5 * 10 * 3_600,
            SlaStatus.MET,
        ),
    ],
)
def test_one_outage_seen_by_targets_with_their_own_periods(
    description: str,
    sla: SlaTarget,
    period: TimeWindow,
    down: int,
    scheduled: int,
    status: SlaStatus,
) -> None:
    assert sla.period.containing(period.start) == period, "the target's own period"
    a = evaluate_availability(one_line_with_the_outage(), target=sla, period=period, now=NOW)
    assert (a.downtime_s, a.scheduled_s, a.unknown_s) == (down, scheduled, 0), description
    assert a.uptime_s == scheduled - down
    assert a.sli == pytest.approx(1 - down / scheduled)
    assert a.error_budget_total_s == pytest.approx((1 - sla.objective) * scheduled)
    assert a.status is status, description


def test_utc_months_sum_seconds_to_the_same_downtime_as_the_shanghai_month() -> None:
    """October + November in UTC hold the outage's 7 200 s once, like Shanghai's November;
    the two-month SLI is 1 − 7 200 / 5 270 400, not the mean of the monthly SLIs."""
    sla = target(MONTH_UTC, 0.998)
    months = [
        evaluate_availability(one_line_with_the_outage(), target=sla, period=p, now=NOW)
        for p in (UTC_OCT, UTC_NOV)
    ]
    down = sum(m.downtime_s for m in months)
    scheduled = sum(m.scheduled_s for m in months)
    assert (down, scheduled) == (7_200, 5_270_400)
    mean_of_slis = sum(m.sli or 0.0 for m in months) / 2
    assert 1 - down / scheduled != pytest.approx(mean_of_slis, abs=1e-9)
