"""The ticket service: the pure ticket core applied to storage, inside one transaction each.

    service = TicketService(settings=settings.tickets, sessions=sessions, timezone="Asia/Shanghai")
    stored = service.create(session, template="broadband_fault", district="xihu", ..., now=now)
    stored = service.transition(session, ticket_id, "acknowledged", actor="op", now=now)
    await service.run_timers()          # scheduled: breaches → event, webhook, alert hook, metric
    await service.deliver_webhooks()    # scheduled: drain the durable webhook outbox
    await service.sync_incidents()      # scheduled: one ticket per new incident from alerting

Every change reads the ticket (with its history), applies one function of
``alerting.tickets`` (which decides), records any timer breach that is due at the same
``now`` (``alerting.workflow.timers_due``), and writes the ticket with a compare-and-set on
its version, the audit events, and one webhook outbox row per matching subscription — in
the caller's session, committed here. A version that moved underneath raises
:class:`~nocd.storage.ticket_repo.StaleTicket` (HTTP 409); a stale ``If-Match`` raises
:class:`PreconditionFailed` (HTTP 412).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from alerting import tickets as core
from alerting.classify import Classification, LineReport, classify_report
from alerting.dispatch import DispatchProposal, coverage_gaps, propose_technician
from alerting.model import (
    Alert,
    AlertStatus,
    EntityKind,
    EntityRef,
    EntityState,
    Impact,
    Severity,
)
from alerting.notify.webhooks import WebhookSender, retry_at
from alerting.tickets import (
    EventKind,
    FaultSide,
    FieldValue,
    Priority,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketState,
)
from alerting.triage import ServiceEffect, triage
from alerting.workflow import (
    Breach,
    WorkflowTemplate,
    load_builtin,
    next_deadline,
    timer_statuses,
    timers_due,
)
from nocd.storage import alert_repo, inventory_repo, poll_repo, ticket_repo
from nocd.storage.ticket_repo import Derived, StoredTicket
from nocd.ticket_config import TicketSettings

__all__ = [
    "SYSTEM_ACTOR",
    "BreachListener",
    "LineNotFound",
    "PreconditionFailed",
    "TicketNotFound",
    "TicketObserver",
    "TicketService",
    "breach_alert",
    "line_id",
    "ticket_document",
]

_logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "nocd"  # breaches, incident tickets
INCIDENT_ACTOR = "nocd-alerting"
_INCIDENT_OVERLAP = timedelta(minutes=5)  # re-read incidents this far back (idempotent)

# (breach, ticket after the breach was recorded) → None; called after the commit.
BreachListener = Callable[[Breach, Ticket], None]


class TicketNotFound(LookupError):
    """No ticket (or technician, subscription) with that id."""


class LineNotFound(LookupError):
    """The reported line or customer is not in the inventory."""


class PreconditionFailed(Exception):
    """``If-Match`` named a version the ticket is no longer at (HTTP 412)."""

    def __init__(self, ticket_id: str, expected: int, actual: int) -> None:
        self.ticket_id = ticket_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"ticket {ticket_id}: If-Match version {expected}, ticket is at {actual}")


class TicketObserver(Protocol):
    """Metric hooks (``nocd.metrics.TicketMetrics`` implements them)."""

    def breached(self, breach: Breach) -> None:
        """One timer breach was recorded."""

    def resolved(self, ticket: Ticket, repair_s: float) -> None:
        """``ticket`` reached ``resolved`` for the first time, ``repair_s`` after it was opened."""

    def delivery(self, result: str) -> None:
        """One webhook attempt: ``delivered``, ``failed`` or ``dead``."""


class _NoObserver:
    def breached(self, breach: Breach) -> None:
        pass

    def resolved(self, ticket: Ticket, repair_s: float) -> None:
        pass

    def delivery(self, result: str) -> None:
        pass


def line_id(device: str, ifindex: int) -> str:
    """How a ticket names a line: ``xihu-dslam-01/1001`` (``/api/v1/lines/{device}/{ifindex}``)."""
    return f"{device}/{ifindex}"


def _json_value(value: FieldValue) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event_document(event: TicketEvent) -> dict[str, Any]:
    """An audit event as JSON (the API's ``TicketEventOut`` and the webhook ``event``)."""
    return {
        "version": event.version,
        "kind": event.kind.value,
        "actor": event.actor,
        "at": event.at.isoformat(),
        "note": event.note,
        "from_state": event.from_state.value if event.from_state else None,
        "state": event.state.value,
        "hold": event.hold,
        "priority": event.priority.value,
        "fields": {k: _json_value(v) for k, v in event.fields.items()},
        "details": dict(event.details),
    }


def ticket_document(
    stored: StoredTicket, template: WorkflowTemplate | None, now: datetime
) -> dict[str, Any]:
    """A ticket as JSON (the API's ``TicketOut`` and the webhook ``ticket``)."""
    t = stored.ticket
    timers = []
    if template is not None and t.history:
        for status in timer_statuses(t, template, now):
            timers.append(
                {
                    "timer": status.timer,
                    "started_at": status.started_at.isoformat(),
                    "stopped_at": _iso(status.stopped_at),
                    "deadline": _iso(status.deadline),
                    "paused": status.paused,
                    "appointment": status.appointment,
                    "breached": status.breached,
                }
            )
    d = stored.derived
    return {
        "id": t.id,
        "kind": t.kind.value,
        "template": t.template,
        "state": t.state.value,
        "priority": t.priority.value,
        "district": t.district,
        "title": t.title,
        "customer_id": t.customer_id,
        "lines": list(t.lines),
        "linked_tickets": list(t.linked_tickets),
        "incident_key": t.incident_key,
        "side": t.side.value if t.side else None,
        "hold": t.hold,
        "technician": t.technician,
        "fields": {k: _json_value(v) for k, v in t.fields.items()},
        "version": t.version,
        "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(),
        "allowed_transitions": sorted(template.allowed(t.state)) if template else [],
        "timers": timers,
        "next_deadline_at": _iso(d.next_deadline_at),
        "resolved_at": _iso(d.resolved_at),
        "closed_at": _iso(d.closed_at),
        "resolution_suggested_at": _iso(d.resolution_suggested_at),
        "classification": dict(stored.classification) if stored.classification else None,
    }


def classification_document(c: Classification) -> dict[str, Any]:
    """A classification as JSON (kept on the ticket, returned by the hotline API)."""
    return {
        "side": c.side.value,
        "category": c.category.value,
        "confidence": c.confidence.value,
        "incident_key": c.incident_key,
        "explanation": c.explanation,
        "advice": c.advice,
        "evidence": [{"key": e.key, "value": e.value, "meaning": e.meaning} for e in c.evidence],
    }


def breach_alert(breach: Breach, *, now: datetime) -> Alert:
    """The alert a breach raises (for the alerting service to feed its pipeline/Alertmanager).

    Key ``ticket_breach:<ticket>:<timer>:<cycle start>``, rule ``ticket_timer_breached``,
    on the ticket's district; P1/P2 tickets are major, others minor.
    """
    severity = Severity.MAJOR if breach.priority in (Priority.P1, Priority.P2) else Severity.MINOR
    return Alert(
        key=f"ticket_breach:{breach.key}",
        rule="ticket_timer_breached",
        severity=severity,
        entity=EntityRef(kind=EntityKind.DISTRICT, id=breach.district),
        district=breach.district,
        status=AlertStatus.FIRING,
        started_at=breach.deadline,
        labels={"ticket": breach.ticket_id, "timer": breach.timer, "priority": breach.priority},
        annotations={
            "summary": (
                f"ticket {breach.ticket_id}: {breach.timer} timer breached "
                f"({breach.description}); deadline {breach.deadline.isoformat()}"
            )
        },
        expression=f"{breach.timer} deadline passed",
        values={"overdue_s": breach.overdue.total_seconds()},
    )


def alerting_inbox(sessions: Callable[[], Session]) -> BreachListener:
    """A breach listener that hands ``breach_alert`` to the alerting pipeline.

    The alert goes through the received-alerts inbox (as Alertmanager's do), so the next
    alerting cycle stores it, counts it in ``nocd_alerts_firing`` and shows it in the API; it
    resolves when the inbox entry expires (``[alerting]`` webhook expiry).
    """

    def listener(breach: Breach, ticket: Ticket) -> None:
        alert = breach_alert(breach, now=breach.deadline)
        received = alert_repo.WebhookAlert(
            # The inbox keys alerts by a 64-character fingerprint, as Alertmanager's are.
            fingerprint=hashlib.sha256(alert.key.encode()).hexdigest(),
            status=AlertStatus.FIRING,
            labels={
                **alert.labels,
                "alertname": alert.rule,
                "severity": alert.severity.value,
                "district": breach.district,
            },
            annotations=dict(alert.annotations),
            starts_at=breach.deadline,
            ends_at=None,
            receiver="nocd-tickets",
        )
        with sessions() as session:
            alert_repo.store_webhook_alerts(session, [received], now=datetime.now(UTC))
            session.commit()

    return listener


def _webhook_types(event: TicketEvent) -> tuple[str, ...]:
    if event.kind is EventKind.CREATED:
        return ("ticket.created",)
    if event.kind is EventKind.BREACHED:
        return ("ticket.breached",)
    if event.kind is EventKind.TRANSITIONED:
        if event.state is TicketState.CLOSED:
            return ("ticket.transitioned", "ticket.closed")
        return ("ticket.transitioned",)
    return ("ticket.updated",)


@dataclass(slots=True, kw_only=True)
class _Outcome:
    stored: StoredTicket
    breaches: list[tuple[Breach, Ticket]] = field(default_factory=list)
    first_resolved: bool = False


@dataclass(kw_only=True)
class TicketService:
    """See the module docstring. ``clock`` is read only by the scheduled coroutines."""

    settings: TicketSettings
    sessions: Callable[[], Session]
    timezone: str = "Asia/Shanghai"
    templates: Mapping[str, WorkflowTemplate] = field(default_factory=load_builtin)
    observer: TicketObserver = field(default_factory=_NoObserver)
    sender: WebhookSender | None = None
    breach_listeners: list[BreachListener] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _incidents_seen: datetime | None = None
    _failing: dict[str, bool] = field(default_factory=dict)

    # -- helpers ---
    def template(self, name: str) -> WorkflowTemplate:
        try:
            return self.templates[name]
        except KeyError:
            known = ", ".join(sorted(self.templates))
            raise core.InvalidFields(
                "-", (f"template: unknown {name!r}; known: {known}",)
            ) from None

    def template_for_kind(self, kind: TicketKind) -> WorkflowTemplate:
        for template in self.templates.values():
            if template.kind is kind:
                return template
        raise core.InvalidFields("-", (f"kind: no template for {kind}",))

    def document(self, stored: StoredTicket, now: datetime) -> dict[str, Any]:
        return ticket_document(stored, self.templates.get(stored.ticket.template), now)

    def _derive(
        self, ticket: Ticket, template: WorkflowTemplate, now: datetime, before: Derived
    ) -> Derived:
        resolved_at = before.resolved_at
        closed_at = before.closed_at
        for event in ticket.history:
            if event.kind is not EventKind.TRANSITIONED:
                continue
            if event.state is TicketState.RESOLVED and resolved_at is None:
                resolved_at = event.at
            if event.state is TicketState.CLOSED:
                closed_at = event.at
        arrived_on_time = before.arrived_on_time
        callback_due_at: datetime | None = None
        callback_done_at: datetime | None = None
        for status in timer_statuses(ticket, template, now):
            if status.timer == "on_site" and status.stopped_at is not None:
                arrived_on_time = not status.breached
            if status.timer == "callback":
                callback_due_at = status.started_at
                callback_done_at = status.stopped_at
        if ticket.state is TicketState.CANCELLED:
            callback_due_at = callback_done_at = None
        return Derived(
            next_deadline_at=None if ticket.terminal else next_deadline(ticket, template, now),
            resolved_at=resolved_at,
            closed_at=closed_at,
            arrived_on_time=arrived_on_time,
            callback_due_at=callback_due_at,
            callback_done_at=callback_done_at,
            resolution_suggested_at=before.resolution_suggested_at,
        )

    def _emit(
        self, session: Session, ticket: Ticket, event: TicketEvent, now: datetime, **extra: Any
    ) -> None:
        """Write one outbox row per subscription and webhook type of ``event``."""
        stored_now = StoredTicket(ticket=ticket, derived=Derived())
        for event_type in _webhook_types(event):
            event_id = uuid.uuid4().hex
            body = {
                "id": event_id,
                "type": event_type,
                "occurred_at": event.at.isoformat(),
                "ticket": ticket_document(stored_now, None, now)
                | {
                    "allowed_transitions": sorted(
                        self.templates[ticket.template].allowed(ticket.state)
                    )
                },
                "event": event_document(event),
                **extra,
            }
            ticket_repo.enqueue_webhook(
                session,
                event_id=event_id,
                event_type=event_type,
                ticket_id=ticket.id,
                body=json.dumps(body, separators=(",", ":"), sort_keys=True),
                now=now,
            )

    def _breaches(
        self, ticket: Ticket, template: WorkflowTemplate, now: datetime
    ) -> tuple[Ticket, list[TicketEvent], list[tuple[Breach, Ticket]]]:
        events: list[TicketEvent] = []
        found: list[tuple[Breach, Ticket]] = []
        for breach in timers_due(ticket, template, now):
            ticket, event = core.mark_breached(
                ticket,
                timer=breach.timer,
                started_at=breach.started_at,
                actor=SYSTEM_ACTOR,
                now=now,
                note=f"{breach.timer} timer breached: {breach.description}",
            )
            events.append(event)
            found.append((breach, ticket))
        return ticket, events, found

    def _after_commit(self, outcome: _Outcome) -> StoredTicket:
        for breach, ticket in outcome.breaches:
            _logger.warning(
                "ticket %s: %s timer breached (deadline %s, %s, %s)",
                breach.ticket_id,
                breach.timer,
                breach.deadline.isoformat(),
                breach.priority,
                breach.district,
            )
            self.observer.breached(breach)
            for listener in self.breach_listeners:
                try:
                    listener(breach, ticket)
                except Exception as exc:  # noqa: BLE001 - a listener's bug must not undo or
                    # repeat a committed breach; it is logged and the others still run.
                    _logger.error("breach listener %r failed: %s", listener, exc)
        if outcome.first_resolved:
            t = outcome.stored.ticket
            resolved_at = outcome.stored.derived.resolved_at or t.updated_at
            self.observer.resolved(t, (resolved_at - t.created_at).total_seconds())
        return outcome.stored

    # -- the one write path ---
    def _change(
        self,
        session: Session,
        ticket_id: str,
        op: Callable[[Ticket, WorkflowTemplate], tuple[Ticket, TicketEvent] | None],
        *,
        now: datetime,
        if_match: int | None = None,
        extra: Mapping[str, Any] | None = None,
        suggested_at: datetime | None = None,
    ) -> StoredTicket:
        outcome = self._write(
            session,
            ticket_id,
            op,
            now=now,
            if_match=if_match,
            extra=extra,
            suggested_at=suggested_at,
        )
        return self._after_commit(outcome)

    def _write(
        self,
        session: Session,
        ticket_id: str,
        op: Callable[[Ticket, WorkflowTemplate], tuple[Ticket, TicketEvent] | None],
        *,
        now: datetime,
        if_match: int | None,
        extra: Mapping[str, Any] | None,
        suggested_at: datetime | None,
    ) -> _Outcome:
        stored = ticket_repo.get_ticket(session, ticket_id, for_update=True)
        if stored is None:
            raise TicketNotFound(ticket_id)
        before = stored.ticket
        if if_match is not None and if_match != before.version:
            raise PreconditionFailed(ticket_id, if_match, before.version)
        template = self.template(before.template)
        changed = op(before, template)
        ticket = before
        events: list[TicketEvent] = []
        if changed is not None:
            ticket, event = changed
            events.append(event)
        ticket, breach_events, breaches = (
            self._breaches(ticket, template, now) if not before.terminal else (ticket, [], [])
        )
        events += breach_events
        derived = self._derive(ticket, template, now, stored.derived)
        if suggested_at is not None:
            derived = Derived(**{**_fields(derived), "resolution_suggested_at": suggested_at})
        ticket_repo.update_ticket(
            session, ticket, events, previous_version=before.version, derived=derived
        )
        for event in events:
            breach_extra: dict[str, Any] = {}
            if event.kind is EventKind.BREACHED:
                match = next(b for b, t in breaches if t.version == event.version)
                breach_extra["breach"] = {
                    "timer": match.timer,
                    "description": match.description,
                    "started_at": match.started_at.isoformat(),
                    "deadline": match.deadline.isoformat(),
                    "overdue_s": match.overdue.total_seconds(),
                }
            self._emit(session, ticket, event, now, **{**(extra or {}), **breach_extra})
        session.commit()
        result = StoredTicket(ticket=ticket, derived=derived, classification=stored.classification)
        return _Outcome(
            stored=result,
            breaches=breaches,
            first_resolved=stored.derived.resolved_at is None and derived.resolved_at is not None,
        )

    # -- creating ---
    def create(
        self,
        session: Session,
        *,
        template: str,
        district: str,
        actor: str,
        now: datetime,
        priority: Priority | None = None,
        impact: Impact | None = None,
        effect: ServiceEffect = ServiceEffect.DOWN,
        time_critical: bool = False,
        title: str = "",
        customer_id: str | None = None,
        lines: Sequence[str] = (),
        linked_tickets: Sequence[str] = (),
        incident_key: str | None = None,
        side: FaultSide | None = None,
        fields: Mapping[str, object] | None = None,
        note: str = "",
        classification: Mapping[str, Any] | None = None,
        before_commit: Callable[[StoredTicket], None] | None = None,
    ) -> StoredTicket:
        """Open a ticket (priority given, or triaged from ``impact`` × ``effect``)."""
        workflow = self.template(template)
        triaged_note = ""
        if priority is None:
            result = triage(impact or Impact(), effect, time_critical=time_critical)
            priority = result.priority
            triaged_note = result.reason
        ticket_id = f"T-{now.astimezone(UTC):%Y%m%d}-{uuid.uuid4().hex[:8]}"
        ticket, event = core.open_ticket(
            id=ticket_id,
            template=workflow,
            district=district,
            priority=priority,
            actor=actor,
            now=now,
            title=title,
            customer_id=customer_id,
            lines=tuple(dict.fromkeys(lines)),
            linked_tickets=tuple(dict.fromkeys(linked_tickets)),
            incident_key=incident_key,
            side=side,
            fields=fields,
            note="; ".join(n for n in (note, triaged_note) if n),
        )
        derived = self._derive(ticket, workflow, now, Derived())
        ticket_repo.insert_ticket(
            session, ticket, event, derived=derived, classification=classification
        )
        self._emit(session, ticket, event, now)
        stored = StoredTicket(ticket=ticket, derived=derived, classification=classification)
        if before_commit is not None:
            before_commit(stored)
        session.commit()
        _logger.info(
            "ticket %s opened: %s %s in %s by %s", ticket.id, ticket.kind, priority, district, actor
        )
        return stored

    # -- changes ---
    def transition(
        self,
        session: Session,
        ticket_id: str,
        target: str,
        *,
        actor: str,
        now: datetime,
        fields: Mapping[str, object] | None = None,
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> StoredTicket:
        return self._change(
            session,
            ticket_id,
            lambda t, tpl: core.transition(
                t,
                target,
                actor=actor,
                now=now,
                template=tpl,
                fields=fields,
                note=note,
                expected_version=expected_version,
            ),
            now=now,
            if_match=if_match,
        )

    def update(
        self,
        session: Session,
        ticket_id: str,
        *,
        actor: str,
        now: datetime,
        fields: Mapping[str, object] | None = None,
        priority: Priority | None = None,
        priority_reason: str = "",
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> StoredTicket:
        """Record fields and/or override the priority (one event each, one transaction)."""
        stored: StoredTicket | None = None
        if fields:
            stored = self._change(
                session,
                ticket_id,
                lambda t, tpl: core.record(
                    t,
                    actor=actor,
                    now=now,
                    template=tpl,
                    fields=fields,
                    note=note,
                    expected_version=expected_version,
                ),
                now=now,
                if_match=if_match,
            )
        if priority is not None:
            version = stored.ticket.version if stored is not None else expected_version
            stored = self._change(
                session,
                ticket_id,
                lambda t, tpl: core.set_priority(
                    t,
                    priority,
                    actor=actor,
                    now=now,
                    reason=priority_reason,
                    expected_version=version,
                ),
                now=now,
                if_match=if_match if stored is None else None,
            )
        if stored is None:
            raise core.InvalidFields(ticket_id, ("nothing to update: give fields or priority",))
        return stored

    def hold(
        self,
        session: Session,
        ticket_id: str,
        reason: str,
        *,
        actor: str,
        now: datetime,
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> StoredTicket:
        return self._change(
            session,
            ticket_id,
            lambda t, tpl: core.hold(
                t,
                reason,
                actor=actor,
                now=now,
                template=tpl,
                note=note,
                expected_version=expected_version,
            ),
            now=now,
            if_match=if_match,
        )

    def release(
        self,
        session: Session,
        ticket_id: str,
        *,
        actor: str,
        now: datetime,
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> StoredTicket:
        return self._change(
            session,
            ticket_id,
            lambda t, tpl: core.release(
                t, actor=actor, now=now, note=note, expected_version=expected_version
            ),
            now=now,
            if_match=if_match,
        )

    def attach(
        self,
        session: Session,
        ticket_id: str,
        *,
        actor: str,
        now: datetime,
        lines: Sequence[str] = (),
        linked_tickets: Sequence[str] = (),
        incident_key: str | None = None,
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> StoredTicket:
        return self._change(
            session,
            ticket_id,
            lambda t, tpl: core.attach(
                t,
                actor=actor,
                now=now,
                lines=tuple(lines),
                linked_tickets=tuple(linked_tickets),
                incident_key=incident_key,
                note=note,
                expected_version=expected_version,
            ),
            now=now,
            if_match=if_match,
        )

    def comment(
        self, session: Session, ticket_id: str, *, author: str, text: str, now: datetime
    ) -> ticket_repo.CommentRecord:
        """Add a comment and send ``ticket.updated`` with it (no version change)."""
        stored = ticket_repo.get_ticket(session, ticket_id)
        if stored is None:
            raise TicketNotFound(ticket_id)
        record = ticket_repo.add_comment(session, ticket_id, author=author, at=now, text=text)
        t = stored.ticket
        note = TicketEvent(
            ticket_id=t.id,
            version=t.version,
            kind=EventKind.UPDATED,
            actor=author,
            at=now,
            note=text,
            state=t.state,
            hold=t.hold,
            priority=t.priority,
            details={"comment_id": str(record.id)},
        )
        self._emit(session, t, note, now, comment={"id": record.id, "author": author, "text": text})
        session.commit()
        return record

    def assign(
        self,
        session: Session,
        ticket_id: str,
        technician_id: str,
        *,
        actor: str,
        now: datetime,
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> StoredTicket:
        """Record the technician without dispatching (the ``technician`` field)."""
        self._technician(session, technician_id)
        return self.update(
            session,
            ticket_id,
            actor=actor,
            now=now,
            fields={"technician": technician_id},
            note=note or f"assigned to {technician_id}",
            expected_version=expected_version,
            if_match=if_match,
        )

    def _technician(self, session: Session, technician_id: str) -> ticket_repo.TechnicianRecord:
        tech = ticket_repo.get_technician(session, technician_id)
        if tech is None or not tech.active:
            raise core.InvalidFields("-", (f"technician: no active technician {technician_id!r}",))
        return tech

    def propose(self, session: Session, ticket_id: str, *, now: datetime) -> DispatchProposal:
        """An on-shift technician of the ticket's district (``dispatch.propose_technician``)."""
        stored = ticket_repo.get_ticket(session, ticket_id)
        if stored is None:
            raise TicketNotFound(ticket_id)
        roster = ticket_repo.load_roster(session, timezone=self.timezone)
        return propose_technician(stored.ticket, roster, ticket_repo.workload(session), now)

    def dispatch(
        self,
        session: Session,
        ticket_id: str,
        *,
        actor: str,
        now: datetime,
        technician_id: str | None = None,
        appointment_at: datetime | None = None,
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> tuple[StoredTicket, DispatchProposal | None]:
        """Dispatch to ``technician_id`` or, when omitted, to the proposed on-shift technician."""
        proposal: DispatchProposal | None = None
        if technician_id is None:
            proposal = self.propose(session, ticket_id, now=now)
            if proposal.technician is None:
                raise core.InvalidFields(ticket_id, (f"technician: {proposal.reason}",))
            technician_id = proposal.technician.id
        else:
            self._technician(session, technician_id)
        fields: dict[str, object] = {"technician": technician_id}
        if appointment_at is not None:
            fields["appointment_at"] = appointment_at
        stored = self.transition(
            session,
            ticket_id,
            TicketState.DISPATCHED,
            actor=actor,
            now=now,
            fields=fields,
            note=note or (proposal.reason if proposal else f"dispatched to {technician_id}"),
            expected_version=expected_version,
            if_match=if_match,
        )
        return stored, proposal

    def arrive(
        self,
        session: Session,
        ticket_id: str,
        *,
        actor: str,
        now: datetime,
        symptom: str | None = None,
        note: str = "",
        expected_version: int | None = None,
        if_match: int | None = None,
    ) -> StoredTicket:
        """The technician confirms arrival: ``on_site`` (with the symptom found, if any)."""
        return self.transition(
            session,
            ticket_id,
            TicketState.ON_SITE,
            actor=actor,
            now=now,
            fields={"symptom": symptom} if symptom else None,
            note=note or "arrival confirmed",
            expected_version=expected_version,
            if_match=if_match,
        )

    # -- hotline: classify the reported line ---
    def line_report(self, session: Session, device: str, ifindex: int, now: datetime) -> LineReport:
        """What storage knows about the line now (``classify.LineReport``)."""
        line = inventory_repo.get_line(session, device, ifindex)
        if line is None:
            raise LineNotFound(f"line {line_id(device, ifindex)} is not in the inventory")
        record = inventory_repo.get_device(session, device)
        assert record is not None
        statuses = {
            s.device: s for s in poll_repo.device_statuses(session, district=record.district)
        }
        status = statuses.get(device)
        device_state = EntityState(status.state) if status is not None else None
        now_s = int(now.timestamp())
        fresh_after = now_s - self.settings.stale_sample_s
        latest = {
            (s.entity, s.metric): s.value
            for s in poll_repo.latest_samples(session, device)
            if s.ts >= fresh_after
        }
        iface, dsl = f"if:{ifindex}", f"line:{ifindex}"
        in_sync: bool | None = None
        if (iface, "oper_up") in latest:
            in_sync = latest[(iface, "oper_up")] >= 1
        elif (dsl, "actual_down_kbps") in latest:
            in_sync = latest[(dsl, "actual_down_kbps")] > 0
        port_state: EntityState | None = None
        port_ifindex = ticket_repo.line_port_ifindex(session, device, ifindex)
        if port_ifindex is not None and port_ifindex != ifindex:
            up = latest.get((f"if:{port_ifindex}", "oper_up"))
            if up is not None:
                port_state = EntityState.UP if up >= 1 else EntityState.DOWN
        rate = latest.get((dsl, "actual_down_kbps"))
        rate_ratio = (
            rate / line.plan_down_kbps if rate is not None and line.plan_down_kbps else None
        )
        traffic = [latest[(iface, m)] for m in ("in_bps", "out_bps") if (iface, m) in latest]
        inits = poll_repo.sample_series(
            session,
            device,
            dsl,
            "inits_total",
            since=now_s - self.settings.history_window_s,
            until=now_s + 1,
        )
        retrains = (
            int(inits[-1].value - inits[0].value)
            if len(inits) >= 2 and inits[-1].value >= inits[0].value
            else None
        )
        parents = inventory_repo.device_parents(session)
        chain, cursor = [device], parents.get(device)
        while cursor is not None and cursor not in chain:
            chain.append(cursor)
            cursor = parents.get(cursor)
        incidents = ticket_repo.covering_incidents(
            session,
            devices=chain,
            port=f"{device}/if:{port_ifindex if port_ifindex is not None else ifindex}",
            line=f"{device}/line:{ifindex}",
        )
        return LineReport(
            line_id=line_id(device, ifindex),
            device_state=device_state,
            port_state=port_state,
            in_sync=in_sync if device_state is not EntityState.DOWN else None,
            snr_margin_down_db=latest.get((dsl, "snr_margin_down_db")),
            rate_ratio=rate_ratio,
            traffic_bps=sum(traffic) if traffic else None,
            retrains_recent=retrains,
            covering_incidents=tuple(incidents),
        )

    def classify(
        self, session: Session, device: str, ifindex: int, now: datetime
    ) -> Classification:
        return classify_report(self.line_report(session, device, ifindex, now))

    def hotline(
        self,
        session: Session,
        *,
        actor: str,
        now: datetime,
        description: str,
        customer_id: str | None = None,
        device: str | None = None,
        ifindex: int | None = None,
        effect: ServiceEffect = ServiceEffect.DOWN,
        time_critical: bool = False,
        kind: TicketKind = TicketKind.FAULT,
        fields: Mapping[str, object] | None = None,
        before_commit: Callable[[StoredTicket], None] | None = None,
    ) -> tuple[StoredTicket, Classification]:
        """A customer report: find the line, classify it, triage, open the ticket."""
        if device is None or ifindex is None:
            if customer_id is None:
                raise core.InvalidFields("-", ("give customer_id or the line (device, ifindex)",))
            page = inventory_repo.list_lines(session, customer=customer_id, limit=1)
            if not page.items:
                raise LineNotFound(f"customer {customer_id} has no line in the inventory")
            device, ifindex = page.items[0].device, page.items[0].ifindex
        line = inventory_repo.get_line(session, device, ifindex)
        if line is None:
            raise LineNotFound(f"line {line_id(device, ifindex)} is not in the inventory")
        customer_id = customer_id or line.customer
        device_record = inventory_repo.get_device(session, device)
        assert device_record is not None
        sla = "residential"
        if customer_id is not None:
            customer = inventory_repo.get_customer(session, customer_id)
            if customer is None:
                raise LineNotFound(f"customer {customer_id} is not in the inventory")
            sla = customer.sla_class.value
        classification = self.classify(session, device, ifindex, now)
        linked: list[str] = []
        if classification.incident_key is not None:
            covering = ticket_repo.open_ticket_for_incident(session, classification.incident_key)
            if covering is not None:
                linked.append(covering)
        stored = self.create(
            session,
            template=self.template_for_kind(kind).name,
            district=device_record.district,
            actor=actor,
            now=now,
            impact=Impact(lines=1, customers_by_sla={sla: 1}),
            effect=effect,
            time_critical=time_critical,
            title=description[:200],
            customer_id=customer_id,
            lines=(line_id(device, ifindex),),
            linked_tickets=linked,
            incident_key=classification.incident_key,
            side=classification.side,
            fields=fields,
            note=f"hotline: {description}; {classification.explanation}",
            classification=classification_document(classification),
            before_commit=before_commit,
        )
        return stored, classification

    # -- scheduled work ---
    def check_timers(self, now: datetime) -> list[Breach]:
        """Record every breach due at ``now`` (one transaction per ticket); the breaches.
        Idempotency keys past their retention are forgotten on the way."""
        with self.sessions() as session:
            ids = ticket_repo.ticket_ids_due(session, now)
        found: list[Breach] = []
        for ticket_id in ids:
            with self.sessions() as session:
                try:
                    outcome = self._write(
                        session,
                        ticket_id,
                        lambda t, tpl: None,
                        now=now,
                        if_match=None,
                        extra=None,
                        suggested_at=None,
                    )
                except ticket_repo.StaleTicket:
                    continue  # changed meanwhile; that change checked the timers itself
            self._after_commit(outcome)
            found += [breach for breach, _ in outcome.breaches]
        with self.sessions() as session:
            retention = timedelta(hours=self.settings.idempotency_retention_h)
            ticket_repo.prune_idempotency(session, before=now - retention)
            session.commit()
        return found

    async def run_timers(self) -> None:
        """The timer job's body."""
        await self._guarded("timers", asyncio.to_thread(self.check_timers, self.clock()))

    async def deliver_webhooks(self, now: datetime | None = None) -> int:
        """Attempt every due outbox row once; how many were delivered."""
        if self.sender is None:
            self.sender = WebhookSender(timeout_s=self.settings.webhook_timeout_s)
        now = now or self.clock()
        with self.sessions() as session:
            due = ticket_repo.due_deliveries(session, now)
        delivered = 0
        failed_subscriptions: set[int] = set()
        policy = self.settings.retry_policy()
        for item in due:
            if item.subscription_id in failed_subscriptions:
                continue  # keep each receiver's order: nothing overtakes a failed event
            result = await self.sender.post(
                item.url,
                item.body,
                secret=item.secret,
                event_id=item.event_id,
                event_type=item.event_type,
                now=now,
            )
            next_at = None if result.ok else retry_at(policy, attempts=item.attempts + 1, now=now)
            with self.sessions() as session:
                ticket_repo.record_attempt(
                    session,
                    item,
                    at=now,
                    ok=result.ok,
                    status_code=result.status_code,
                    error=result.error,
                    duration_ms=result.duration_ms,
                    next_attempt_at=next_at,
                )
                session.commit()
            if result.ok:
                delivered += 1
                self.observer.delivery("delivered")
                continue
            failed_subscriptions.add(item.subscription_id)
            self.observer.delivery("failed" if next_at is not None else "dead")
            if next_at is None:
                _logger.error(
                    "webhook %s to subscription %d is dead after %d attempts: %s",
                    item.event_id,
                    item.subscription_id,
                    item.attempts + 1,
                    result.error,
                )
            else:
                _logger.debug(
                    "webhook %s to subscription %d failed (%s); retry at %s",
                    item.event_id,
                    item.subscription_id,
                    result.error,
                    next_at.isoformat(),
                )
        return delivered

    async def run_webhooks(self) -> None:
        """The delivery job's body."""
        await self._guarded("webhooks", self.deliver_webhooks())

    def sync_incidents(self, now: datetime) -> list[str]:
        """One ticket per new incident; repeats and line children attach; a resolved incident
        suggests resolution (a comment and ``resolution_suggested_at``). Idempotent."""
        since = self._incidents_seen - _INCIDENT_OVERLAP if self._incidents_seen else None
        touched: list[str] = []
        wanted = set(self.settings.incident_severities)
        with self.sessions() as session:
            ids = ticket_repo.incidents_changed_since(session, since)
        for incident_id in ids:
            with self.sessions() as session:
                record = alert_repo.get_incident(session, incident_id)
                if record is None or record.incident.severity not in wanted:
                    continue
                ticket_id = self._follow_incident(session, record.incident, now)
                if ticket_id is not None:
                    touched.append(ticket_id)
        self._incidents_seen = now
        return touched

    def _follow_incident(self, session: Session, incident: Any, now: datetime) -> str | None:
        key: str = incident.key
        open_id = ticket_repo.open_ticket_for_incident(session, key)
        lines = ticket_repo.incident_lines(session, key)
        if incident.status is AlertStatus.FIRING:
            if open_id is None:
                earlier = ticket_repo.ticket_ids_with_incident(session, key)
                effect = (
                    ServiceEffect.DOWN
                    if incident.severity in (Severity.CRITICAL, Severity.MAJOR)
                    else ServiceEffect.DEGRADED
                )
                stored = self.create(
                    session,
                    template=self.template_for_kind(TicketKind.FAULT).name,
                    district=incident.district,
                    actor=INCIDENT_ACTOR,
                    now=now,
                    impact=incident.impact,
                    effect=effect,
                    title=(incident.summary or key)[:200],
                    lines=lines[:500],
                    linked_tickets=earlier[:1],
                    incident_key=key,
                    side=FaultSide.NETWORK,
                    note=f"opened for incident {key}"
                    + (f" (again; earlier ticket {earlier[0]})" if earlier else ""),
                )
                return stored.ticket.id
            stored_open = ticket_repo.get_ticket(session, open_id)
            assert stored_open is not None
            new_lines = [ln for ln in lines if ln not in stored_open.ticket.lines]
            if new_lines:
                self.attach(
                    session,
                    open_id,
                    actor=INCIDENT_ACTOR,
                    now=now,
                    lines=new_lines[:500],
                    note=f"incident {key}: {len(new_lines)} more line(s) affected",
                )
                return open_id
            return None
        if open_id is None:
            return None
        stored_open = ticket_repo.get_ticket(session, open_id)
        assert stored_open is not None
        if stored_open.derived.resolution_suggested_at is not None:
            return None
        resolved = incident.resolved_at or now
        self.comment(
            session,
            open_id,
            author=INCIDENT_ACTOR,
            text=(
                f"incident {key} recovered at {resolved.isoformat()}: resolution suggested; "
                "a person or the field confirms and resolves the ticket"
            ),
            now=now,
        )
        self._change(session, open_id, lambda t, tpl: None, now=now, suggested_at=resolved)
        return open_id

    async def run_incident_sync(self) -> None:
        """The incident job's body."""
        await self._guarded("incidents", asyncio.to_thread(self.sync_incidents, self.clock()))

    async def _guarded(self, job: str, work: Any) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - scheduler stability point: a failed run
            # (database down, bad row) must not stop the job; it is retried next interval and
            # logged once per outage.
            if not self._failing.get(job):
                _logger.error("ticket %s job failed (retrying): %s", job, exc)
            self._failing[job] = True
            return
        if self._failing.get(job):
            _logger.info("ticket %s job works again", job)
        self._failing[job] = False

    def coverage(self, session: Session, districts: Sequence[str] | None = None) -> list[str]:
        """Gaps in the 7×24 roster, in words (empty: covered)."""
        roster = ticket_repo.load_roster(session, timezone=self.timezone)
        return [str(gap) for gap in coverage_gaps(roster, districts=districts)]

    async def aclose(self) -> None:
        if self.sender is not None:
            await self.sender.aclose()


def _fields(derived: Derived) -> dict[str, Any]:
    return {name: getattr(derived, name) for name in Derived.__dataclass_fields__}
