"""Alert rules as data and their edge-triggered evaluation (pure; ``now`` is a parameter).

A rule compares one key of an observation (a KPI, a KQI, ``state``) with a threshold::

    Rule(name="uplink_utilisation", entity_kind=EntityKind.PORT, key="port_utilisation_ratio",
         op=Comparison.GT, match={"role": "uplink"},
         levels=(Level(severity=Severity.WARNING, threshold=0.80, for_=timedelta(minutes=15),
                       clear=0.75),
                 Level(severity=Severity.CRITICAL, threshold=0.95, for_=timedelta(minutes=15),
                       clear=0.90)))

Each level has its own ``for`` (pending time before it fires) and ``clear`` threshold
(hysteresis: a firing level holds until the value crosses ``clear``). One (rule, entity)
pair is one alert whose severity is that of its worst firing level. :func:`evaluate` returns
a transition only when that alert starts, changes severity or resolves — never per poll.

Missing data holds: when an observation lacks the rule's key (or its state is ``unknown``),
a firing alert stays firing and a pending one starts its ``for`` again later.
"""

from __future__ import annotations

import math
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from alerting.model import (
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    EntityKind,
    EntityRef,
    EntityState,
    Observation,
    Severity,
    Value,
)

__all__ = [
    "DEFAULT_RULES",
    "STATE_KEY",
    "Comparison",
    "EvaluationState",
    "ImpactScope",
    "Level",
    "LevelState",
    "Rule",
    "RuleState",
    "Transition",
    "TransitionKind",
    "alert_key",
    "evaluate",
    "parse_expression",
]

STATE_KEY: Final = "state"  # a rule on this key compares Observation.state


class Comparison(StrEnum):
    """How an observed value is compared with a threshold."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="


_COMPARE: Final[Mapping[Comparison, Callable[[Any, Any], bool]]] = {
    Comparison.GT: operator.gt,
    Comparison.GE: operator.ge,
    Comparison.LT: operator.lt,
    Comparison.LE: operator.le,
    Comparison.EQ: operator.eq,
    Comparison.NE: operator.ne,
}


class ImpactScope(StrEnum):
    """What an alert of this rule takes out: its entity only, or everything behind it."""

    ENTITY = "entity"
    SUBTREE = "subtree"


@dataclass(frozen=True, slots=True, kw_only=True)
class Level:
    """One severity step of a rule: threshold, ``for`` duration and clear threshold.

    ``clear`` is the hysteresis threshold for numbers: a firing ``> 0.95`` level with
    ``clear=0.90`` holds until the value is ≤ 0.90. ``None`` clears when the condition is false.
    """

    severity: Severity
    threshold: Value
    for_: timedelta = timedelta(0)
    clear: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A rule, as parsed from configuration; see the module docstring for an example.

    ``match`` selects observations by label (``{"role": "uplink"}``); ``labels`` and
    ``annotations`` are copied onto the alert (annotations may use ``{entity}``,
    ``{entity_id}``, ``{district}``, ``{value}``, ``{threshold}``, ``{severity}``).
    """

    name: str
    entity_kind: EntityKind
    key: str
    op: Comparison
    levels: tuple[Level, ...]
    match: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    impact: ImpactScope = ImpactScope.ENTITY

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError(f"rule {self.name}: at least one level is required")
        severities = [level.severity for level in self.levels]
        if len(set(severities)) != len(severities):
            raise ValueError(f"rule {self.name}: two levels with the same severity")
        for level in self.levels:
            _check_level(self, level)
        # Worst level first: evaluation and the expression text rely on this order.
        ordered = tuple(sorted(self.levels, key=lambda lv: -SEVERITY_RANK[lv.severity]))
        object.__setattr__(self, "levels", ordered)

    def describe(self, level: Level) -> str:
        """``port_utilisation_ratio > 0.95 for 15m (clear <= 0.9)``."""
        text = f"{self.key} {self.op} {level.threshold}"
        if level.for_:
            text += f" for {_duration(level.for_)}"
        if level.clear is not None:
            below = self.op in (Comparison.GT, Comparison.GE)
            text += f" (clear {'<=' if below else '>='} {level.clear:g})"
        return text


def _check_level(rule: Rule, level: Level) -> None:
    numeric = isinstance(level.threshold, int | float)
    if not numeric and rule.op not in (Comparison.EQ, Comparison.NE):
        raise ValueError(f"rule {rule.name}: a word threshold needs == or !=")
    if level.for_ < timedelta(0):
        raise ValueError(f"rule {rule.name}: negative for duration")
    if level.clear is None:
        return
    if not numeric or rule.op in (Comparison.EQ, Comparison.NE):
        raise ValueError(f"rule {rule.name}: clear applies to numeric <, <=, >, >= only")
    assert isinstance(level.threshold, int | float)
    wrong_side = (
        level.clear > level.threshold
        if rule.op in (Comparison.GT, Comparison.GE)
        else level.clear < level.threshold
    )
    if wrong_side:
        raise ValueError(
            f"rule {rule.name}: clear {level.clear} is on the firing side of {level.threshold}"
        )


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_EXPRESSION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$")


def parse_expression(text: str) -> tuple[str, Comparison, Value]:
    """``"port_utilisation_ratio > 0.8"`` → ``("port_utilisation_ratio", GT, 0.8)``.

    For the configuration loader; raises ``ValueError`` naming the text when it does not parse.
    """
    found = _EXPRESSION.match(text)
    if found is None:
        raise ValueError(f"not an expression 'key <op> threshold': {text!r}")
    key, op, raw = found.groups()
    threshold: Value
    try:
        threshold = float(raw)
    except ValueError:
        threshold = raw.strip("'\"")
    return key, Comparison(op), threshold


def alert_key(rule: str, entity: EntityRef) -> str:
    """The dedup key of a rule's alert on one entity: ``device_down:device:agg-1``."""
    return f"{rule}:{entity.kind}:{entity.id}"


class TransitionKind(StrEnum):
    """The only moments an alert changes."""

    FIRING = "firing"
    SEVERITY_CHANGED = "severity_changed"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One edge: ``alert`` is the alert after the change, ``previous`` before it."""

    kind: TransitionKind
    alert: Alert
    previous: Alert | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelState:
    """``since``: start of the level's continuous truth; ``latched``: it has fired."""

    since: datetime | None = None
    latched: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleState:
    """The memory of one (rule, entity) pair between cycles."""

    rule: str
    entity: EntityRef
    levels: tuple[LevelState, ...]  # in the rule's level order (worst first)
    alert: Alert | None = None  # the firing alert, if any


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationState:
    """Everything :func:`evaluate` must remember, keyed by alert key. Store it as a whole."""

    entries: Mapping[str, RuleState] = field(default_factory=dict)

    def firing(self) -> tuple[Alert, ...]:
        """The alerts that fire now, ordered by key."""
        return tuple(
            entry.alert for _, entry in sorted(self.entries.items()) if entry.alert is not None
        )

    def pending(self) -> tuple[str, ...]:
        """Keys of (rule, entity) pairs whose condition holds but whose ``for`` runs."""
        return tuple(
            key
            for key, entry in sorted(self.entries.items())
            if entry.alert is None and any(lv.since is not None for lv in entry.levels)
        )


def _observed(obs: Observation, key: str) -> Value | None:
    if key == STATE_KEY:
        if obs.state is None or obs.state is EntityState.UNKNOWN:
            return None
        return obs.state.value
    value = obs.values.get(key)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _holds(rule: Rule, level: Level, value: Value, latched: bool) -> bool:
    """Is the level's condition true? A latched level uses its clear threshold instead."""
    numeric_threshold = isinstance(level.threshold, int | float)
    if numeric_threshold != isinstance(value, int | float):
        return False  # a word where a number is expected (or the reverse) is never a match
    if latched and level.clear is not None:
        assert isinstance(value, int | float)
        if rule.op in (Comparison.GT, Comparison.GE):
            return value > level.clear
        return value < level.clear
    return _COMPARE[rule.op](value, level.threshold)


class _SafeFormat(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(template: str, fields: Mapping[str, str]) -> str:
    return template.format_map(_SafeFormat(fields))


def _build_alert(
    rule: Rule, level: Level, obs: Observation, value: Value, started_at: datetime
) -> Alert:
    fields = {
        "entity": str(obs.entity),
        "entity_id": obs.entity.id,
        "district": obs.district,
        "value": f"{value:g}" if isinstance(value, float) else str(value),
        "threshold": str(level.threshold),
        "severity": level.severity.value,
    }
    return Alert(
        key=alert_key(rule.name, obs.entity),
        rule=rule.name,
        severity=level.severity,
        entity=obs.entity,
        district=obs.district,
        status=AlertStatus.FIRING,
        started_at=started_at,
        labels={**obs.labels, **rule.labels},
        annotations={name: _render(text, fields) for name, text in rule.annotations.items()},
        values={rule.key: value},
        expression=rule.describe(level),
    )


def _step(
    rule: Rule, obs: Observation, entry: RuleState | None, now: datetime
) -> tuple[RuleState, Transition | None]:
    previous_levels = entry.levels if entry else tuple(LevelState() for _ in rule.levels)
    previous_alert = entry.alert if entry else None
    value = _observed(obs, rule.key)
    if value is None:
        # No data: keep what fired, forget what was only pending.
        held = tuple(lv if lv.latched else LevelState() for lv in previous_levels)
        return RuleState(rule=rule.name, entity=obs.entity, levels=held, alert=previous_alert), None

    levels: list[LevelState] = []
    fired: Level | None = None
    for level, before in zip(rule.levels, previous_levels, strict=True):
        if not _holds(rule, level, value, before.latched):
            levels.append(LevelState())
            continue
        since = before.since or obs.time
        latched = before.latched or now - since >= level.for_
        levels.append(LevelState(since=since, latched=latched))
        if latched and fired is None:
            fired = level  # levels are worst first, so the first latched one decides
    state = RuleState(rule=rule.name, entity=obs.entity, levels=tuple(levels))

    if fired is None:
        if previous_alert is None:
            return state, None
        resolved = replace(previous_alert, status=AlertStatus.RESOLVED, resolved_at=now)
        return state, Transition(
            kind=TransitionKind.RESOLVED, alert=resolved, previous=previous_alert, at=now
        )
    if previous_alert is None:
        alert = _build_alert(rule, fired, obs, value, now)
        return replace(state, alert=alert), Transition(
            kind=TransitionKind.FIRING, alert=alert, previous=None, at=now
        )
    if previous_alert.severity is fired.severity:
        return replace(state, alert=previous_alert), None
    changed = replace(
        _build_alert(rule, fired, obs, value, previous_alert.started_at),
        notified=previous_alert.notified,
    )
    return replace(state, alert=changed), Transition(
        kind=TransitionKind.SEVERITY_CHANGED, alert=changed, previous=previous_alert, at=now
    )


def _any_level_holds(rule: Rule, obs: Observation) -> bool:
    value = _observed(obs, rule.key)
    return value is not None and any(_holds(rule, lv, value, False) for lv in rule.levels)


def _matches(rule: Rule, obs: Observation) -> bool:
    return all(obs.labels.get(name) == wanted for name, wanted in rule.match.items())


def evaluate(
    rules: Iterable[Rule],
    observations: Iterable[Observation],
    previous_state: EvaluationState,
    now: datetime,
) -> tuple[EvaluationState, tuple[Transition, ...]]:
    """Apply one cycle of observations to the rules; return the new state and the edges.

    Entities without an observation this cycle keep their state untouched. When an entity
    has several observations, the latest one counts. Same input twice → no second transition.
    """
    by_kind: dict[EntityKind, list[Rule]] = defaultdict(list)
    for rule in rules:
        by_kind[rule.entity_kind].append(rule)
    latest: dict[EntityRef, Observation] = {}
    for obs in observations:
        seen = latest.get(obs.entity)
        if seen is None or obs.time >= seen.time:
            latest[obs.entity] = obs

    entries = dict(previous_state.entries)
    remembered = {entry.entity for entry in entries.values()}
    transitions: list[Transition] = []
    for entity, obs in latest.items():
        for rule in by_kind.get(entity.kind, ()):
            if not _matches(rule, obs):
                continue
            if entity not in remembered and not _any_level_holds(rule, obs):
                continue  # the common case on a healthy network: nothing to remember
            key = alert_key(rule.name, entity)
            state, transition = _step(rule, obs, entries.get(key), now)
            if state.alert is None and all(lv.since is None for lv in state.levels):
                entries.pop(key, None)  # nothing to remember
            else:
                entries[key] = state
            if transition is not None:
                transitions.append(transition)
    transitions.sort(key=lambda t: t.alert.key)
    return EvaluationState(entries=entries), tuple(transitions)


# --- built-in rules -------------------------------------------------------------------------

_M = timedelta(minutes=1)


def _level(
    severity: Severity, threshold: Value, for_: timedelta, clear: float | None = None
) -> Level:
    return Level(severity=severity, threshold=threshold, for_=for_, clear=clear)


def _summary(text: str) -> Mapping[str, str]:
    return {"summary": text}


DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    Rule(
        name="device_down",
        entity_kind=EntityKind.DEVICE,
        key=STATE_KEY,
        op=Comparison.EQ,
        levels=(
            _level(Severity.WARNING, "down", 1 * _M),  # grace: one missed poll is not an outage
            _level(Severity.CRITICAL, "down", 4 * _M),
        ),
        impact=ImpactScope.SUBTREE,
        annotations=_summary("device {entity_id} is down"),
    ),
    Rule(
        name="uplink_port_down",
        entity_kind=EntityKind.PORT,
        key=STATE_KEY,
        op=Comparison.EQ,
        match={"role": "uplink"},
        levels=(_level(Severity.MAJOR, "down", 1 * _M),),
        impact=ImpactScope.SUBTREE,
        annotations=_summary("uplink {entity_id} is down"),
    ),
    Rule(
        name="uplink_utilisation",
        entity_kind=EntityKind.PORT,
        key="port_utilisation_ratio",
        op=Comparison.GT,
        match={"role": "uplink"},
        levels=(
            _level(Severity.WARNING, 0.80, 15 * _M, clear=0.75),
            _level(Severity.CRITICAL, 0.95, 15 * _M, clear=0.90),
        ),
        impact=ImpactScope.SUBTREE,
        annotations=_summary("uplink {entity_id} at {value} utilisation"),
    ),
    Rule(
        name="snr_margin_low",
        entity_kind=EntityKind.LINE,
        key="dsl_snr_margin_down_db",
        op=Comparison.LT,
        levels=(_level(Severity.MINOR, 3.0, 15 * _M, clear=4.0),),
        annotations=_summary("line {entity_id} downstream SNR margin {value} dB"),
    ),
    Rule(
        name="line_unstable",
        entity_kind=EntityKind.LINE,
        key="dsl_stability_class",
        op=Comparison.EQ,
        levels=(_level(Severity.MINOR, "unstable", timedelta(0)),),
        annotations=_summary("line {entity_id} is unstable"),
    ),
    Rule(
        name="dslam_retrain_storm",
        entity_kind=EntityKind.DEVICE,
        key="dslam_retrained_lines_ratio",  # share of in-service lines retrained in the bin
        op=Comparison.GT,
        levels=(_level(Severity.MAJOR, 0.20, timedelta(0), clear=0.10),),
        impact=ImpactScope.SUBTREE,
        annotations=_summary("{value} of the lines on {entity_id} retrained"),
    ),
    Rule(
        name="dslam_wide_area_event",
        entity_kind=EntityKind.DEVICE,
        key="dslam_wide_area_event",  # 1 in a 15-minute bin the KPI engine flags, else 0
        op=Comparison.GE,
        levels=(_level(Severity.MAJOR, 1.0, timedelta(0), clear=0.5),),
        impact=ImpactScope.SUBTREE,
        annotations=_summary("wide-area event on {entity_id}"),
    ),
    Rule(
        name="port_error_ratio",
        entity_kind=EntityKind.PORT,
        key="port_in_error_ratio",  # CRC/alignment errors ÷ received frames
        op=Comparison.GT,
        levels=(
            _level(Severity.WARNING, 0.001, 15 * _M, clear=0.0005),
            _level(Severity.MAJOR, 0.01, 15 * _M, clear=0.005),
        ),
        annotations=_summary("port {entity_id} error ratio {value}"),
    ),
    Rule(
        name="sla_status",
        entity_kind=EntityKind.SLA,
        key="sla_status",
        op=Comparison.EQ,
        levels=(
            _level(Severity.WARNING, "at_risk", timedelta(0)),
            _level(Severity.CRITICAL, "breached", timedelta(0)),
        ),
        annotations=_summary("SLA {entity_id} is {value}"),
    ),
    Rule(
        name="district_silent",
        entity_kind=EntityKind.DISTRICT,
        key=STATE_KEY,
        op=Comparison.EQ,
        # Central marks a district unknown only after its own silence timeout, so no grace here.
        levels=(_level(Severity.MAJOR, "down", timedelta(0)),),
        annotations=_summary("district {entity_id} is silent"),
    ),
    Rule(
        name="outbox_backlog",
        entity_kind=EntityKind.DISTRICT,
        key="outbox_oldest_age_seconds",
        op=Comparison.GT,
        levels=(
            _level(Severity.WARNING, 900.0, 5 * _M, clear=300.0),  # 15 min behind
            _level(Severity.CRITICAL, 43_200.0, timedelta(0), clear=21_600.0),  # 12 h of 72 h
        ),
        annotations=_summary("district {entity_id} outbox {value} s behind"),
    ),
)
