"""Tickets in storage: tickets with their audit trail, comments, the roster, idempotency keys,
webhook subscriptions, the durable webhook outbox and its delivery log.

    stored = get_ticket(session, "T-20240506-1a2b3c")           # StoredTicket (with history)
    insert_ticket(session, ticket, event, derived=Derived(...))
    update_ticket(session, ticket, event, previous_version=3, derived=...)  # StaleTicket if raced
    enqueue_webhook(session, event_id=..., event_type="ticket.created", ticket_id=..., body=...)

Every function takes a ``Session`` and never commits: the caller (``nocd.ticket_service``)
owns the transaction, so a ticket change, its audit line and its webhook outbox rows are
written together or not at all. Repositories return dataclasses; the ORM stays in here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Any

from pydantic import SecretStr
from sqlalchemy import and_, case, delete, false, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerting.dispatch import Roster, Shift, Skill, Technician, Weekday
from alerting.tickets import (
    TERMINAL_STATES,
    EventKind,
    FaultSide,
    FieldValue,
    Priority,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketState,
)
from nocd.storage.inventory_repo import Page
from nocd.storage.models import (
    AlertRow,
    Device,
    IdempotencyKeyRow,
    IncidentRow,
    Line,
    Port,
    TechnicianRow,
    TechnicianShiftRow,
    TicketCommentRow,
    TicketEventRow,
    TicketRow,
    WebhookDeliveryRow,
    WebhookOutboxRow,
    WebhookSubscriptionRow,
)

__all__ = [
    "CommentRecord",
    "DeliveryRecord",
    "Derived",
    "DueDelivery",
    "IdempotentResponse",
    "ShiftRecord",
    "StaleTicket",
    "StoredTicket",
    "SubscriptionRecord",
    "TechnicianRecord",
    "TicketFilter",
    "TicketRatios",
    "TicketSort",
    "add_comment",
    "covering_incidents",
    "delete_subscription",
    "delete_technician",
    "due_deliveries",
    "enqueue_webhook",
    "get_idempotent",
    "get_subscription",
    "get_technician",
    "get_ticket",
    "incident_lines",
    "incidents_changed_since",
    "insert_ticket",
    "line_port_ifindex",
    "list_comments",
    "list_deliveries",
    "list_subscriptions",
    "list_technicians",
    "load_roster",
    "open_ticket_for_incident",
    "outbox_pending",
    "prune_idempotency",
    "record_attempt",
    "replace_shifts",
    "save_idempotent",
    "save_subscription",
    "search_tickets",
    "ticket_counts",
    "ticket_ids_due",
    "ticket_ids_with_incident",
    "ticket_ratios",
    "update_ticket",
    "upsert_technician",
    "workload",
]

_SKILLS = frozenset(s.value for s in Skill)
_DT = "$dt"  # JSON has no datetime: {"$dt": iso} keeps a datetime field a datetime


class StaleTicket(Exception):
    """Raised when the ticket's stored version moved since it was read (a concurrent write)."""

    def __init__(self, ticket_id: str, expected: int) -> None:
        self.ticket_id = ticket_id
        self.expected = expected
        super().__init__(f"ticket {ticket_id}: changed by someone else after version {expected}")


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _maybe(value: datetime | None) -> datetime | None:
    return _aware(value) if value is not None else None


def encode_fields(fields: Mapping[str, FieldValue]) -> dict[str, object]:
    """Workflow fields as JSON-safe values (datetimes tagged)."""
    return {
        name: {_DT: value.isoformat()} if isinstance(value, datetime) else value
        for name, value in fields.items()
    }


def decode_fields(data: Mapping[str, Any]) -> dict[str, FieldValue]:
    """The inverse of :func:`encode_fields`."""
    out: dict[str, FieldValue] = {}
    for name, value in data.items():
        if isinstance(value, dict) and _DT in value:
            out[name] = datetime.fromisoformat(value[_DT])
        else:
            out[name] = value
    return out


# --- tickets ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Derived:
    """Columns computed by the service at write time (searches, metrics, the timer job)."""

    next_deadline_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    arrived_on_time: bool | None = None
    callback_due_at: datetime | None = None
    callback_done_at: datetime | None = None
    resolution_suggested_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTicket:
    """A ticket (``history`` filled by :func:`get_ticket`, empty in search results) and what
    storage keeps beside it."""

    ticket: Ticket
    derived: Derived
    classification: Mapping[str, Any] | None = None


def _event(row: TicketEventRow) -> TicketEvent:
    return TicketEvent(
        ticket_id=row.ticket_id,
        version=row.version,
        kind=EventKind(row.kind),
        actor=row.actor,
        at=_aware(row.at),
        note=row.note,
        from_state=TicketState(row.from_state) if row.from_state else None,
        state=TicketState(row.state),
        hold=row.hold,
        priority=Priority(row.priority),
        fields=decode_fields(row.fields or {}),
        details=dict(row.details or {}),
    )


def _stored(row: TicketRow, history: tuple[TicketEvent, ...] = ()) -> StoredTicket:
    ticket = Ticket(
        id=row.id,
        kind=TicketKind(row.kind),
        template=row.template,
        state=TicketState(row.state),
        priority=Priority(row.priority),
        district=row.district,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        version=row.version,
        title=row.title,
        customer_id=row.customer_id,
        lines=tuple(row.lines or ()),
        linked_tickets=tuple(row.linked_tickets or ()),
        incident_key=row.incident_key,
        side=FaultSide(row.side) if row.side else None,
        hold=row.hold,
        fields=decode_fields(row.fields or {}),
        history=history,
    )
    derived = Derived(
        next_deadline_at=_maybe(row.next_deadline_at),
        resolved_at=_maybe(row.resolved_at),
        closed_at=_maybe(row.closed_at),
        arrived_on_time=row.arrived_on_time,
        callback_due_at=_maybe(row.callback_due_at),
        callback_done_at=_maybe(row.callback_done_at),
        resolution_suggested_at=_maybe(row.resolution_suggested_at),
    )
    return StoredTicket(ticket=ticket, derived=derived, classification=row.classification)


def _columns(ticket: Ticket, derived: Derived) -> dict[str, Any]:
    return {
        "state": ticket.state.value,
        "priority": ticket.priority.value,
        "title": ticket.title,
        "side": ticket.side.value if ticket.side else None,
        "hold": ticket.hold,
        "incident_key": ticket.incident_key,
        "lines": list(ticket.lines),
        "linked_tickets": list(ticket.linked_tickets),
        "fields": encode_fields(ticket.fields),
        "version": ticket.version,
        "updated_at": ticket.updated_at,
        "technician": ticket.technician,
        "next_deadline_at": derived.next_deadline_at,
        "resolved_at": derived.resolved_at,
        "closed_at": derived.closed_at,
        "arrived_on_time": derived.arrived_on_time,
        "callback_due_at": derived.callback_due_at,
        "callback_done_at": derived.callback_done_at,
        "resolution_suggested_at": derived.resolution_suggested_at,
    }


def _add_event(session: Session, event: TicketEvent) -> None:
    session.add(
        TicketEventRow(
            ticket_id=event.ticket_id,
            version=event.version,
            kind=event.kind.value,
            actor=event.actor,
            at=event.at,
            note=event.note,
            from_state=event.from_state.value if event.from_state else None,
            state=event.state.value,
            hold=event.hold,
            priority=event.priority.value,
            fields=encode_fields(event.fields),
            details=dict(event.details),
        )
    )


def insert_ticket(
    session: Session,
    ticket: Ticket,
    event: TicketEvent,
    *,
    derived: Derived,
    classification: Mapping[str, Any] | None = None,
) -> None:
    """Store a new ticket and its ``created`` event."""
    session.add(
        TicketRow(
            id=ticket.id,
            kind=ticket.kind.value,
            template=ticket.template,
            district=ticket.district,
            customer_id=ticket.customer_id,
            created_at=ticket.created_at,
            classification=dict(classification) if classification is not None else None,
            **_columns(ticket, derived),
        )
    )
    session.flush()
    _add_event(session, event)
    session.flush()


def update_ticket(
    session: Session,
    ticket: Ticket,
    events: Sequence[TicketEvent],
    *,
    previous_version: int,
    derived: Derived,
) -> None:
    """Write ``ticket`` and its new ``events`` if the stored version is still
    ``previous_version``; raise :class:`StaleTicket` otherwise (compare-and-set)."""
    try:
        result = session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket.id, TicketRow.version == previous_version)
            .values(**_columns(ticket, derived))
            .execution_options(synchronize_session=False)
        )
    except OperationalError as exc:
        # SQLite refuses to turn a read transaction into a write while another connection
        # writes (SQLITE_BUSY, no waiting: it would deadlock); that is a concurrent writer.
        if session.get_bind().dialect.name == "sqlite" and "locked" in str(exc.orig):
            raise StaleTicket(ticket.id, previous_version) from exc
        raise
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleTicket(ticket.id, previous_version)
    for event in events:
        _add_event(session, event)
    session.flush()


def get_ticket(
    session: Session, ticket_id: str, *, for_update: bool = False
) -> StoredTicket | None:
    """One ticket with its whole history, or ``None``."""
    query = select(TicketRow).where(TicketRow.id == ticket_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        return None
    events = session.scalars(
        select(TicketEventRow)
        .where(TicketEventRow.ticket_id == ticket_id)
        .order_by(TicketEventRow.version)
    )
    return _stored(row, tuple(_event(e) for e in events))


class TicketSort(StrEnum):
    """Orders of :func:`search_tickets`; ``-`` is descending."""

    CREATED = "created_at"
    CREATED_DESC = "-created_at"
    UPDATED = "updated_at"
    UPDATED_DESC = "-updated_at"
    PRIORITY = "priority"  # most urgent first (P1 before P4), then oldest
    PRIORITY_DESC = "-priority"


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketFilter:
    """Every given criterion must match; tuples mean "any of"."""

    states: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    district: str | None = None
    technician: str | None = None
    customer_id: str | None = None
    incident_key: str | None = None
    line: str | None = None
    side: str | None = None
    open_only: bool = False
    text: str | None = None  # case-insensitive substring of the title
    created_from: datetime | None = None
    created_to: datetime | None = None


def search_tickets(
    session: Session,
    criteria: TicketFilter,
    *,
    sort: TicketSort = TicketSort.CREATED_DESC,
    limit: int = 50,
    offset: int = 0,
) -> Page[StoredTicket]:
    """One page of tickets matching ``criteria`` (without history) and the total."""
    query = select(TicketRow)
    c = criteria
    if c.states:
        query = query.where(TicketRow.state.in_(c.states))
    if c.kinds:
        query = query.where(TicketRow.kind.in_(c.kinds))
    if c.priorities:
        query = query.where(TicketRow.priority.in_(c.priorities))
    if c.open_only:
        query = query.where(TicketRow.state.not_in([s.value for s in TERMINAL_STATES]))
    for column, value in (
        (TicketRow.district, c.district),
        (TicketRow.technician, c.technician),
        (TicketRow.customer_id, c.customer_id),
        (TicketRow.incident_key, c.incident_key),
        (TicketRow.side, c.side),
    ):
        if value is not None:
            query = query.where(column == value)
    if c.text:
        query = query.where(func.lower(TicketRow.title).contains(c.text.lower(), autoescape=True))
    if c.created_from is not None:
        query = query.where(TicketRow.created_at >= c.created_from)
    if c.created_to is not None:
        query = query.where(TicketRow.created_at < c.created_to)
    rows: Iterable[TicketRow]
    if c.line is not None:
        # JSON containment differs per backend; lines per ticket are few, filter here.
        candidates = [r for r in session.scalars(query) if c.line in (r.lines or ())]
        ids = [r.id for r in candidates]
        query = select(TicketRow).where(TicketRow.id.in_(ids)) if ids else query.where(false())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rank = case({"P1": 1, "P2": 2, "P3": 3, "P4": 4}, value=TicketRow.priority)
    order = {
        TicketSort.CREATED: (TicketRow.created_at, TicketRow.id),
        TicketSort.CREATED_DESC: (TicketRow.created_at.desc(), TicketRow.id.desc()),
        TicketSort.UPDATED: (TicketRow.updated_at, TicketRow.id),
        TicketSort.UPDATED_DESC: (TicketRow.updated_at.desc(), TicketRow.id.desc()),
        TicketSort.PRIORITY: (rank, TicketRow.created_at, TicketRow.id),
        TicketSort.PRIORITY_DESC: (rank.desc(), TicketRow.created_at.desc(), TicketRow.id),
    }[sort]
    rows = session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return Page(tuple(_stored(r) for r in rows), total, limit, offset)


def ticket_ids_due(session: Session, now: datetime, *, limit: int = 1000) -> list[str]:
    """Open tickets whose next timer deadline is before ``now`` (the timer job's work list)."""
    return list(
        session.scalars(
            select(TicketRow.id)
            .where(
                TicketRow.next_deadline_at.is_not(None),
                TicketRow.next_deadline_at < now,
                TicketRow.state.not_in([s.value for s in TERMINAL_STATES]),
            )
            .order_by(TicketRow.next_deadline_at)
            .limit(limit)
        )
    )


def ticket_ids_with_incident(session: Session, incident_key: str) -> list[str]:
    """Tickets attached to ``incident_key``, open ones first, newest first."""
    terminal = [s.value for s in TERMINAL_STATES]
    return list(
        session.scalars(
            select(TicketRow.id)
            .where(TicketRow.incident_key == incident_key)
            .order_by(
                case((TicketRow.state.in_(terminal), 1), else_=0), TicketRow.created_at.desc()
            )
        )
    )


def open_ticket_for_incident(session: Session, incident_key: str) -> str | None:
    """The open ticket that follows ``incident_key``: the oldest open one (hotline reports
    attached to the incident later carry its key too, linked to this one)."""
    terminal = [s.value for s in TERMINAL_STATES]
    return session.scalars(
        select(TicketRow.id)
        .where(TicketRow.incident_key == incident_key, TicketRow.state.not_in(terminal))
        .order_by(TicketRow.created_at, TicketRow.id)
        .limit(1)
    ).first()


def ticket_counts(session: Session) -> list[tuple[str, str, str, int]]:
    """``(state, priority, district, tickets)`` for every combination that has tickets."""
    rows = session.execute(
        select(TicketRow.state, TicketRow.priority, TicketRow.district, func.count())
        .group_by(TicketRow.state, TicketRow.priority, TicketRow.district)
        .order_by(TicketRow.state, TicketRow.priority, TicketRow.district)
    )
    return [(s, p, d, int(n)) for s, p, d, n in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRatios:
    """Per district, over tickets created since the window start."""

    district: str
    arrivals: int  # on-site timers that stopped (technician arrived)
    arrivals_on_time: int
    callbacks_due: int  # tickets whose callback timer started
    callbacks_done: int


def ticket_ratios(session: Session, since: datetime) -> list[TicketRatios]:
    """On-time arrivals and callbacks done per district, for tickets created since ``since``."""
    on_time = func.sum(case((TicketRow.arrived_on_time.is_(True), 1), else_=0))
    arrived = func.sum(case((TicketRow.arrived_on_time.is_not(None), 1), else_=0))
    due = func.sum(case((TicketRow.callback_due_at.is_not(None), 1), else_=0))
    done = func.sum(case((TicketRow.callback_done_at.is_not(None), 1), else_=0))
    rows = session.execute(
        select(TicketRow.district, arrived, on_time, due, done)
        .where(TicketRow.created_at >= since)
        .group_by(TicketRow.district)
        .order_by(TicketRow.district)
    )
    return [
        TicketRatios(
            district=d,
            arrivals=int(a or 0),
            arrivals_on_time=int(o or 0),
            callbacks_due=int(cd or 0),
            callbacks_done=int(cn or 0),
        )
        for d, a, o, cd, cn in rows
    ]


# --- comments -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentRecord:
    id: int
    ticket_id: str
    author: str
    at: datetime
    text: str


def add_comment(
    session: Session, ticket_id: str, *, author: str, at: datetime, text: str
) -> CommentRecord:
    """Store a comment (the ticket must exist)."""
    row = TicketCommentRow(ticket_id=ticket_id, author=author, at=at, text=text)
    session.add(row)
    session.flush()
    return CommentRecord(id=row.id, ticket_id=ticket_id, author=author, at=at, text=text)


def list_comments(
    session: Session, ticket_id: str, *, limit: int = 100, offset: int = 0
) -> Page[CommentRecord]:
    """Comments of a ticket, oldest first."""
    query = select(TicketCommentRow).where(TicketCommentRow.ticket_id == ticket_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(TicketCommentRow.id).limit(limit).offset(offset))
    return Page(
        tuple(
            CommentRecord(
                id=r.id, ticket_id=r.ticket_id, author=r.author, at=_aware(r.at), text=r.text
            )
            for r in rows
        ),
        total,
        limit,
        offset,
    )


# --- technicians and the roster -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShiftRecord:
    name: str
    days: tuple[int, ...]
    start: str  # HH:MM local
    end: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TechnicianRecord:
    id: str
    name: str
    district: str
    skills: tuple[str, ...]
    active: bool
    shifts: tuple[ShiftRecord, ...] = ()


def _technician(row: TechnicianRow, shifts: Iterable[TechnicianShiftRow]) -> TechnicianRecord:
    return TechnicianRecord(
        id=row.id,
        name=row.name,
        district=row.district,
        skills=tuple(row.skills or ()),
        active=row.active,
        shifts=tuple(
            ShiftRecord(name=s.name, days=tuple(s.days), start=s.start, end=s.end) for s in shifts
        ),
    )


def _shifts_by_technician(
    session: Session, ids: Sequence[str] | None = None
) -> dict[str, list[TechnicianShiftRow]]:
    query = select(TechnicianShiftRow).order_by(TechnicianShiftRow.id)
    if ids is not None:
        query = query.where(TechnicianShiftRow.technician_id.in_(ids))
    out: dict[str, list[TechnicianShiftRow]] = {}
    for row in session.scalars(query):
        out.setdefault(row.technician_id, []).append(row)
    return out


def upsert_technician(session: Session, record: TechnicianRecord) -> bool:
    """Create or replace a technician (not the shifts); True when it was created."""
    row = session.get(TechnicianRow, record.id)
    created = row is None
    if row is None:
        row = TechnicianRow(id=record.id)
        session.add(row)
    row.name = record.name
    row.district = record.district
    row.skills = list(record.skills)
    row.active = record.active
    session.flush()
    return created


def replace_shifts(session: Session, technician_id: str, shifts: Iterable[ShiftRecord]) -> None:
    """Replace every shift of ``technician_id``."""
    session.execute(
        delete(TechnicianShiftRow).where(TechnicianShiftRow.technician_id == technician_id)
    )
    for shift in shifts:
        session.add(
            TechnicianShiftRow(
                technician_id=technician_id,
                name=shift.name,
                days=list(shift.days),
                start=shift.start,
                end=shift.end,
            )
        )
    session.flush()


def get_technician(session: Session, technician_id: str) -> TechnicianRecord | None:
    row = session.get(TechnicianRow, technician_id)
    if row is None:
        return None
    return _technician(row, _shifts_by_technician(session, [row.id]).get(row.id, []))


def list_technicians(
    session: Session, *, district: str | None = None, limit: int = 100, offset: int = 0
) -> Page[TechnicianRecord]:
    query = select(TechnicianRow)
    if district is not None:
        query = query.where(TechnicianRow.district == district)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(TechnicianRow.id).limit(limit).offset(offset)))
    shifts = _shifts_by_technician(session, [r.id for r in rows])
    return Page(tuple(_technician(r, shifts.get(r.id, [])) for r in rows), total, limit, offset)


def delete_technician(session: Session, technician_id: str) -> bool:
    row = session.get(TechnicianRow, technician_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def _time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours) % 24, int(minutes))


def load_roster(session: Session, *, timezone: str) -> Roster:
    """The active technicians and their shifts as a pure ``dispatch.Roster``."""
    rows = list(session.scalars(select(TechnicianRow).where(TechnicianRow.active.is_(True))))
    shifts = _shifts_by_technician(session, [r.id for r in rows])
    return Roster(
        technicians=tuple(
            Technician(
                id=r.id,
                name=r.name,
                district=r.district,
                skills=frozenset(
                    Skill(s) for s in r.skills or () if s in Skill.__members__.values()
                ),
            )
            for r in rows
        ),
        shifts=tuple(
            Shift(
                technician_id=s.technician_id,
                name=s.name,
                days=frozenset(Weekday(d) for d in s.days),
                start=_time(s.start),
                end=_time(s.end),
            )
            for r in rows
            for s in shifts.get(r.id, [])
        ),
        timezone=timezone,
    )


def workload(session: Session) -> dict[str, int]:
    """Open tickets per technician."""
    terminal = [s.value for s in TERMINAL_STATES]
    rows = session.execute(
        select(TicketRow.technician, func.count())
        .where(TicketRow.technician.is_not(None), TicketRow.state.not_in(terminal))
        .group_by(TicketRow.technician)
    )
    return {str(t): int(n) for t, n in rows}


# --- idempotency keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotentResponse:
    request_hash: str
    status_code: int
    response: Mapping[str, Any]


def get_idempotent(session: Session, actor: str, key: str) -> IdempotentResponse | None:
    row = session.get(IdempotencyKeyRow, (actor, key))
    if row is None:
        return None
    return IdempotentResponse(
        request_hash=row.request_hash, status_code=row.status_code, response=row.response
    )


def save_idempotent(
    session: Session,
    actor: str,
    key: str,
    *,
    request_hash: str,
    status_code: int,
    response: Mapping[str, Any],
    now: datetime,
) -> None:
    """Remember the response to a create; a concurrent twin fails at flush (IntegrityError)."""
    session.add(
        IdempotencyKeyRow(
            actor=actor,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response=dict(response),
            created_at=now,
        )
    )
    session.flush()


def prune_idempotency(session: Session, *, before: datetime) -> int:
    """Forget keys older than ``before``."""
    result = session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- webhook subscriptions, outbox, delivery log ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRecord:
    id: int
    name: str
    url: str
    secret: SecretStr = field(repr=False)
    events: tuple[str, ...]
    active: bool
    created_at: datetime
    updated_at: datetime


def _subscription(row: WebhookSubscriptionRow) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row.id,
        name=row.name,
        url=row.url,
        secret=SecretStr(row.secret),
        events=tuple(row.events or ()),
        active=row.active,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def save_subscription(
    session: Session,
    *,
    subscription_id: int | None,
    name: str,
    url: str,
    secret: SecretStr | None,
    events: Sequence[str],
    active: bool,
    now: datetime,
) -> SubscriptionRecord | None:
    """Create (``subscription_id`` None; ``secret`` required) or update one; None if unknown."""
    if subscription_id is None:
        if secret is None:
            raise ValueError("a new subscription needs a secret")
        row = WebhookSubscriptionRow(created_at=now)
        session.add(row)
    else:
        found = session.get(WebhookSubscriptionRow, subscription_id)
        if found is None:
            return None
        row = found
    row.name = name
    row.url = url
    if secret is not None:
        row.secret = secret.get_secret_value()
    row.events = list(events)
    row.active = active
    row.updated_at = now
    session.flush()
    return _subscription(row)


def get_subscription(session: Session, subscription_id: int) -> SubscriptionRecord | None:
    row = session.get(WebhookSubscriptionRow, subscription_id)
    return _subscription(row) if row is not None else None


def list_subscriptions(
    session: Session, *, limit: int = 100, offset: int = 0
) -> Page[SubscriptionRecord]:
    query = select(WebhookSubscriptionRow)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(WebhookSubscriptionRow.id).limit(limit).offset(offset))
    return Page(tuple(_subscription(r) for r in rows), total, limit, offset)


def delete_subscription(session: Session, subscription_id: int) -> bool:
    row = session.get(WebhookSubscriptionRow, subscription_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def enqueue_webhook(
    session: Session,
    *,
    event_id: str,
    event_type: str,
    ticket_id: str,
    body: str,
    now: datetime,
) -> int:
    """One outbox row per active subscription that wants ``event_type``; how many."""
    subscriptions = session.scalars(
        select(WebhookSubscriptionRow).where(WebhookSubscriptionRow.active.is_(True))
    )
    count = 0
    for sub in subscriptions:
        if sub.events and event_type not in sub.events:
            continue
        session.add(
            WebhookOutboxRow(
                subscription_id=sub.id,
                event_id=event_id,
                event_type=event_type,
                ticket_id=ticket_id,
                body=body,
                state="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        count += 1
    if count:
        session.flush()
    return count


@dataclass(frozen=True, slots=True, kw_only=True)
class DueDelivery:
    """An outbox row due for an attempt, with where to send it and how to sign it."""

    outbox_id: int
    subscription_id: int
    url: str
    secret: SecretStr = field(repr=False)
    event_id: str
    event_type: str
    body: str
    attempts: int


def due_deliveries(session: Session, now: datetime, *, limit: int = 200) -> list[DueDelivery]:
    """Pending rows, oldest first; per subscription only those before its first row that is
    not due yet, so each receiver gets its events in order."""
    rows = session.execute(
        select(WebhookOutboxRow, WebhookSubscriptionRow)
        .join(
            WebhookSubscriptionRow,
            WebhookSubscriptionRow.id == WebhookOutboxRow.subscription_id,
        )
        .where(WebhookOutboxRow.state == "pending", WebhookSubscriptionRow.active.is_(True))
        .order_by(WebhookOutboxRow.subscription_id, WebhookOutboxRow.id)
        .limit(limit)
    )
    blocked: set[int] = set()
    out: list[DueDelivery] = []
    for item, sub in rows:
        if item.subscription_id in blocked:
            continue
        if _aware(item.next_attempt_at) > now:
            blocked.add(item.subscription_id)
            continue
        out.append(
            DueDelivery(
                outbox_id=item.id,
                subscription_id=sub.id,
                url=sub.url,
                secret=SecretStr(sub.secret),
                event_id=item.event_id,
                event_type=item.event_type,
                body=item.body,
                attempts=item.attempts,
            )
        )
    return out


def record_attempt(
    session: Session,
    delivery: DueDelivery,
    *,
    at: datetime,
    ok: bool,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    next_attempt_at: datetime | None,
) -> None:
    """Log one attempt and move the outbox row on: delivered, retried later, or dead
    (``next_attempt_at`` None after a failure)."""
    attempt = delivery.attempts + 1
    session.add(
        WebhookDeliveryRow(
            subscription_id=delivery.subscription_id,
            outbox_id=delivery.outbox_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            attempt=attempt,
            at=at,
            ok=ok,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    values: dict[str, Any] = {"attempts": attempt, "last_error": error}
    if ok:
        values |= {"state": "delivered", "delivered_at": at}
    elif next_attempt_at is None:
        values |= {"state": "dead"}
    else:
        values |= {"next_attempt_at": next_attempt_at}
    session.execute(
        update(WebhookOutboxRow)
        .where(WebhookOutboxRow.id == delivery.outbox_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.flush()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    id: int
    event_id: str
    event_type: str
    attempt: int
    at: datetime
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


def list_deliveries(
    session: Session, subscription_id: int, *, limit: int = 100, offset: int = 0
) -> Page[DeliveryRecord]:
    """The delivery log of one subscription, newest first."""
    query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription_id == subscription_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(WebhookDeliveryRow.id.desc()).limit(limit).offset(offset))
    return Page(
        tuple(
            DeliveryRecord(
                id=r.id,
                event_id=r.event_id,
                event_type=r.event_type,
                attempt=r.attempt,
                at=_aware(r.at),
                ok=r.ok,
                status_code=r.status_code,
                error=r.error,
                duration_ms=r.duration_ms,
            )
            for r in rows
        ),
        total,
        limit,
        offset,
    )


def outbox_pending(session: Session) -> dict[str, int]:
    """Outbox rows by state (``pending``, ``delivered``, ``dead``)."""
    rows = session.execute(
        select(WebhookOutboxRow.state, func.count()).group_by(WebhookOutboxRow.state)
    )
    counts = {state: 0 for state in ("pending", "delivered", "dead")}
    counts.update({str(s): int(n) for s, n in rows})
    return counts


# --- alerting's incidents (read only) -----------------------------------------------------------


def incidents_changed_since(session: Session, since: datetime | None) -> list[int]:
    """Ids of incidents changed after ``since`` (all firing ones when ``since`` is None)."""
    query = select(IncidentRow.id)
    if since is None:
        query = query.where(IncidentRow.status == "firing")
    else:
        query = query.where(IncidentRow.updated_at > since)
    return list(session.scalars(query.order_by(IncidentRow.id)))


def covering_incidents(
    session: Session, *, devices: Sequence[str], port: str | None, line: str
) -> list[str]:
    """Keys of open incidents with a firing alert on ``devices`` (the line's device and its
    ancestors), on the line's ``port`` entity or on the ``line`` entity itself."""
    entity = or_(
        and_(AlertRow.entity_kind == "device", AlertRow.entity_id.in_(list(devices))),
        and_(AlertRow.entity_kind == "line", AlertRow.entity_id == line),
        *(
            [and_(AlertRow.entity_kind == "port", AlertRow.entity_id == port)]
            if port is not None
            else []
        ),
    )
    keys = session.scalars(
        select(AlertRow.incident_key)
        .join(IncidentRow, IncidentRow.key == AlertRow.incident_key)
        .where(
            AlertRow.status == "firing",
            AlertRow.incident_key.is_not(None),
            IncidentRow.status == "firing",
            entity,
        )
        .distinct()
    )
    return sorted(k for k in keys if k is not None)


def incident_lines(session: Session, incident_key: str) -> list[str]:
    """``device/ifindex`` of the line alerts of an incident (its children on lines)."""
    ids = session.scalars(
        select(AlertRow.entity_id).where(
            AlertRow.incident_key == incident_key, AlertRow.entity_kind == "line"
        )
    )
    out = []
    for entity_id in ids:
        device, _, index = entity_id.rpartition("/line:")
        if device and index.isdigit():
            out.append(f"{device}/{index}")
    return sorted(set(out))


def line_port_ifindex(session: Session, device: str, ifindex: int) -> int | None:
    """The ifIndex of the port a line is wired to (``lines.port_id``), if recorded."""
    return session.scalar(
        select(Port.ifindex)
        .join(Line, Line.port_id == Port.id)
        .join(Device, Line.device_id == Device.id)
        .where(Device.name == device, Line.ifindex == ifindex)
    )
