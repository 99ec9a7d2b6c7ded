"""Roster coverage (错时服务, 7×24) and dispatch proposals."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from alerting.dispatch import (
    WEEKDAYS,
    WEEKEND,
    Roster,
    Shift,
    Skill,
    Technician,
    Weekday,
    coverage_gaps,
    on_shift,
    propose_technician,
    required_skills,
)
from alerting.tickets import FaultSide, Priority, open_ticket
from alerting.workflow import load_builtin

TEMPLATES = load_builtin()
EVERY_DAY = WEEKDAYS | WEEKEND
LINE, CPE = Skill.DSL_LINE, Skill.CPE


def tech(id_: str, district: str = "xihu", *skills: Skill) -> Technician:
    return Technician(
        id=id_, name=id_.title(), district=district, skills=frozenset(skills or {LINE, CPE})
    )


def shift(id_: str, name: str, days, start: int, end: int) -> Shift:
    return Shift(
        technician_id=id_, name=name, days=frozenset(days), start=time(start), end=time(end)
    )


# A staggered roster: day shift on weekdays, a weekend day shift, evening and night every day.
STAGGERED = Roster(
    technicians=(tech("wang"), tech("li"), tech("zhao"), tech("chen"), tech("sun", "xihu", CPE)),
    shifts=(
        shift("wang", "day", WEEKDAYS, 8, 17),
        shift("li", "weekend-day", WEEKEND, 8, 17),
        shift("zhao", "evening", EVERY_DAY, 16, 0),
        shift("chen", "night", EVERY_DAY, 0, 8),
        shift("sun", "evening", EVERY_DAY, 17, 22),
    ),
)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """Monday 2024-05-06 + ``day`` at hour:minute Asia/Shanghai, as UTC."""
    return datetime(2024, 5, 6 + day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_staggered_roster_covers_7x24():
    assert coverage_gaps(STAGGERED) == ()
    assert coverage_gaps(STAGGERED, skills=[LINE]) == ()


def test_gaps_are_reported_with_local_days_and_hours():
    without_weekend = Roster(
        technicians=STAGGERED.technicians,
        shifts=tuple(s for s in STAGGERED.shifts if s.technician_id != "li"),
    )
    gaps = coverage_gaps(without_weekend)
    assert [(g.start_day, g.start, g.end_day, g.end, g.minutes) for g in gaps] == [
        (Weekday.SAT, time(8), Weekday.SAT, time(16), 480),
        (Weekday.SUN, time(8), Weekday.SUN, time(16), 480),
    ]
    assert str(gaps[0]) == "xihu: nobody on shift SAT 08:00 – SAT 16:00 (480 min)"


def test_gap_over_sunday_midnight_is_one_gap_and_skills_are_checked():
    roster = Roster(
        technicians=(tech("a", "xihu", CPE), tech("b", "xihu", LINE, CPE)),
        shifts=(shift("a", "long", EVERY_DAY, 8, 23), shift("b", "day", WEEKDAYS, 8, 17)),
    )
    gaps = coverage_gaps(roster, skills=[LINE])
    anyone = [g for g in gaps if g.skill is None]
    assert len(anyone) == 7  # 23:00–08:00 every night
    sunday = [g for g in anyone if g.start_day is Weekday.SUN]
    assert (sunday[0].end_day, sunday[0].end, sunday[0].minutes) == (Weekday.MON, time(8), 540)
    line = [g for g in gaps if g.skill is LINE]
    assert sum(g.minutes for g in line) == 7 * 24 * 60 - 5 * 9 * 60


def test_district_without_technicians_is_uncovered_all_week():
    (gap,) = coverage_gaps(STAGGERED, districts=["gongshu"])
    assert gap.minutes == 7 * 24 * 60


@pytest.mark.parametrize(
    ("description", "at", "expected"),
    [
        ("Monday 10:00: day shift", local(0, 10), {"wang"}),
        ("Monday 16:30: day and evening overlap", local(0, 16, 30), {"wang", "zhao"}),
        ("Monday 18:00: evening", local(0, 18), {"zhao", "sun"}),
        ("Tuesday 03:00: night", local(1, 3), {"chen"}),
        ("Saturday 10:00: weekend day", local(5, 10), {"li"}),
        ("Sunday 23:30: evening", local(6, 23, 30), {"zhao"}),
        ("Monday 00:30 after a Sunday: night", local(7, 0, 30), {"chen"}),
    ],
)
def test_on_shift(description, at, expected):
    assert {t.id for t in on_shift(STAGGERED, at)} == expected, description


def fault(side: FaultSide | None, district: str = "xihu"):
    ticket, _ = open_ticket(
        id="T-9",
        template=TEMPLATES["broadband_fault"],
        district=district,
        priority=Priority.P3,
        actor="hotline",
        now=local(0, 9),
        side=side,
    )
    return ticket


def test_required_skills_follow_the_classification():
    assert required_skills(fault(FaultSide.NETWORK)) == {LINE}
    assert required_skills(fault(FaultSide.CUSTOMER_SIDE)) == {CPE}
    assert required_skills(fault(None)) == frozenset()


def test_proposal_prefers_least_loaded_with_enough_shift_left():
    now = local(0, 16, 45)  # wang until 17:00 (15 min), zhao until 24:00
    proposal = propose_technician(fault(FaultSide.NETWORK), STAGGERED, {"zhao": 2}, now)
    assert proposal.technician is not None and proposal.technician.id == "zhao", proposal.reason
    assert [c.technician.id for c in proposal.candidates] == ["zhao", "wang"]
    later = propose_technician(fault(FaultSide.NETWORK), STAGGERED, {"zhao": 2}, local(0, 10))
    assert later.technician is not None and later.technician.id == "wang"


def test_proposal_respects_skills_and_workload():
    now = local(0, 18)  # zhao (line+cpe) and sun (cpe only) on shift
    network = propose_technician(fault(FaultSide.NETWORK), STAGGERED, {"zhao": 5}, now)
    assert network.technician is not None and network.technician.id == "zhao"
    customer = propose_technician(fault(FaultSide.CUSTOMER_SIDE), STAGGERED, {"zhao": 5}, now)
    assert customer.technician is not None and customer.technician.id == "sun"


def test_no_proposal_outside_the_district_or_shift():
    proposal = propose_technician(fault(FaultSide.NETWORK, "gongshu"), STAGGERED, {}, local(0, 10))
    assert proposal.technician is None
    assert "nobody in gongshu with dsl_line is on shift" in proposal.reason


def test_roster_refuses_shifts_of_unknown_technicians():
    with pytest.raises(ValueError, match="unknown technicians ghost"):
        Roster(technicians=(tech("a"),), shifts=(shift("ghost", "x", WEEKDAYS, 8, 17),))
