"""Tickets: the field-service state machine, its audit events and optimistic versions (pure).

Every change to a ticket is a function ``(ticket, …, actor, now) -> (new_ticket, event)``:
nothing reads the clock or stores anything, and the returned :class:`TicketEvent` is the
audit-trail line the caller appends. ``version`` grows by one per change, so storage can do
optimistic concurrency (``expected_version``; the API maps a mismatch to 409/412).

The lifecycle (:data:`LIFECYCLE`) is the operator's field-service chain::

    new → acknowledged → dispatched → on_site → resolved → signed_off → callback_done → closed
                     ╰──────────────────────╮   ╰→ taken_back → on_site | resolved
    cancelled from new, acknowledged, dispatched   callback_done → acknowledged (reopen)

A :class:`~alerting.workflow.WorkflowTemplate` narrows it per ticket kind and says which
fields each step needs (cause, quote + consent for paid work, backup before a reinstall…).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from alerting.workflow import WorkflowTemplate

__all__ = [
    "LIFECYCLE",
    "PRIORITY_RANK",
    "TERMINAL_STATES",
    "EventKind",
    "FaultSide",
    "FieldValue",
    "IllegalTransition",
    "InvalidFields",
    "Priority",
    "Ticket",
    "TicketError",
    "TicketEvent",
    "TicketKind",
    "TicketState",
    "VersionConflict",
    "attach",
    "hold",
    "mark_breached",
    "open_ticket",
    "record",
    "release",
    "set_priority",
    "transition",
]

# What a workflow field holds once the template has checked and coerced it.
FieldValue = str | int | float | bool | datetime


class TicketKind(StrEnum):
    """What a ticket is for; each kind has its workflow template."""

    FAULT = "fault"  # 障碍: a customer's service does not work (or an incident)
    INSTALLATION = "installation"  # 装机: a new line to install
    COMPLAINT = "complaint"  # 投诉: about service, linked to lines or tickets


class TicketState(StrEnum):
    """Where a ticket is in the field-service chain; the edges are :data:`LIFECYCLE`."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"  # someone owns it (response timer stops)
    DISPATCHED = "dispatched"  # a technician has the repair notice (on-site timer starts)
    ON_SITE = "on_site"  # the technician has arrived
    TAKEN_BACK = "taken_back"  # not fixable on site; taken back with a promised repair cycle
    RESOLVED = "resolved"  # fixed (or installed), cause recorded
    SIGNED_OFF = "signed_off"  # the customer signed the repair/installation form
    CALLBACK_DONE = "callback_done"  # the 回访 call was made and its outcome recorded
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    """轻重缓急: P1 is the most urgent; the order is :data:`PRIORITY_RANK`."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


# Higher is more urgent; a table so that ordering never depends on the spelling.
PRIORITY_RANK: Final[Mapping[Priority, int]] = MappingProxyType(
    {Priority.P1: 4, Priority.P2: 3, Priority.P3: 2, Priority.P4: 1}
)


class FaultSide(StrEnum):
    """Where a fault lies: the resolution cause and the classification share this vocabulary."""

    NETWORK = "network"
    CUSTOMER_SIDE = "customer_side"  # CPE, in-home wiring, PC
    UNKNOWN = "unknown"


class EventKind(StrEnum):
    """One audit-trail line per change."""

    CREATED = "created"
    TRANSITIONED = "transitioned"
    UPDATED = "updated"  # fields recorded without a state change (quote, consent, appointment)
    HELD = "held"  # a hold (e.g. waiting for the customer) started; timers may pause
    RELEASED = "released"  # the hold ended
    PRIORITY_SET = "priority_set"  # operator override, with a reason
    BREACHED = "breached"  # a timer breach was raised (recorded so it is raised once)


S = TicketState
# The universal edges; a template may use a subset (installation never takes a PC back).
LIFECYCLE: Final[Mapping[TicketState, frozenset[TicketState]]] = MappingProxyType(
    {
        S.NEW: frozenset({S.ACKNOWLEDGED, S.CANCELLED}),
        # resolved without a visit: fixed from the NOC, or the customer guided by phone
        S.ACKNOWLEDGED: frozenset({S.DISPATCHED, S.RESOLVED, S.CANCELLED}),
        # back to acknowledged: the dispatch is withdrawn and redone
        S.DISPATCHED: frozenset({S.ON_SITE, S.ACKNOWLEDGED, S.CANCELLED}),
        S.ON_SITE: frozenset({S.RESOLVED, S.TAKEN_BACK}),
        S.TAKEN_BACK: frozenset({S.ON_SITE, S.RESOLVED}),
        S.RESOLVED: frozenset({S.SIGNED_OFF}),
        S.SIGNED_OFF: frozenset({S.CALLBACK_DONE}),
        # the callback found it not fixed: reopen
        S.CALLBACK_DONE: frozenset({S.CLOSED, S.ACKNOWLEDGED}),
        S.CLOSED: frozenset(),
        S.CANCELLED: frozenset(),
    }
)
del S

TERMINAL_STATES: Final[frozenset[TicketState]] = frozenset(
    {TicketState.CLOSED, TicketState.CANCELLED}
)


class TicketError(ValueError):
    """Raised when a change to a ticket is refused; the API maps it to a 4xx."""


class IllegalTransition(TicketError):
    """Raised when the target state is not reachable from the current one; lists the allowed."""

    def __init__(
        self, ticket_id: str, current: TicketState, target: str, allowed: frozenset[TicketState]
    ) -> None:
        self.ticket_id = ticket_id
        self.current = current
        self.target = target
        self.allowed = tuple(sorted(allowed, key=_STATE_ORDER.__getitem__))
        names = ", ".join(self.allowed) or "none (terminal state)"
        super().__init__(
            f"ticket {ticket_id}: cannot go from {current} to {target}; allowed: {names}"
        )


class InvalidFields(TicketError):
    """Raised when fields are missing, unknown, of the wrong type, or a step rule refuses."""

    def __init__(self, ticket_id: str, problems: tuple[str, ...]) -> None:
        self.ticket_id = ticket_id
        self.problems = problems
        super().__init__(f"ticket {ticket_id}: " + "; ".join(problems))


class VersionConflict(TicketError):
    """Raised when the caller's expected version is not the ticket's (someone else changed it)."""

    def __init__(self, ticket_id: str, expected: int, actual: int) -> None:
        self.ticket_id = ticket_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"ticket {ticket_id}: expected version {expected}, ticket is at {actual}")


_STATE_ORDER: Final[Mapping[TicketState, int]] = MappingProxyType(
    {state: index for index, state in enumerate(TicketState)}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketEvent:
    """One audit-trail line: who did what, when, with which fields, and where it left the ticket.

    ``state`` and ``hold`` are the ticket's values *after* the event, so timers can replay
    the history without re-running the state machine.
    """

    ticket_id: str
    version: int  # the ticket's version after this event
    kind: EventKind
    actor: str
    at: datetime
    note: str = ""
    from_state: TicketState | None = None
    state: TicketState
    hold: str | None = None
    priority: Priority
    fields: Mapping[str, FieldValue] = field(default_factory=dict)  # workflow fields recorded
    details: Mapping[str, str] = field(default_factory=dict)  # bookkeeping: timer, old priority


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    """A ticket and its whole history; ``fields`` are every recorded field, latest value wins.

    ``lines``/``linked_tickets``/``incident_key`` attach it to what it is about; ``side`` is
    the network-side/customer-side classification (``classify.classify_report``).
    """

    id: str
    kind: TicketKind
    template: str  # WorkflowTemplate.name
    state: TicketState
    priority: Priority
    district: str
    created_at: datetime
    updated_at: datetime
    version: int = 1
    title: str = ""
    customer_id: str | None = None
    lines: tuple[str, ...] = ()
    linked_tickets: tuple[str, ...] = ()
    incident_key: str | None = None
    side: FaultSide | None = None
    hold: str | None = None
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    history: tuple[TicketEvent, ...] = ()

    @property
    def technician(self) -> str | None:
        """The dispatched technician's id, when one was recorded."""
        value = self.fields.get("technician")
        return value if isinstance(value, str) else None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


def _check_time_and_version(ticket: Ticket, now: datetime, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != ticket.version:
        raise VersionConflict(ticket.id, expected_version, ticket.version)
    if now.tzinfo is None:
        raise TicketError(f"ticket {ticket.id}: time must be timezone-aware (UTC)")
    if now < ticket.updated_at:
        raise TicketError(
            f"ticket {ticket.id}: {now.isoformat()} is before its last change "
            f"{ticket.updated_at.isoformat()}"
        )


class _Keep:
    """Sentinel: leave the hold as it is."""


def _apply(
    ticket: Ticket,
    *,
    kind: EventKind,
    actor: str,
    now: datetime,
    note: str,
    state: TicketState | None = None,
    hold: str | type[_Keep] | None,
    priority: Priority | None = None,
    fields: Mapping[str, FieldValue] | None = None,
    details: Mapping[str, str] | None = None,
) -> tuple[Ticket, TicketEvent]:
    if not actor:
        raise TicketError(f"ticket {ticket.id}: every change needs an actor")
    new_state = ticket.state if state is None else state
    new_hold = ticket.hold if hold is _Keep else hold
    assert new_hold is None or isinstance(new_hold, str)
    recorded = MappingProxyType(dict(fields or {}))
    event = TicketEvent(
        ticket_id=ticket.id,
        version=ticket.version + 1,
        kind=kind,
        actor=actor,
        at=now,
        note=note,
        from_state=ticket.state if state is not None else None,
        state=new_state,
        hold=new_hold,
        priority=priority or ticket.priority,
        fields=recorded,
        details=MappingProxyType(dict(details or {})),
    )
    new = replace(
        ticket,
        state=new_state,
        hold=new_hold,
        priority=priority or ticket.priority,
        fields=MappingProxyType({**ticket.fields, **recorded}),
        version=event.version,
        updated_at=now,
        history=(*ticket.history, event),
    )
    return new, event


def open_ticket(
    *,
    id: str,
    template: WorkflowTemplate,
    district: str,
    priority: Priority,
    actor: str,
    now: datetime,
    title: str = "",
    customer_id: str | None = None,
    lines: tuple[str, ...] = (),
    linked_tickets: tuple[str, ...] = (),
    incident_key: str | None = None,
    side: FaultSide | None = None,
    fields: Mapping[str, object] | None = None,
    note: str = "",
) -> tuple[Ticket, TicketEvent]:
    """A new ticket in state ``new`` (version 1) and its ``created`` event."""
    problems: list[str] = []
    if template.links_required and not (lines or linked_tickets or incident_key):
        problems.append(f"a {template.kind} ticket must be linked to lines, tickets or an incident")
    coerced, field_problems = template.coerce_fields(fields or {})
    problems.extend(field_problems)
    if problems:
        raise InvalidFields(id, tuple(problems))
    if now.tzinfo is None:
        raise TicketError(f"ticket {id}: time must be timezone-aware (UTC)")
    blank = Ticket(
        id=id,
        kind=template.kind,
        template=template.name,
        state=TicketState.NEW,
        priority=priority,
        district=district,
        created_at=now,
        updated_at=now,
        version=0,
        title=title,
        customer_id=customer_id,
        lines=lines,
        linked_tickets=linked_tickets,
        incident_key=incident_key,
        side=side,
    )
    return _apply(
        blank, kind=EventKind.CREATED, actor=actor, now=now, note=note, hold=None, fields=coerced
    )


def _check_template(ticket: Ticket, template: WorkflowTemplate) -> None:
    if template.name != ticket.template:
        raise TicketError(
            f"ticket {ticket.id}: follows template {ticket.template}, not {template.name}"
        )


def transition(
    ticket: Ticket,
    target: TicketState | str,
    *,
    actor: str,
    now: datetime,
    template: WorkflowTemplate,
    fields: Mapping[str, object] | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> tuple[Ticket, TicketEvent]:
    """Move ``ticket`` to ``target`` if the template allows it and the step's fields are there.

    Raises :class:`IllegalTransition` (with the allowed targets), :class:`InvalidFields`
    (missing/unknown/ill-typed fields, or a step rule such as "paid work needs consent"),
    or :class:`VersionConflict`.
    """
    _check_template(ticket, template)
    _check_time_and_version(ticket, now, expected_version)
    allowed = template.allowed(ticket.state)
    try:
        goal = TicketState(target)
    except ValueError:
        raise IllegalTransition(ticket.id, ticket.state, str(target), allowed) from None
    if goal not in allowed:
        raise IllegalTransition(ticket.id, ticket.state, goal, allowed)
    coerced, problems = template.coerce_fields(fields or {})
    if not problems:
        merged = {**ticket.fields, **coerced}
        problems = template.step_problems(goal, merged)
    if problems:
        raise InvalidFields(ticket.id, tuple(problems))
    # A hold is about waiting inside a state; any state change ends it.
    return _apply(
        ticket,
        kind=EventKind.TRANSITIONED,
        actor=actor,
        now=now,
        note=note,
        state=goal,
        hold=None,
        fields=coerced,
    )


def record(
    ticket: Ticket,
    *,
    actor: str,
    now: datetime,
    template: WorkflowTemplate,
    fields: Mapping[str, object],
    note: str = "",
    expected_version: int | None = None,
) -> tuple[Ticket, TicketEvent]:
    """Record fields without a state change (a quote, the customer's consent, an appointment)."""
    _check_template(ticket, template)
    _check_time_and_version(ticket, now, expected_version)
    if ticket.terminal:
        raise TicketError(f"ticket {ticket.id}: is {ticket.state}; nothing more can be recorded")
    coerced, problems = template.coerce_fields(fields)
    if not coerced and not problems:
        problems = ["nothing to record"]
    if problems:
        raise InvalidFields(ticket.id, tuple(problems))
    return _apply(
        ticket, kind=EventKind.UPDATED, actor=actor, now=now, note=note, hold=_Keep, fields=coerced
    )


def hold(
    ticket: Ticket,
    reason: str,
    *,
    actor: str,
    now: datetime,
    template: WorkflowTemplate,
    note: str = "",
    expected_version: int | None = None,
) -> tuple[Ticket, TicketEvent]:
    """Put the ticket on a hold the template declares (timers with that pause rule stop)."""
    _check_template(ticket, template)
    _check_time_and_version(ticket, now, expected_version)
    if ticket.terminal:
        raise TicketError(f"ticket {ticket.id}: is {ticket.state}; it cannot be held")
    if reason not in template.holds:
        known = ", ".join(sorted(template.holds)) or "none"
        raise InvalidFields(ticket.id, (f"hold {reason!r} is not declared; declared: {known}",))
    if ticket.hold is not None:
        raise TicketError(f"ticket {ticket.id}: already held ({ticket.hold})")
    return _apply(ticket, kind=EventKind.HELD, actor=actor, now=now, note=note, hold=reason)


def release(
    ticket: Ticket,
    *,
    actor: str,
    now: datetime,
    note: str = "",
    expected_version: int | None = None,
) -> tuple[Ticket, TicketEvent]:
    """End the current hold."""
    _check_time_and_version(ticket, now, expected_version)
    if ticket.hold is None:
        raise TicketError(f"ticket {ticket.id}: is not held")
    return _apply(ticket, kind=EventKind.RELEASED, actor=actor, now=now, note=note, hold=None)


def set_priority(
    ticket: Ticket,
    priority: Priority,
    *,
    actor: str,
    now: datetime,
    reason: str,
    expected_version: int | None = None,
) -> tuple[Ticket, TicketEvent]:
    """Set the priority by hand; the reason is required and kept as the event's note."""
    _check_time_and_version(ticket, now, expected_version)
    if not reason.strip():
        raise InvalidFields(ticket.id, ("a priority override needs a reason",))
    if ticket.terminal:
        raise TicketError(f"ticket {ticket.id}: is {ticket.state}; its priority is final")
    return _apply(
        ticket,
        kind=EventKind.PRIORITY_SET,
        actor=actor,
        now=now,
        note=reason.strip(),
        hold=_Keep,
        priority=priority,
        details={"previous_priority": str(ticket.priority)},
    )


def attach(
    ticket: Ticket,
    *,
    actor: str,
    now: datetime,
    lines: tuple[str, ...] = (),
    linked_tickets: tuple[str, ...] = (),
    incident_key: str | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> tuple[Ticket, TicketEvent]:
    """Attach lines, other tickets or an incident (an ``updated`` event naming what was added).

    Attachments only grow: what is attached already is kept, and a ticket follows one
    incident (attaching a different one while another is attached is refused).
    """
    _check_time_and_version(ticket, now, expected_version)
    if ticket.terminal:
        raise TicketError(f"ticket {ticket.id}: is {ticket.state}; nothing can be attached")
    if ticket.id in linked_tickets:
        raise InvalidFields(ticket.id, ("linked_tickets: a ticket cannot be linked to itself",))
    if incident_key is not None and ticket.incident_key not in (None, incident_key):
        raise InvalidFields(
            ticket.id, (f"incident_key: already attached to incident {ticket.incident_key}",)
        )
    new_lines = tuple(line for line in dict.fromkeys(lines) if line not in ticket.lines)
    new_links = tuple(t for t in dict.fromkeys(linked_tickets) if t not in ticket.linked_tickets)
    new_incident = incident_key if incident_key != ticket.incident_key else None
    if not (new_lines or new_links or new_incident):
        raise InvalidFields(ticket.id, ("nothing new to attach",))
    details = {}
    if new_lines:
        details["attached_lines"] = ",".join(new_lines)
    if new_links:
        details["attached_tickets"] = ",".join(new_links)
    if new_incident:
        details["attached_incident"] = new_incident
    attached = replace(
        ticket,
        lines=(*ticket.lines, *new_lines),
        linked_tickets=(*ticket.linked_tickets, *new_links),
        incident_key=new_incident or ticket.incident_key,
    )
    return _apply(
        attached,
        kind=EventKind.UPDATED,
        actor=actor,
        now=now,
        note=note,
        hold=_Keep,
        details=details,
    )


def mark_breached(
    ticket: Ticket, *, timer: str, started_at: datetime, actor: str, now: datetime, note: str = ""
) -> tuple[Ticket, TicketEvent]:
    """Record that a timer breach was raised, so ``workflow.timers_due`` reports it only once."""
    _check_time_and_version(ticket, now, None)
    return _apply(
        ticket,
        kind=EventKind.BREACHED,
        actor=actor,
        now=now,
        note=note,
        hold=_Keep,
        details={"timer": timer, "timer_started_at": started_at.isoformat()},
    )
