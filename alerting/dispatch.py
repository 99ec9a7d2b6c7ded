"""Technicians, the staggered-shift roster (错时服务), its 7×24 coverage, and dispatch (pure).

Shifts are written in the operator's local time (``Roster.timezone``, default
Asia/Shanghai) as weekdays plus a start and end time; an end at or before the start runs
past midnight into the next day. :func:`coverage_gaps` finds the hours of the week in which
a district has nobody on shift (optionally: nobody with a skill), so a roster that does not
cover 7×24 is caught before it is used. :func:`propose_technician` picks an on-shift
technician of the ticket's district with the skills the ticket needs (:data:`SKILLS_FOR`),
preferring the least loaded and then the one with the most shift left::

    roster = Roster(technicians=(Technician(id="t1", name="Wang", district="xihu",
                                            skills=frozenset({Skill.DSL_LINE, Skill.CPE})),),
                    shifts=(Shift(technician_id="t1", name="evening",
                                  days=WEEKDAYS | WEEKEND, start=time(16), end=time(0)),))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

from alerting.tickets import FaultSide, Ticket, TicketKind

__all__ = [
    "MINUTES_PER_WEEK",
    "SKILLS_FOR",
    "WEEKDAYS",
    "WEEKEND",
    "Candidate",
    "CoverageGap",
    "DispatchProposal",
    "Roster",
    "Shift",
    "Skill",
    "Technician",
    "Weekday",
    "coverage_gaps",
    "on_shift",
    "propose_technician",
    "required_skills",
]

MINUTES_PER_WEEK: Final = 7 * 24 * 60
_ON_SITE_MIN: Final = timedelta(minutes=30)  # the on-site promise; shift must outlast it


class Weekday(IntEnum):
    """ISO-like, Monday = 0 as in ``datetime.weekday()``."""

    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6


WEEKDAYS: Final = frozenset({Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI})
WEEKEND: Final = frozenset({Weekday.SAT, Weekday.SUN})


class Skill(StrEnum):
    """What a technician can be sent for."""

    DSL_LINE = "dsl_line"  # copper, local loop, DSLAM port
    LAN_SWITCH = "lan_switch"  # access switches, building LAN
    CPE = "cpe"  # modem/router at the customer
    PC = "pc"  # the customer's computer (第一篇: OS, drivers, printers)
    INSTALLATION = "installation"


# The skills a ticket needs, by kind and classification; unknown side: any field technician.
SKILLS_FOR: Final[Mapping[tuple[TicketKind, FaultSide | None], frozenset[Skill]]] = (
    MappingProxyType(
        {
            (TicketKind.FAULT, FaultSide.NETWORK): frozenset({Skill.DSL_LINE}),
            (TicketKind.FAULT, FaultSide.CUSTOMER_SIDE): frozenset({Skill.CPE}),
            (TicketKind.FAULT, FaultSide.UNKNOWN): frozenset(),
            (TicketKind.FAULT, None): frozenset(),
            (TicketKind.INSTALLATION, None): frozenset({Skill.INSTALLATION}),
            (TicketKind.COMPLAINT, None): frozenset(),
        }
    )
)


def required_skills(ticket: Ticket) -> frozenset[Skill]:
    """The skills :data:`SKILLS_FOR` asks of ``ticket`` (by kind and side, then kind alone)."""
    found = SKILLS_FOR.get((ticket.kind, ticket.side))
    if found is None:
        found = SKILLS_FOR.get((ticket.kind, None), frozenset())
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Technician:
    id: str
    name: str
    district: str
    skills: frozenset[Skill]


@dataclass(frozen=True, slots=True, kw_only=True)
class Shift:
    """One technician's recurring shift; ``end <= start`` means it ends the next day."""

    technician_id: str
    name: str
    days: frozenset[Weekday]  # the days it *starts* on
    start: time
    end: time

    def spans(self) -> Iterable[tuple[int, int]]:
        """``[start, end)`` in minutes of the local week (Monday 00:00 = 0); a Sunday-night
        shift ends past ``MINUTES_PER_WEEK``."""
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        length = end - start if end > start else end + 24 * 60 - start
        for day in sorted(self.days):
            begin = int(day) * 24 * 60 + start
            yield begin, begin + length

    def intervals(self) -> Iterable[tuple[int, int]]:
        """:meth:`spans` split at the end of the week, all within ``[0, MINUTES_PER_WEEK]``."""
        for begin, finish in self.spans():
            if finish <= MINUTES_PER_WEEK:
                yield begin, finish
            else:  # Sunday night into Monday morning
                yield begin, MINUTES_PER_WEEK
                yield 0, finish - MINUTES_PER_WEEK


@dataclass(frozen=True, slots=True, kw_only=True)
class Roster:
    technicians: tuple[Technician, ...]
    shifts: tuple[Shift, ...]
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        known = {t.id for t in self.technicians}
        if len(known) != len(self.technicians):
            raise ValueError("roster: technician ids must be unique")
        unknown = sorted({s.technician_id for s in self.shifts} - known)
        if unknown:
            raise ValueError(f"roster: shifts for unknown technicians {', '.join(unknown)}")

    def technician(self, technician_id: str) -> Technician:
        return next(t for t in self.technicians if t.id == technician_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageGap:
    """Nobody (with ``skill``) on shift in ``district`` from ``start`` to ``end``, local time."""

    district: str
    skill: Skill | None
    start_day: Weekday
    start: time
    end_day: Weekday
    end: time
    minutes: int

    def __str__(self) -> str:
        who = f" with {self.skill}" if self.skill else ""
        return (
            f"{self.district}: nobody{who} on shift {self.start_day.name} {self.start:%H:%M}"
            f" – {self.end_day.name} {self.end:%H:%M} ({self.minutes} min)"
        )


def _at(minute: int) -> tuple[Weekday, time]:
    minute %= MINUTES_PER_WEEK
    day, rest = divmod(minute, 24 * 60)
    return Weekday(day), time(rest // 60, rest % 60)


def _gaps(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    covered = sorted(intervals)
    gaps: list[tuple[int, int]] = []
    cursor = 0
    for start, end in covered:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < MINUTES_PER_WEEK:
        gaps.append((cursor, MINUTES_PER_WEEK))
    # a gap over Sunday midnight is one gap
    if len(gaps) > 1 and gaps[0][0] == 0 and gaps[-1][1] == MINUTES_PER_WEEK:
        first, last = gaps.pop(0), gaps.pop()
        gaps.append((last[0], first[1] + MINUTES_PER_WEEK))
    return gaps


def coverage_gaps(
    roster: Roster,
    *,
    districts: Iterable[str] | None = None,
    skills: Iterable[Skill] = (),
) -> tuple[CoverageGap, ...]:
    """Every stretch of the week a district (and each of ``skills``) has nobody on shift.

    ``districts`` defaults to every district a technician belongs to; a listed district with
    no technicians is one gap of the whole week.
    """
    wanted = sorted(
        set(districts) if districts is not None else {t.district for t in roster.technicians}
    )
    out: list[CoverageGap] = []
    for district in wanted:
        for skill in (None, *sorted(set(skills))):
            members = {
                t.id
                for t in roster.technicians
                if t.district == district and (skill is None or skill in t.skills)
            }
            intervals = [
                interval
                for shift in roster.shifts
                if shift.technician_id in members
                for interval in shift.intervals()
            ]
            for start, end in _gaps(intervals):
                start_day, start_time = _at(start)
                end_day, end_time = _at(end)
                out.append(
                    CoverageGap(
                        district=district,
                        skill=skill,
                        start_day=start_day,
                        start=start_time,
                        end_day=end_day,
                        end=end_time,
                        minutes=end - start,
                    )
                )
    return tuple(out)


def _week_minute(at: datetime, zone: ZoneInfo) -> int:
    local = at.astimezone(zone)
    return local.weekday() * 24 * 60 + local.hour * 60 + local.minute


def _shift_left(roster: Roster, technician_id: str, now: datetime) -> timedelta | None:
    """How long ``technician_id`` stays on shift after ``now`` (``None``: not on shift)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    zone = ZoneInfo(roster.timezone)
    local = now.astimezone(zone)
    minute = _week_minute(now, zone) + local.second / 60 + local.microsecond / 60e6
    best: float | None = None
    for shift in roster.shifts:
        if shift.technician_id != technician_id:
            continue
        for start, end in shift.spans():
            # + one week: the Monday-morning tail of a shift that began on Sunday
            for offset in (0, MINUTES_PER_WEEK):
                if start <= minute + offset < end:
                    left = end - (minute + offset)
                    best = left if best is None else max(best, left)
    return None if best is None else timedelta(minutes=best)


def on_shift(roster: Roster, now: datetime) -> tuple[Technician, ...]:
    """The technicians on shift at ``now``."""
    return tuple(t for t in roster.technicians if _shift_left(roster, t.id, now) is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    technician: Technician
    open_tickets: int
    shift_left: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchProposal:
    """The proposed technician (``None``: nobody fits) and the ranked candidates behind it."""

    technician: Technician | None
    reason: str
    candidates: tuple[Candidate, ...]


def propose_technician(
    ticket: Ticket,
    roster: Roster,
    workload: Mapping[str, int],
    now: datetime,
    *,
    skills: frozenset[Skill] | None = None,
) -> DispatchProposal:
    """An on-shift technician of the ticket's district with the needed skills.

    Ranking: a shift that outlasts the 30-minute on-site promise first, then fewest open
    tickets (``workload`` by technician id), then most shift left, then id. The dispatcher
    confirms; nothing is assigned here.
    """
    needed = required_skills(ticket) if skills is None else skills
    candidates = []
    for tech in roster.technicians:
        if tech.district != ticket.district or not needed <= tech.skills:
            continue
        left = _shift_left(roster, tech.id, now)
        if left is None:
            continue
        candidates.append(
            Candidate(technician=tech, open_tickets=workload.get(tech.id, 0), shift_left=left)
        )
    candidates.sort(
        key=lambda c: (
            c.shift_left < _ON_SITE_MIN,
            c.open_tickets,
            -c.shift_left,
            c.technician.id,
        )
    )
    skill_text = ", ".join(sorted(needed)) or "any skill"
    if not candidates:
        return DispatchProposal(
            technician=None,
            reason=(
                f"nobody in {ticket.district} with {skill_text} is on shift at "
                f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            ),
            candidates=(),
        )
    best = candidates[0]
    return DispatchProposal(
        technician=best.technician,
        reason=(
            f"{best.technician.id} ({best.technician.name}): on shift in {ticket.district} "
            f"for {int(best.shift_left.total_seconds() // 60)} more min, {skill_text}, "
            f"{best.open_tickets} open tickets; {len(candidates)} candidate(s)"
        ),
        candidates=tuple(candidates),
    )
