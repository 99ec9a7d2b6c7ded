"""Workflow templates as data: parsing ``alerting/workflows/*.yaml``, step checks, SLA timers.

A template says, for one ticket kind, which lifecycle edges it uses, which fields each step
needs (required values, checklist items that must be true, conditional rules such as "paid
work needs a quote and consent"), the holds it knows (``waiting_for_customer``) and its
timers. Parsing is pure (:func:`parse_template` takes text); every problem is reported as
``FILE:LINE: field: message``. :func:`load_builtin` reads the shipped package data once.

Timers (:func:`timer_statuses`, :func:`timers_due`, :func:`next_deadline`) replay a ticket's
history: a timer starts at the latest entry into its ``start`` state, stops at the first
entry into a ``stop`` state (or ``closed``/``cancelled``) after that, and does not run while
the ticket is in a ``pause`` state or hold. It is breached strictly *after* its deadline:
arriving at 30:00 of a 30-minute promise is on time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Final

import yaml

from alerting.tickets import (
    LIFECYCLE,
    TERMINAL_STATES,
    EventKind,
    FieldValue,
    Priority,
    Ticket,
    TicketKind,
    TicketState,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "Breach",
    "FieldSpec",
    "FieldType",
    "PauseRule",
    "Step",
    "StepRule",
    "TimerSpec",
    "TimerStatus",
    "WorkflowError",
    "WorkflowProblem",
    "WorkflowTemplate",
    "load_builtin",
    "next_deadline",
    "parse_duration",
    "parse_template",
    "timer_statuses",
    "timers_due",
]

# Shipped with the package (alerting/workflows/); the name is the template's ``name``.
BUILTIN_TEMPLATES: Final[tuple[str, ...]] = ("broadband_fault", "installation", "complaint")

SERVICE_HOURS: Final = "7x24"  # the only calendar: timers run on wall-clock time


class FieldType(StrEnum):
    """What a workflow field holds."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOL = "bool"
    DATETIME = "datetime"
    CHOICE = "choice"


_ARTICLE: Final[Mapping[FieldType, str]] = MappingProxyType(
    {FieldType.INTEGER: "an integer", FieldType.NUMBER: "a number"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One declared field: ``{type: number, min: 0}`` or ``{type: choice, choices: [a, b]}``."""

    name: str
    type: FieldType
    choices: tuple[str, ...] = ()
    min: float | None = None

    def coerce(self, value: object) -> FieldValue:
        """The value as this field's type; ``ValueError`` says why it is not one."""
        match self.type:
            case FieldType.TEXT:
                if not isinstance(value, str) or not value.strip():
                    raise ValueError("must be non-empty text")
                return value
            case FieldType.BOOL:
                if not isinstance(value, bool):
                    raise ValueError("must be true or false")
                return value
            case FieldType.INTEGER | FieldType.NUMBER:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"must be {_ARTICLE[self.type]}")
                if self.type is FieldType.INTEGER and not float(value).is_integer():
                    raise ValueError("must be an integer")
                number: int | float = int(value) if self.type is FieldType.INTEGER else value
                if self.min is not None and number < self.min:
                    raise ValueError(f"must be at least {self.min:g}")
                return number
            case FieldType.DATETIME:
                if isinstance(value, str):
                    try:
                        value = datetime.fromisoformat(value)
                    except ValueError:
                        raise ValueError("must be an ISO 8601 time") from None
                if not isinstance(value, datetime) or value.tzinfo is None:
                    raise ValueError("must be a timezone-aware time")
                return value
            case FieldType.CHOICE:
                if value not in self.choices:
                    raise ValueError(f"must be one of {', '.join(self.choices)}")
                assert isinstance(value, str)
                return value
        raise AssertionError(self.type)  # pragma: no cover - exhaustive match


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRule:
    """``when`` all these fields equal these values, ``required``/``checklist`` apply, or refuse."""

    when: Mapping[str, FieldValue]
    required: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()
    refuse: bool = False
    message: str = ""

    def applies(self, fields: Mapping[str, FieldValue]) -> bool:
        return all(fields.get(name) == value for name, value in self.when.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """What entering ``state`` needs: fields with a value, checklist items that are true, rules."""

    state: TicketState
    required: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()
    rules: tuple[StepRule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseRule:
    """A timer does not run while the ticket is in one of ``states`` or on one of ``holds``."""

    states: frozenset[TicketState] = frozenset()
    holds: frozenset[str] = frozenset()

    def pauses(self, state: TicketState, hold: str | None) -> bool:
        return state in self.states or (hold is not None and hold in self.holds)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerSpec:
    """A promise with a deadline. Exactly one of ``target``, ``target_by_priority`` and
    ``target_days_field`` gives its length; ``appointment_field`` (a datetime field) replaces
    the deadline by the time agreed with the customer when it was agreed in time."""

    name: str
    description: str
    start: TicketState
    stop: frozenset[TicketState]
    target: timedelta | None = None
    target_by_priority: Mapping[Priority, timedelta] = field(default_factory=dict)
    target_days_field: str | None = None
    appointment_field: str | None = None
    pause: PauseRule = field(default_factory=PauseRule)

    def target_for(self, ticket: Ticket) -> timedelta | None:
        """The timer's length for this ticket (``None``: its days field is not recorded)."""
        if self.target is not None:
            return self.target
        if self.target_days_field is not None:
            days = ticket.fields.get(self.target_days_field)
            if isinstance(days, int) and not isinstance(days, bool):
                return timedelta(days=days)
            return None
        return self.target_by_priority[ticket.priority]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowTemplate:
    """One service process as data (see ``alerting/workflows/*.yaml``)."""

    name: str
    kind: TicketKind
    title: str
    source: str = ""
    links_required: bool = False
    holds: frozenset[str] = frozenset()
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    transitions: Mapping[TicketState, frozenset[TicketState]] = field(default_factory=dict)
    steps: Mapping[TicketState, Step] = field(default_factory=dict)
    timers: tuple[TimerSpec, ...] = ()

    def allowed(self, state: TicketState) -> frozenset[TicketState]:
        """The states this template lets a ticket go to from ``state``."""
        return self.transitions.get(state, frozenset())

    def coerce_fields(
        self, fields: Mapping[str, object]
    ) -> tuple[dict[str, FieldValue], list[str]]:
        """The fields as their declared types, and a problem per unknown or ill-typed field."""
        coerced: dict[str, FieldValue] = {}
        problems: list[str] = []
        for name, value in fields.items():
            spec = self.fields.get(name)
            if spec is None:
                problems.append(f"{name}: not a field of template {self.name}")
                continue
            try:
                coerced[name] = spec.coerce(value)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        return coerced, problems

    def step_problems(self, state: TicketState, fields: Mapping[str, FieldValue]) -> list[str]:
        """Why the ticket, with ``fields`` recorded, may not enter ``state`` (empty: it may)."""
        step = self.steps.get(state)
        if step is None:
            return []
        problems = [
            f"{name}: required to enter {state}" for name in step.required if name not in fields
        ]
        problems += [
            f"{name}: checklist item must be done (true) to enter {state}"
            for name in step.checklist
            if fields.get(name) is not True
        ]
        for rule in step.rules:
            if not rule.applies(fields):
                continue
            if rule.refuse:
                problems.append(rule.message or f"refused by a rule of step {state}")
                continue
            missing = [n for n in rule.required if n not in fields]
            missing += [n for n in rule.checklist if fields.get(n) is not True]
            if missing:
                problems.append(f"{rule.message} (missing: {', '.join(missing)})")
        return problems


# --------------------------------------------------------------------------- timers


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerStatus:
    """One timer of one ticket at ``now``.

    ``deadline`` is exact once the timer has stopped or breached, and a projection (pauses so
    far, none to come) while it runs; ``None`` when the length is not known yet.
    """

    timer: str
    started_at: datetime
    stopped_at: datetime | None
    target: timedelta | None
    deadline: datetime | None
    active: timedelta  # running time so far, pauses excluded
    paused: bool  # paused at ``now``
    appointment: bool  # the deadline is an agreed appointment
    breached: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Breach:
    """A timer went past its deadline; the caller raises the alert and the escalation webhook."""

    ticket_id: str
    timer: str
    description: str
    started_at: datetime
    deadline: datetime
    priority: Priority
    district: str
    overdue: timedelta  # at ``now`` (or at the stop, when it stopped late)

    @property
    def key(self) -> str:
        """Stable per timer cycle, for deduplication downstream."""
        return f"{self.ticket_id}:{self.timer}:{self.started_at.isoformat()}"


@dataclass(frozen=True, slots=True)
class _Span:
    start: datetime
    end: datetime
    state: TicketState
    hold: str | None


def _spans(ticket: Ticket, since: datetime, until: datetime) -> Iterator[_Span]:
    """The ticket's (state, hold) over ``[since, until)``, from its history."""
    events = ticket.history
    for index, event in enumerate(events):
        start = max(event.at, since)
        end = events[index + 1].at if index + 1 < len(events) else until
        end = min(end, until)
        if end > start:
            yield _Span(start, end, event.state, event.hold)


def _cycle(
    ticket: Ticket, spec: TimerSpec, now: datetime
) -> tuple[datetime, datetime | None] | None:
    """(start, stop) of the timer's current cycle at ``now``; ``None`` if it never started."""
    started: datetime | None = None
    stopped: datetime | None = None
    for event in ticket.history:
        if event.at > now:
            break
        entered = event.kind is EventKind.CREATED or (
            event.kind is EventKind.TRANSITIONED and event.from_state != event.state
        )
        if not entered:
            continue
        if event.state is spec.start:
            started, stopped = event.at, None
        elif (
            started is not None
            and stopped is None
            and (event.state in spec.stop or event.state in TERMINAL_STATES)
        ):
            stopped = event.at
    return None if started is None else (started, stopped)


def _appointment(
    ticket: Ticket, spec: TimerSpec, default_deadline: datetime | None
) -> datetime | None:
    """The agreed appointment, if it was recorded no later than the default deadline."""
    if spec.appointment_field is None:
        return None
    for event in reversed(ticket.history):
        value = event.fields.get(spec.appointment_field)
        if isinstance(value, datetime):
            if default_deadline is not None and event.at > default_deadline:
                return None  # agreed after the promise was already broken
            return value
    return None


def _status(ticket: Ticket, spec: TimerSpec, now: datetime) -> TimerStatus | None:
    cycle = _cycle(ticket, spec, now)
    if cycle is None:
        return None
    started, stopped = cycle
    end = stopped if stopped is not None else now
    target = spec.target_for(ticket)
    active = timedelta(0)
    deadline: datetime | None = None
    paused_now = False
    for span in _spans(ticket, started, end):
        if spec.pause.pauses(span.state, span.hold):
            continue
        length = span.end - span.start
        if target is not None and deadline is None and active + length >= target:
            deadline = span.start + (target - active)
        active += length
    if stopped is None:
        last = [event for event in ticket.history if event.at <= now][-1]
        paused_now = spec.pause.pauses(last.state, last.hold)
    if target is not None and deadline is None:
        # not reached yet: project from now (or from the stop) with no further pause
        deadline = end + (target - active)
    appointment = _appointment(ticket, spec, deadline)
    if appointment is not None:
        deadline = appointment
    breached = deadline is not None and end > deadline
    return TimerStatus(
        timer=spec.name,
        started_at=started,
        stopped_at=stopped,
        target=target,
        deadline=deadline,
        active=active,
        paused=paused_now,
        appointment=appointment is not None,
        breached=breached,
    )


def timer_statuses(
    ticket: Ticket, template: WorkflowTemplate, now: datetime
) -> tuple[TimerStatus, ...]:
    """Every timer of ``template`` that has started on ``ticket`` by ``now``."""
    statuses = (_status(ticket, spec, now) for spec in template.timers)
    return tuple(status for status in statuses if status is not None)


def _recorded(ticket: Ticket) -> set[tuple[str, str]]:
    return {
        (event.details.get("timer", ""), event.details.get("timer_started_at", ""))
        for event in ticket.history
        if event.kind is EventKind.BREACHED
    }


def timers_due(ticket: Ticket, template: WorkflowTemplate, now: datetime) -> tuple[Breach, ...]:
    """Breaches at ``now`` not yet recorded with ``tickets.mark_breached`` (edge-triggered)."""
    recorded = _recorded(ticket)
    descriptions = {spec.name: spec.description for spec in template.timers}
    breaches = []
    for status in timer_statuses(ticket, template, now):
        if not status.breached or status.deadline is None:
            continue
        if (status.timer, status.started_at.isoformat()) in recorded:
            continue
        end = status.stopped_at if status.stopped_at is not None else now
        breaches.append(
            Breach(
                ticket_id=ticket.id,
                timer=status.timer,
                description=descriptions[status.timer],
                started_at=status.started_at,
                deadline=status.deadline,
                priority=ticket.priority,
                district=ticket.district,
                overdue=end - status.deadline,
            )
        )
    return tuple(breaches)


def next_deadline(ticket: Ticket, template: WorkflowTemplate, now: datetime) -> datetime | None:
    """The earliest deadline of a running, unpaused, unbreached timer: when to look again."""
    deadlines = [
        status.deadline
        for status in timer_statuses(ticket, template, now)
        if status.stopped_at is None
        and not status.paused
        and not status.breached
        and status.deadline is not None
    ]
    return min(deadlines, default=None)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class WorkflowProblem:
    """One located problem in a template file: ``file:line: field: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


class WorkflowError(ValueError):
    """Raised when a workflow template is invalid; carries every problem found."""

    def __init__(self, problems: list[WorkflowProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))


_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS: Final[Mapping[str, str]] = MappingProxyType(
    {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
)


def parse_duration(text: str) -> timedelta:
    """``"30m"`` → 30 minutes; units s, m, h, d; ``ValueError`` otherwise."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 30m, 8h or 3d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NULL_TAG = "tag:yaml.org,2002:null"

_TOP_KEYS: Final = frozenset(
    {
        "name",
        "kind",
        "title",
        "source",
        "service_hours",
        "links_required",
        "holds",
        "fields",
        "transitions",
        "steps",
        "timers",
    }
)
_STEP_KEYS: Final = frozenset({"required", "checklist", "rules"})
_RULE_KEYS: Final = frozenset({"when", "required", "checklist", "refuse", "message"})
_TIMER_KEYS: Final = frozenset(
    {
        "description",
        "start",
        "stop",
        "target",
        "target_by_priority",
        "target_days_field",
        "appointment_field",
        "pause",
    }
)
_FIELD_KEYS: Final = frozenset({"type", "choices", "min"})


class _Reader:
    """Walks the composed YAML nodes, collecting problems with their lines."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[WorkflowProblem] = []

    def problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        line = int(node.start_mark.line) + 1 if node is not None else None
        self.problems.append(WorkflowProblem(self.source, line, where, message))

    def mapping(
        self, node: yaml.Node, where: str, keys: frozenset[str] | None = None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """``{key: (key_node, value_node)}``; unknown or repeated keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            if not (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG):
                self.problem(node, where, "must be a mapping")
            return {}
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{where}.{key}" if where else key
            if key in items:
                self.problem(key_node, path, "appears twice")
            elif keys is not None and key not in keys:
                self.problem(
                    key_node, path, f"unknown key; expected one of {', '.join(sorted(keys))}"
                )
            else:
                items[key] = (key_node, value_node)
        return items

    def scalar(self, node: yaml.Node, where: str) -> str | int | float | bool | None:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, where, "must be a single value")
            return None
        text = str(node.value)
        if node.tag == _BOOL_TAG:
            return text.lower() in {"true", "yes", "on"}
        if node.tag == _INT_TAG:
            return int(text, 0)
        if node.tag == _FLOAT_TAG:
            return float(text)
        if node.tag == _NULL_TAG:
            return None
        return text

    def text(self, node: yaml.Node, where: str) -> str | None:
        value = self.scalar(node, where)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.problem(node, where, "must be text")
            return None
        return value

    def names(self, node: yaml.Node, where: str) -> list[tuple[str, yaml.Node]]:
        """A list of words, each with its node (for the line of a later problem)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, where, "must be a list")
            return []
        out = []
        for index, item in enumerate(node.value):
            value = self.text(item, f"{where}[{index}]")
            if value is not None:
                out.append((value, item))
        return out

    def state(self, node: yaml.Node, where: str, value: str | None = None) -> TicketState | None:
        value = value if value is not None else self.text(node, where)
        if value is None:
            return None
        try:
            return TicketState(value)
        except ValueError:
            self.problem(node, where, f"{value!r} is not a state; states: {', '.join(TicketState)}")
            return None

    def duration(self, node: yaml.Node, where: str) -> timedelta | None:
        value = self.text(node, where)
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(node, where, str(exc))
            return None


def _parse_fields(r: _Reader, node: yaml.Node) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for name, (_, value) in r.mapping(node, "fields").items():
        where = f"fields.{name}"
        items = r.mapping(value, where, _FIELD_KEYS)
        if "type" not in items:
            r.problem(value, where, "needs a type")
            continue
        type_node = items["type"][1]
        type_text = r.text(type_node, f"{where}.type")
        try:
            kind = FieldType(type_text or "")
        except ValueError:
            r.problem(type_node, f"{where}.type", f"must be one of {', '.join(FieldType)}")
            continue
        choices: tuple[str, ...] = ()
        if "choices" in items:
            choices = tuple(n for n, _ in r.names(items["choices"][1], f"{where}.choices"))
        if (kind is FieldType.CHOICE) != bool(choices):
            r.problem(value, where, "choices are given exactly for type choice")
        minimum: float | None = None
        if "min" in items:
            raw = r.scalar(items["min"][1], f"{where}.min")
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                r.problem(items["min"][1], f"{where}.min", "must be a number")
            elif kind not in (FieldType.INTEGER, FieldType.NUMBER):
                r.problem(items["min"][1], f"{where}.min", "only for integer and number fields")
            else:
                minimum = float(raw)
        specs[name] = FieldSpec(name=name, type=kind, choices=choices, min=minimum)
    return specs


def _parse_transitions(
    r: _Reader, key: yaml.Node, node: yaml.Node
) -> dict[TicketState, frozenset[TicketState]]:
    graph: dict[TicketState, frozenset[TicketState]] = {}
    lines: dict[TicketState, yaml.Node] = {}
    for name, (key_node, value) in r.mapping(node, "transitions").items():
        where = f"transitions.{name}"
        source = r.state(key_node, where, name)
        targets: set[TicketState] = set()
        for index, (target_name, target_node) in enumerate(r.names(value, where)):
            target = r.state(target_node, f"{where}[{index}]", target_name)
            if source is None or target is None:
                continue
            if target not in LIFECYCLE[source]:
                allowed = ", ".join(sorted(LIFECYCLE[source])) or "none"
                r.problem(
                    target_node,
                    where,
                    f"{source} → {target} is not in the ticket lifecycle; it allows: {allowed}",
                )
                continue
            targets.add(target)
        if source is not None:
            graph[source] = frozenset(targets)
            lines[source] = key_node
    # every state the template uses must be reachable from new
    reachable = {TicketState.NEW}
    frontier = [TicketState.NEW]
    while frontier:
        for target in graph.get(frontier.pop(), frozenset()):
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    for state in graph:
        if state not in reachable:
            r.problem(lines[state], f"transitions.{state}", "state is not reachable from new")
    if TicketState.CLOSED not in reachable:
        r.problem(key, "transitions", "closed is not reachable from new")
    return graph


def _check_names(
    r: _Reader,
    names: list[tuple[str, yaml.Node]],
    where: str,
    fields: Mapping[str, FieldSpec],
    *,
    boolean: bool = False,
) -> tuple[str, ...]:
    for index, (name, name_node) in enumerate(names):
        spec = fields.get(name)
        if spec is None:
            r.problem(name_node, f"{where}[{index}]", f"{name!r} is not a declared field")
        elif boolean and spec.type is not FieldType.BOOL:
            r.problem(
                name_node, f"{where}[{index}]", f"checklist item {name!r} must be a bool field"
            )
    return tuple(name for name, _ in names)


def _parse_rule(
    r: _Reader, node: yaml.Node, where: str, fields: Mapping[str, FieldSpec]
) -> StepRule | None:
    items = r.mapping(node, where, _RULE_KEYS)
    if "when" not in items:
        r.problem(node, where, "a rule needs when")
        return None
    when: dict[str, FieldValue] = {}
    for name, (key_node, value_node) in r.mapping(items["when"][1], f"{where}.when").items():
        raw = r.scalar(value_node, f"{where}.when.{name}")
        spec = fields.get(name)
        if spec is None:
            r.problem(key_node, f"{where}.when.{name}", f"{name!r} is not a declared field")
            continue
        try:
            when[name] = spec.coerce(raw)
        except ValueError as exc:
            r.problem(value_node, f"{where}.when.{name}", str(exc))
    required = _check_names(
        r,
        r.names(items["required"][1], f"{where}.required") if "required" in items else [],
        f"{where}.required",
        fields,
    )
    checklist = _check_names(
        r,
        r.names(items["checklist"][1], f"{where}.checklist") if "checklist" in items else [],
        f"{where}.checklist",
        fields,
        boolean=True,
    )
    refuse = False
    if "refuse" in items:
        raw = r.scalar(items["refuse"][1], f"{where}.refuse")
        if not isinstance(raw, bool):
            r.problem(items["refuse"][1], f"{where}.refuse", "must be true or false")
        refuse = raw is True
    message = r.text(items["message"][1], f"{where}.message") if "message" in items else None
    if not message:
        r.problem(node, where, "a rule needs a message (it is what the operator reads)")
    if not refuse and not required and not checklist:
        r.problem(node, where, "a rule needs required, checklist or refuse: true")
    return StepRule(
        when=MappingProxyType(when),
        required=required,
        checklist=checklist,
        refuse=refuse,
        message=message or "",
    )


def _parse_steps(
    r: _Reader,
    node: yaml.Node,
    fields: Mapping[str, FieldSpec],
    graph: Mapping[TicketState, frozenset[TicketState]],
) -> dict[TicketState, Step]:
    steps: dict[TicketState, Step] = {}
    entered = {t for targets in graph.values() for t in targets}
    for name, (key_node, value) in r.mapping(node, "steps").items():
        where = f"steps.{name}"
        state = r.state(key_node, where, name)
        if state is None:
            continue
        if state not in entered:
            r.problem(key_node, where, "no transition of this template enters this state")
        items = r.mapping(value, where, _STEP_KEYS)
        required = _check_names(
            r,
            r.names(items["required"][1], f"{where}.required") if "required" in items else [],
            f"{where}.required",
            fields,
        )
        checklist = _check_names(
            r,
            r.names(items["checklist"][1], f"{where}.checklist") if "checklist" in items else [],
            f"{where}.checklist",
            fields,
            boolean=True,
        )
        rules: list[StepRule] = []
        if "rules" in items:
            rules_node = items["rules"][1]
            if not isinstance(rules_node, yaml.SequenceNode):
                r.problem(rules_node, f"{where}.rules", "must be a list")
            else:
                for index, rule_node in enumerate(rules_node.value):
                    rule = _parse_rule(r, rule_node, f"{where}.rules[{index}]", fields)
                    if rule is not None:
                        rules.append(rule)
        steps[state] = Step(state=state, required=required, checklist=checklist, rules=tuple(rules))
    return steps


def _parse_timer(
    r: _Reader,
    name: str,
    node: yaml.Node,
    fields: Mapping[str, FieldSpec],
    holds: frozenset[str],
) -> TimerSpec | None:
    where = f"timers.{name}"
    items = r.mapping(node, where, _TIMER_KEYS)
    for needed in ("description", "start", "stop"):
        if needed not in items:
            r.problem(node, where, f"needs {needed}")
    if any(k not in items for k in ("description", "start", "stop")):
        return None
    description = r.text(items["description"][1], f"{where}.description") or ""
    start = r.state(items["start"][1], f"{where}.start")
    stop: set[TicketState] = set()
    for index, (stop_name, stop_node) in enumerate(r.names(items["stop"][1], f"{where}.stop")):
        state = r.state(stop_node, f"{where}.stop[{index}]", stop_name)
        if state is not None:
            stop.add(state)
    if not stop:
        r.problem(items["stop"][1], f"{where}.stop", "needs at least one state")
    lengths = [k for k in ("target", "target_by_priority", "target_days_field") if k in items]
    if len(lengths) != 1:
        r.problem(node, where, "needs exactly one of target, target_by_priority, target_days_field")
    target = r.duration(items["target"][1], f"{where}.target") if "target" in items else None
    by_priority: dict[Priority, timedelta] = {}
    if "target_by_priority" in items:
        table_node = items["target_by_priority"][1]
        for key, (key_node, value_node) in r.mapping(
            table_node, f"{where}.target_by_priority"
        ).items():
            try:
                priority = Priority(key)
            except ValueError:
                r.problem(key_node, f"{where}.target_by_priority.{key}", "must be P1, P2, P3 or P4")
                continue
            length = r.duration(value_node, f"{where}.target_by_priority.{key}")
            if length is not None:
                by_priority[priority] = length
        missing = [p for p in Priority if p not in by_priority]
        if missing:
            r.problem(table_node, f"{where}.target_by_priority", f"missing {', '.join(missing)}")
    days_field: str | None = None
    if "target_days_field" in items:
        days_node = items["target_days_field"][1]
        days_field = r.text(days_node, f"{where}.target_days_field")
        spec = fields.get(days_field or "")
        if spec is None or spec.type is not FieldType.INTEGER:
            r.problem(days_node, f"{where}.target_days_field", "must name an integer field")
    appointment: str | None = None
    if "appointment_field" in items:
        appointment_node = items["appointment_field"][1]
        appointment = r.text(appointment_node, f"{where}.appointment_field")
        spec = fields.get(appointment or "")
        if spec is None or spec.type is not FieldType.DATETIME:
            r.problem(appointment_node, f"{where}.appointment_field", "must name a datetime field")
    pause = PauseRule()
    if "pause" in items:
        pause_items = r.mapping(items["pause"][1], f"{where}.pause", frozenset({"states", "holds"}))
        pause_states: set[TicketState] = set()
        if "states" in pause_items:
            for index, (s_name, s_node) in enumerate(
                r.names(pause_items["states"][1], f"{where}.pause.states")
            ):
                state = r.state(s_node, f"{where}.pause.states[{index}]", s_name)
                if state is not None:
                    pause_states.add(state)
        pause_holds: set[str] = set()
        if "holds" in pause_items:
            for index, (h_name, h_node) in enumerate(
                r.names(pause_items["holds"][1], f"{where}.pause.holds")
            ):
                if h_name not in holds:
                    r.problem(
                        h_node, f"{where}.pause.holds[{index}]", f"hold {h_name!r} is not declared"
                    )
                pause_holds.add(h_name)
        pause = PauseRule(states=frozenset(pause_states), holds=frozenset(pause_holds))
    if start is None or not stop:
        return None
    if start in stop:
        r.problem(items["start"][1], f"{where}.start", "a timer cannot stop where it starts")
    return TimerSpec(
        name=name,
        description=description,
        start=start,
        stop=frozenset(stop),
        target=target,
        target_by_priority=MappingProxyType(by_priority),
        target_days_field=days_field,
        appointment_field=appointment,
        pause=pause,
    )


def parse_template(text: str, source: str) -> WorkflowTemplate:
    """Parse one template; raise :class:`WorkflowError` listing every problem with its line."""
    r = _Reader(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        raise WorkflowError(
            [WorkflowProblem(source, line, "yaml", str(exc.problem or exc))]
        ) from exc
    except yaml.YAMLError as exc:
        raise WorkflowError([WorkflowProblem(source, None, "yaml", str(exc))]) from exc
    if root is None:
        raise WorkflowError([WorkflowProblem(source, None, "(file)", "is empty")])
    top = r.mapping(root, "", _TOP_KEYS)
    for needed in ("name", "kind", "title", "fields", "transitions"):
        if needed not in top:
            r.problem(root, needed, "is required")
    name = r.text(top["name"][1], "name") if "name" in top else None
    kind: TicketKind | None = None
    if "kind" in top:
        kind_text = r.text(top["kind"][1], "kind")
        try:
            kind = TicketKind(kind_text or "")
        except ValueError:
            r.problem(top["kind"][1], "kind", f"must be one of {', '.join(TicketKind)}")
    title = r.text(top["title"][1], "title") if "title" in top else None
    src = r.text(top["source"][1], "source") if "source" in top else ""
    if "service_hours" in top:
        hours = r.scalar(top["service_hours"][1], "service_hours")
        if hours != SERVICE_HOURS:
            r.problem(
                top["service_hours"][1], "service_hours", f"only {SERVICE_HOURS} is supported"
            )
    links_required = False
    if "links_required" in top:
        raw = r.scalar(top["links_required"][1], "links_required")
        if not isinstance(raw, bool):
            r.problem(top["links_required"][1], "links_required", "must be true or false")
        links_required = raw is True
    holds = (
        frozenset(n for n, _ in r.names(top["holds"][1], "holds"))
        if "holds" in top
        else frozenset()
    )
    fields = _parse_fields(r, top["fields"][1]) if "fields" in top else {}
    graph = _parse_transitions(r, *top["transitions"]) if "transitions" in top else {}
    steps = _parse_steps(r, top["steps"][1], fields, graph) if "steps" in top else {}
    timers: list[TimerSpec] = []
    if "timers" in top:
        for timer_name, (_, timer_node) in r.mapping(top["timers"][1], "timers").items():
            timer = _parse_timer(r, timer_name, timer_node, fields, holds)
            if timer is not None:
                timers.append(timer)
    if r.problems or name is None or kind is None or title is None:
        raise WorkflowError(r.problems)
    return WorkflowTemplate(
        name=name,
        kind=kind,
        title=title,
        source=src or "",
        links_required=links_required,
        holds=holds,
        fields=MappingProxyType(fields),
        transitions=MappingProxyType(graph),
        steps=MappingProxyType(steps),
        timers=tuple(timers),
    )


def load_builtin() -> Mapping[str, WorkflowTemplate]:
    """The shipped templates by name, read from the package data ``alerting/workflows/``."""
    folder = resources.files("alerting") / "workflows"
    templates = {}
    for name in BUILTIN_TEMPLATES:
        text = (folder / f"{name}.yaml").read_text(encoding="utf-8")
        template = parse_template(text, f"alerting/workflows/{name}.yaml")
        templates[template.name] = template
    return MappingProxyType(templates)
