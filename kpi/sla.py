"""SLA evaluation: targets on KQIs per SLA class, reporting periods, error budgets and status.

Availability SLAs are computed from timelines (``kpi.intervals``) by summing seconds over
the period; the SLI is never an average of per-entity or per-day percentages.

Status (see ``docs/kpi.md`` → "The at-risk rule"):

* ``breached`` — the downtime already exceeds the period's error budget. Downtime only
  grows, so for availability this is final even before the period ends.
* ``at_risk`` — not breached, and at least one of:
  1. the unknown seconds, were they all downtime, would exceed the budget (the data
     cannot prove the SLA was met — also in a closed period);
  2. the period is still open and the burn rate exceeds ``AtRiskPolicy.burn_rate``
     (default 1.0: at the rate so far the budget runs out before the period ends);
  3. the period is still open and less than ``AtRiskPolicy.remaining_ratio`` (default
     25 %) of the budget is left.
* ``met`` — otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from kpi.definitions import BY_KEY, Direction, KqiKey
from kpi.dsl_line import uas_adjustment
from kpi.intervals import (
    STATES,
    State,
    TimeWindow,
    Windows,
    epoch_s,
    remove,
    report_timeline,
    restrict,
    state_seconds,
    to_datetime,
)

__all__ = [
    "DEFAULT_TIME_ZONE",
    "AtRiskPolicy",
    "AvailabilitySla",
    "KqiSla",
    "PeriodKind",
    "ReportingPeriod",
    "ServiceHours",
    "SlaScope",
    "SlaStatus",
    "SlaTarget",
    "WeeklySchedule",
    "evaluate_availability",
    "evaluate_kqi",
    "scheduled_seconds",
    "sla_status",
]

DEFAULT_TIME_ZONE: Final = "Asia/Shanghai"


class SlaScope(StrEnum):
    """Internal: district organisation → central NOC. External: towards a customer class."""

    INTERNAL = "internal"
    EXTERNAL = "external"


class PeriodKind(StrEnum):
    """Calendar reporting periods, in the period's time zone (weeks start on Monday)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class SlaStatus(StrEnum):
    """Verdict for one target and period; the at-risk rule is in the module docstring."""

    MET = "met"
    AT_RISK = "at_risk"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportingPeriod:
    """Calendar periods in a time zone: ``ReportingPeriod()`` is a month in Asia/Shanghai.

    ``ReportingPeriod(kind=PeriodKind.WEEK, time_zone="Europe/Berlin")``. Periods are
    bounded by local midnights, so a month in a DST zone is an hour shorter or longer
    than the same month in a DST-free zone.
    """

    kind: PeriodKind = PeriodKind.MONTH
    time_zone: str = DEFAULT_TIME_ZONE

    @property
    def zone(self) -> ZoneInfo:
        """The period's time zone."""
        return ZoneInfo(self.time_zone)

    def _start_date(self, day: date) -> date:
        if self.kind is PeriodKind.MONTH:
            return day.replace(day=1)
        if self.kind is PeriodKind.WEEK:
            return day - timedelta(days=day.weekday())
        return day

    def _next_date(self, start: date) -> date:
        if self.kind is PeriodKind.MONTH:
            return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return start + timedelta(days=7 if self.kind is PeriodKind.WEEK else 1)

    def _midnight(self, day: date) -> int:
        return epoch_s(datetime(day.year, day.month, day.day, tzinfo=self.zone))

    def containing(self, instant: int) -> TimeWindow:
        """The period containing ``instant`` (epoch seconds)."""
        start = self._start_date(to_datetime(instant).astimezone(self.zone).date())
        return TimeWindow(start=self._midnight(start), end=self._midnight(self._next_date(start)))

    def preceding(self, period: TimeWindow) -> TimeWindow:
        """The period just before ``period`` (e.g. last month, for the monthly report)."""
        return self.containing(period.start - 1)

    def touching(self, instants: Iterable[int]) -> tuple[TimeWindow, ...]:
        """Distinct periods containing any of ``instants``: the SLAs late data makes dirty."""
        seen = {self.containing(int(t)) for t in instants}
        return tuple(sorted(seen, key=lambda w: w.start))


_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE: Final = re.compile(
    r"^\s*(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+"
    r"(?P<h1>\d{2}):(?P<m1>\d{2})-(?P<h2>\d{2}):(?P<m2>\d{2})\s*$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceHours:
    """Local service time on one weekday (0 = Monday), minutes after midnight, end ≤ 1440."""

    weekday: int
    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not (0 <= self.weekday <= 6 and 0 <= self.start_min < self.end_min <= 1440):
            raise ValueError(f"invalid service hours {self!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklySchedule:
    """Weekly service schedule in local time: ``WeeklySchedule.parse("mon-fri 08:00-18:00")``.

    Only scheduled time counts towards an SLA. A local time skipped by a DST change is
    read with the offset before the change (``zoneinfo`` fold=0).
    """

    hours: tuple[ServiceHours, ...]

    @classmethod
    def parse(cls, *specs: str) -> WeeklySchedule:
        """From ``"mon-fri 08:00-18:00"``, ``"sat 09:00-12:00"``, ``"mon-sun 00:00-24:00"``."""
        hours: list[ServiceHours] = []
        for spec in specs:
            match = _HOURS_RE.match(spec.lower())
            if match is None or match["d1"] not in _DAYS or (match["d2"] or "mon") not in _DAYS:
                raise ValueError(f"bad schedule {spec!r}; expected e.g. 'mon-fri 08:00-18:00'")
            first = _DAYS.index(match["d1"])
            last = _DAYS.index(match["d2"]) if match["d2"] else first
            start = int(match["h1"]) * 60 + int(match["m1"])
            end = int(match["h2"]) * 60 + int(match["m2"])
            hours.extend(
                ServiceHours(weekday=day, start_min=start, end_min=end)
                for day in range(first, last + 1)
            )
        return cls(hours=tuple(hours))

    def windows(self, window: TimeWindow, time_zone: str) -> tuple[TimeWindow, ...]:
        """Scheduled UTC windows within ``window`` (merged where they touch)."""
        zone = ZoneInfo(time_zone)
        day = to_datetime(window.start).astimezone(zone).date() - timedelta(days=1)
        last = to_datetime(window.end).astimezone(zone).date()
        spans: list[tuple[int, int]] = []
        while day <= last:
            midnight = datetime(day.year, day.month, day.day)
            for h in self.hours:
                if h.weekday != day.weekday():
                    continue
                # wall-clock arithmetic, then the zone's offset at that wall time
                s = epoch_s((midnight + timedelta(minutes=h.start_min)).replace(tzinfo=zone))
                e = epoch_s((midnight + timedelta(minutes=h.end_min)).replace(tzinfo=zone))
                s, e = max(s, window.start), min(e, window.end)
                if e > s:
                    spans.append((s, e))
            day += timedelta(days=1)
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return tuple(TimeWindow(start=s, end=e) for s, e in merged)


@dataclass(frozen=True, slots=True, kw_only=True)
class AtRiskPolicy:
    """When a not-yet-breached SLA is reported ``at_risk`` (rules in the module docstring)."""

    burn_rate: float = 1.0
    remaining_ratio: float = 0.25
    unknown_counts_against: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaTarget:
    """One SLO on one KQI for one SLA class.

    ``SlaTarget(kqi=KqiKey.LINE_AVAILABILITY, sla_class="enterprise", scope=SlaScope.EXTERNAL,
    objective=0.999, schedule=WeeklySchedule.parse("mon-fri 08:00-18:00"))``.
    ``objective`` is the bound on the KQI value; which side is good comes from the
    catalogue's direction (≥ for higher-is-better, ≤ for lower-is-better).
    """

    kqi: KqiKey
    sla_class: str
    scope: SlaScope
    objective: float
    period: ReportingPeriod = field(default_factory=ReportingPeriod)
    schedule: WeeklySchedule | None = None
    exclusions: tuple[TimeWindow, ...] = ()
    at_risk: AtRiskPolicy = field(default_factory=AtRiskPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class AvailabilitySla:
    """An availability SLA over ``[period.start, evaluated_until)``; seconds sum over entities."""

    target: SlaTarget
    period: TimeWindow
    evaluated_until: int
    entities: int
    sli: float | None  # None when nothing was scheduled yet
    uptime_s: int
    downtime_s: int
    unknown_s: int
    maintenance_s: int
    excluded_s: int  # removed by exclusions (any state)
    scheduled_s: int  # uptime + downtime + unknown so far
    scheduled_period_s: int  # … and for the whole period, including the rest of it
    error_budget_total_s: float
    error_budget_used_s: int
    error_budget_remaining_s: float
    error_budget_remaining_ratio: float
    burn_rate: float | None
    status: SlaStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class KqiSla:
    """A non-time KQI (ratio of lines/tickets, a percentile…) against its objective."""

    target: SlaTarget
    period: TimeWindow
    evaluated_until: int
    sli: float | None
    good: int | None
    total: int | None
    error_budget_total: float | None  # in events, for ratio KQIs with counts
    error_budget_used: int | None
    error_budget_remaining: float | None
    status: SlaStatus


def sla_status(
    *,
    budget_total: float,
    budget_used: float,
    unknown: float,
    period_open: bool,
    burn_rate: float | None,
    policy: AtRiskPolicy,
) -> SlaStatus:
    """The met / at_risk / breached verdict (rules in the module docstring)."""
    if budget_used > budget_total:
        return SlaStatus.BREACHED
    if policy.unknown_counts_against and budget_used + unknown > budget_total:
        return SlaStatus.AT_RISK
    if period_open:
        if burn_rate is not None and burn_rate > policy.burn_rate:
            return SlaStatus.AT_RISK
        if _remaining_ratio(budget_total, budget_used) < policy.remaining_ratio:
            return SlaStatus.AT_RISK
    return SlaStatus.MET


def _remaining_ratio(total: float, used: float) -> float:
    if total > 0:
        return (total - used) / total
    return 1.0 if used == 0 else 0.0


def _exact(x: float) -> Fraction:
    """The decimal a config value was written as (0.999, not 0.99899999…)."""
    return Fraction(repr(x))


def scheduled_seconds(
    timeline: pd.DataFrame,
    *,
    window: TimeWindow,
    target: SlaTarget,
    maintenance: Windows | None = None,
    excluded: pd.DataFrame | None = None,
    entities: Sequence[object] | pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-entity seconds per state inside ``window`` that count for ``target``.

    Pipeline: clip → uncovered time unknown → maintenance → service schedule → exclusions
    (the target's global ones and the per-entity ``excluded`` frame). Returns the final
    timeline and its :func:`~kpi.intervals.state_seconds` with an extra ``excluded`` column.
    """
    tl = report_timeline(timeline, window, maintenance=maintenance, entities=entities)
    if target.schedule is not None:
        tl = restrict(tl, target.schedule.windows(window, target.period.time_zone))
    before = state_seconds(tl).sum(axis=1)
    if target.exclusions:
        tl = remove(tl, target.exclusions)
    if excluded is not None and len(excluded):
        tl = remove(tl, excluded)
    seconds = state_seconds(tl).reindex(before.index, fill_value=0)
    seconds["excluded"] = before - seconds.sum(axis=1)
    return tl, seconds


def evaluate_availability(
    timeline: pd.DataFrame,
    *,
    target: SlaTarget,
    period: TimeWindow,
    now: int,
    maintenance: Windows | None = None,
    excluded: pd.DataFrame | None = None,
    entities: Sequence[object] | pd.Series | None = None,
    uas_bins: pd.DataFrame | None = None,
) -> AvailabilitySla:
    """Evaluate an availability target over ``period`` as seen at ``now``.

    ``timeline`` holds the entities in the target's scope (one enterprise line, or every
    line of a district and SLA class). Time after ``now`` is not evaluated; the part of the
    period still to come only sizes the error budget (scheduled time minus planned
    maintenance and exclusions). ``uas_bins`` (DSL lines: ``entity, start, end, uas_s``)
    turns unavailable seconds the modem counted into downtime where the timeline did not
    already say down (:func:`kpi.dsl_line.uas_adjustment`); UAS in maintenance, outside
    the schedule or in excluded time does not count.
    """
    if now < period.start:
        raise ValueError("period starts after now")
    until = min(now, period.end)
    tl, seconds = scheduled_seconds(
        timeline,
        window=TimeWindow(start=period.start, end=until),
        target=target,
        maintenance=maintenance,
        excluded=excluded,
        entities=entities,
    )
    if uas_bins is not None and len(uas_bins):
        cols = [s.value for s in STATES]
        delta = uas_adjustment(tl, uas_bins).reindex(index=seconds.index, fill_value=0)
        seconds[cols] = seconds[cols] + delta[cols]
    totals = {s: int(seconds[s.value].sum()) for s in STATES}
    up, down, unknown = totals[State.UP], totals[State.DOWN], totals[State.UNKNOWN]
    scheduled = up + down + unknown
    future = _future_scheduled(
        list(seconds.index),
        TimeWindow(start=until, end=period.end),
        target=target,
        maintenance=maintenance,
        excluded=excluded,
    )
    allowed = 1 - _exact(target.objective)
    budget_total = float(allowed * (scheduled + future))
    burn = float(Fraction(down, scheduled) / allowed) if scheduled and allowed else None
    return AvailabilitySla(
        target=target,
        period=period,
        evaluated_until=until,
        entities=len(seconds),
        sli=float(1 - Fraction(down, scheduled)) if scheduled else None,
        uptime_s=up,
        downtime_s=down,
        unknown_s=unknown,
        maintenance_s=totals[State.MAINTENANCE],
        excluded_s=int(seconds["excluded"].sum()),
        scheduled_s=scheduled,
        scheduled_period_s=scheduled + future,
        error_budget_total_s=budget_total,
        error_budget_used_s=down,
        error_budget_remaining_s=budget_total - down,
        error_budget_remaining_ratio=_remaining_ratio(budget_total, down),
        burn_rate=burn,
        status=sla_status(
            budget_total=budget_total,
            budget_used=down,
            unknown=unknown,
            period_open=until < period.end,
            burn_rate=burn,
            policy=target.at_risk,
        ),
    )


def _future_scheduled(
    entities: list[object],
    rest: TimeWindow,
    *,
    target: SlaTarget,
    maintenance: Windows | None,
    excluded: pd.DataFrame | None,
) -> int:
    """Scheduled seconds still to come in the period, summed over entities."""
    if rest.seconds == 0 or not entities:
        return 0
    placeholder = pd.DataFrame(
        {
            "entity": pd.Series(entities, dtype=object),
            "start": np.full(len(entities), rest.start, dtype=np.int64),
            "end": np.full(len(entities), rest.end, dtype=np.int64),
            "state": State.UP.value,
        }
    )
    _, seconds = scheduled_seconds(
        placeholder, window=rest, target=target, maintenance=maintenance, excluded=excluded
    )
    return int(seconds[State.UP.value].sum())


def evaluate_kqi(
    target: SlaTarget,
    *,
    period: TimeWindow,
    now: int,
    value: float | None,
    good: int | None = None,
    total: int | None = None,
) -> KqiSla:
    """Evaluate a non-time KQI (stable-line ratio, repair-time p95 …) against its objective.

    A closed period is ``met`` or ``breached`` by comparing ``value`` with the objective in
    the catalogue's direction. In an open period a miss is ``at_risk`` (later events can
    still recover it) and so is a pass with less than ``remaining_ratio`` of the error
    budget left. With ``good``/``total`` counts (ratio KQIs) the budget is
    ``(1 − objective) × total`` events.
    """
    direction = BY_KEY[target.kqi.value].direction
    until = min(now, period.end)
    period_open = until < period.end
    budget_total: float | None = None
    used: int | None = None
    remaining: float | None = None
    if good is not None and total is not None and direction is Direction.HIGHER_IS_BETTER:
        budget_total = float((1 - _exact(target.objective)) * total)
        used = total - good
        remaining = budget_total - used
    if value is None:
        passed = False
    elif direction is Direction.LOWER_IS_BETTER:
        passed = value <= target.objective
    else:
        passed = value >= target.objective
    if passed:
        low = (
            budget_total is not None
            and used is not None
            and _remaining_ratio(budget_total, used) < target.at_risk.remaining_ratio
        )
        status = SlaStatus.AT_RISK if period_open and low else SlaStatus.MET
    else:
        status = SlaStatus.AT_RISK if period_open else SlaStatus.BREACHED
    return KqiSla(
        target=target,
        period=period,
        evaluated_until=until,
        sli=value,
        good=good,
        total=total,
        error_budget_total=budget_total,
        error_budget_used=used,
        error_budget_remaining=remaining,
        status=status,
    )
