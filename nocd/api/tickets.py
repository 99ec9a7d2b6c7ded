"""``/api/v1/tickets``, ``/api/v1/technicians`` and ``/api/v1/roster``: the REST API for ticket
systems (hotline, field dispatch, customer service).

Reads need a token of any role; ticket writes need ``operator`` or ``integration``; roster
writes need ``operator`` or ``integration`` (a field-dispatch system keeps it in sync).

Optimistic concurrency: every ticket response carries ``ETag: "<version>"``. A write may send
``If-Match: "<version>"`` (412 when the ticket has moved on) or ``version`` in the body (409);
two writers racing on the same version: one wins, the other gets 409. Creates accept an
``Idempotency-Key`` header: the same key with the same body returns the first response
(``Idempotent-Replayed: true``), with a different body 422.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from alerting.classify import Classification
from alerting.dispatch import DispatchProposal, Skill, Weekday
from alerting.model import Impact
from alerting.tickets import (
    FaultSide,
    IllegalTransition,
    InvalidFields,
    Priority,
    TicketError,
    TicketKind,
    TicketState,
    VersionConflict,
)
from alerting.triage import ServiceEffect
from nocd.api.deps import ReadAccess, SessionDep, require_role
from nocd.api.schemas import PageOut
from nocd.storage import ticket_repo
from nocd.storage.ticket_repo import (
    ShiftRecord,
    StaleTicket,
    StoredTicket,
    TechnicianRecord,
    TicketFilter,
    TicketSort,
)
from nocd.storage.tokens import TokenRecord, TokenRole
from nocd.ticket_service import (
    LineNotFound,
    PreconditionFailed,
    TicketNotFound,
    TicketService,
    classification_document,
    event_document,
)

__all__ = ["MAX_PAGE_SIZE", "install_error_handlers", "router"]

MAX_PAGE_SIZE = 500

router = APIRouter(prefix="/api/v1", tags=["tickets"])

TicketWrite = Annotated[
    TokenRecord, Depends(require_role(TokenRole.OPERATOR, TokenRole.INTEGRATION))
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="items to skip")]
IfMatch = Annotated[
    str | None,
    Header(
        description='the ticket version the change is based on, as in the ETag: `"3"`; '
        "412 when the ticket is no longer at it",
        examples=['"3"'],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="a client-chosen key that makes a retried create return the first result",
        examples=["hotline-2024-05-06-000123"],
    ),
]
TicketId = Annotated[str, Field(max_length=40)]

# --- schemas -----------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    detail: str


class ProblemsOut(BaseModel):
    """422: the fields or step rules that refused the change, each in words (or FastAPI's
    request-validation list in ``detail``)."""

    detail: str | list[dict[str, Any]]
    problems: list[str] = Field(default_factory=list)


class IllegalTransitionOut(BaseModel):
    """409: the target state is not reachable; ``allowed`` lists where the ticket can go."""

    detail: str
    current: TicketState
    target: str
    allowed: list[TicketState]


class VersionConflictOut(BaseModel):
    """409 (body ``version``, or a concurrent writer) or 412 (``If-Match``)."""

    detail: str
    expected: int | None = None
    actual: int | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such ticket"},
    409: {
        "model": IllegalTransitionOut | VersionConflictOut | ErrorOut,
        "description": "illegal transition (with the allowed ones) or a version conflict",
    },
    412: {"model": VersionConflictOut, "description": "If-Match names an older version"},
    422: {"model": ProblemsOut, "description": "missing or invalid fields, refused by a step rule"},
}

FieldValueOut = str | bool | int | float


class TimerOut(BaseModel):
    timer: str
    started_at: datetime
    stopped_at: datetime | None
    deadline: datetime | None
    paused: bool
    appointment: bool
    breached: bool


class EvidenceOut(BaseModel):
    key: str
    value: str
    meaning: str


class ClassificationOut(BaseModel):
    """Network side or customer side, which rule decided, and the evidence."""

    side: FaultSide
    category: str
    confidence: str
    incident_key: str | None
    explanation: str
    advice: str
    evidence: list[EvidenceOut]


class TicketOut(BaseModel):
    """A ticket: state, priority, attachments, workflow fields and running timers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "T-20240506-1a2b3c4d",
                    "kind": "fault",
                    "template": "broadband_fault",
                    "state": "dispatched",
                    "priority": "P3",
                    "district": "xihu",
                    "title": "no internet since this morning",
                    "customer_id": "C1001",
                    "lines": ["xihu-dslam-01/1001"],
                    "linked_tickets": [],
                    "incident_key": None,
                    "side": "customer_side",
                    "hold": None,
                    "technician": "t-wang",
                    "fields": {"technician": "t-wang"},
                    "version": 3,
                    "created_at": "2024-05-06T09:00:00+00:00",
                    "updated_at": "2024-05-06T09:05:00+00:00",
                    "allowed_transitions": ["acknowledged", "cancelled", "on_site"],
                    "timers": [
                        {
                            "timer": "on_site",
                            "started_at": "2024-05-06T09:05:00+00:00",
                            "stopped_at": None,
                            "deadline": "2024-05-06T09:35:00+00:00",
                            "paused": False,
                            "appointment": False,
                            "breached": False,
                        }
                    ],
                    "next_deadline_at": "2024-05-06T09:35:00+00:00",
                    "resolved_at": None,
                    "closed_at": None,
                    "resolution_suggested_at": None,
                    "classification": None,
                }
            ]
        }
    )

    id: str
    kind: TicketKind
    template: str
    state: TicketState
    priority: Priority
    district: str
    title: str
    customer_id: str | None
    lines: list[str] = Field(description="`device/ifindex` of each attached line")
    linked_tickets: list[str]
    incident_key: str | None
    side: FaultSide | None = Field(description="network-side or customer-side classification")
    hold: str | None
    technician: str | None
    fields: dict[str, FieldValueOut] = Field(description="workflow fields, latest value wins")
    version: int = Field(description="grows by one per change; also the ETag")
    created_at: datetime
    updated_at: datetime
    allowed_transitions: list[TicketState]
    timers: list[TimerOut]
    next_deadline_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution_suggested_at: datetime | None = Field(
        description="set when the incident behind the ticket recovered"
    )
    classification: ClassificationOut | None


class TicketEventOut(BaseModel):
    """One line of the audit trail."""

    version: int
    kind: str
    actor: str
    at: datetime
    note: str
    from_state: TicketState | None
    state: TicketState
    hold: str | None
    priority: Priority
    fields: dict[str, FieldValueOut]
    details: dict[str, str]


class TicketDetailOut(TicketOut):
    """A ticket with its whole audit trail."""

    history: list[TicketEventOut]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


Fields = dict[str, FieldValueOut]


class TicketIn(_In):
    """A ticket to open. ``priority`` is optional: without it the ticket is triaged from
    ``customers_by_sla`` × ``effect`` (轻重缓急)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "installation",
                    "district": "xihu",
                    "title": "new VDSL2 line for C1003",
                    "customer_id": "C1003",
                    "lines": ["xihu-dslam-01/1003"],
                    "priority": "P3",
                    "fields": {"appointment_at": "2024-05-07T02:00:00+00:00"},
                }
            ]
        },
    )

    kind: TicketKind = TicketKind.FAULT
    template: str | None = Field(
        default=None, max_length=100, description="defaults to the kind's shipped template"
    )
    district: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=400)
    priority: Priority | None = None
    customers_by_sla: dict[Annotated[str, Field(max_length=32)], Annotated[int, Field(ge=0)]] = (
        Field(default_factory=dict, description="for triage: affected customers per SLA class")
    )
    effect: ServiceEffect = ServiceEffect.DOWN
    time_critical: bool = False
    customer_id: str | None = Field(default=None, max_length=64)
    lines: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=500)
    linked_tickets: list[TicketId] = Field(default_factory=list, max_length=100)
    incident_key: str | None = Field(default=None, max_length=420)
    side: FaultSide | None = None
    fields: Fields = Field(default_factory=dict)
    note: str = Field(default="", max_length=2000)


class HotlineIn(_In):
    """A customer's report to the hotline: the line is found from the customer (or given), then
    classified network-side or customer-side from its current state."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C1001",
                    "description": "no internet since this morning, modem light blinking",
                    "effect": "down",
                }
            ]
        },
    )

    customer_id: str | None = Field(default=None, max_length=64)
    device: str | None = Field(default=None, max_length=200)
    ifindex: int | None = Field(default=None, ge=0, le=2**31 - 1)
    description: str = Field(min_length=1, max_length=2000)
    effect: ServiceEffect = ServiceEffect.DOWN
    time_critical: bool = False
    kind: Literal[TicketKind.FAULT, TicketKind.COMPLAINT] = TicketKind.FAULT


class HotlineOut(BaseModel):
    ticket: TicketOut
    classification: ClassificationOut


class TicketPatch(_In):
    """Record workflow fields (quote, consent, appointment…) and/or override the priority
    (``priority_reason`` required, kept in the audit trail)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"fields": {"paid_work": True, "quote_amount": 80, "customer_consent": True}},
                {"priority": "P1", "priority_reason": "hospital line", "version": 4},
            ]
        },
    )

    fields: Fields = Field(default_factory=dict)
    priority: Priority | None = None
    priority_reason: str = Field(default="", max_length=2000)
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1, description="409 unless the ticket is at it")


class TransitionIn(_In):
    """Move the ticket to ``to`` with the fields that step needs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "to": "resolved",
                    "fields": {
                        "cause": "customer_side",
                        "resolution": "modem replaced",
                        "service_tested": True,
                    },
                    "note": "old modem's power supply failed",
                    "version": 5,
                }
            ]
        },
    )

    to: TicketState
    fields: Fields = Field(default_factory=dict)
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1)


class HoldIn(_In):
    reason: str = Field(min_length=1, max_length=64, examples=["waiting_for_customer"])
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1)


class ReleaseIn(_In):
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1)


class CommentIn(_In):
    text: str = Field(
        min_length=1, max_length=10_000, examples=["customer asks for a call at 18:00"]
    )


class CommentOut(BaseModel):
    id: int
    ticket_id: str
    author: str
    at: datetime
    text: str


class AssignIn(_In):
    technician_id: str = Field(min_length=1, max_length=64, examples=["t-wang"])
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1)


class DispatchIn(_In):
    """Dispatch to ``technician_id``, or (omitted) to the proposed on-shift technician."""

    technician_id: str | None = Field(default=None, min_length=1, max_length=64)
    appointment_at: datetime | None = Field(
        default=None, description="a time agreed with the customer replaces the 30-minute promise"
    )
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1)


class ArrivalIn(_In):
    """The technician is on site; ``symptom`` is what they found (required for faults)."""

    symptom: str | None = Field(default=None, min_length=1, max_length=2000)
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1)


class AttachIn(_In):
    """Attach lines (``device/ifindex``), other tickets, or the incident it belongs to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"lines": ["xihu-dslam-01/1002"], "incident_key": None}]},
    )

    lines: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=500)
    linked_tickets: list[TicketId] = Field(default_factory=list, max_length=100)
    incident_key: str | None = Field(default=None, max_length=420)
    note: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=1)


class TechnicianOut(BaseModel):
    id: str
    name: str
    district: str
    skills: list[str]
    active: bool
    shifts: list[ShiftIO]


class ShiftIO(_In):
    """A recurring shift in local time (``[daemon] timezone``); an end at or before the start
    runs past midnight. ``days`` are the days it starts on, 0 = Monday."""

    name: str = Field(min_length=1, max_length=64, examples=["evening"])
    days: list[Weekday] = Field(min_length=1, max_length=7, examples=[[0, 1, 2, 3, 4, 5, 6]])
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["16:00"])
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$", examples=["24:00"])


class TechnicianIn(_In):
    """A technician (PUT: replaced, shifts included)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Wang Wei",
                    "district": "xihu",
                    "skills": ["dsl_line", "cpe"],
                    "shifts": [
                        {"name": "day", "days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}
                    ],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    district: str = Field(min_length=1, max_length=64)
    skills: list[Skill] = Field(default_factory=list)
    active: bool = True
    shifts: list[ShiftIO] = Field(default_factory=list, max_length=50)


class CandidateOut(BaseModel):
    technician_id: str
    name: str
    open_tickets: int
    shift_left_min: int


class ProposalOut(BaseModel):
    """The proposed on-shift technician (``technician_id`` null: nobody fits) and why."""

    technician_id: str | None
    reason: str
    candidates: list[CandidateOut]


class DispatchOut(BaseModel):
    ticket: TicketOut
    proposal: ProposalOut | None


class RosterOut(BaseModel):
    """The roster and the stretches of the week with nobody on shift (empty: 7×24 covered)."""

    timezone: str
    technicians: list[TechnicianOut]
    gaps: list[str]


TechnicianOut.model_rebuild()


# --- helpers -----------------------------------------------------------------------------------


def _service(request: Request) -> TicketService:
    service: TicketService | None = getattr(request.app.state, "tickets", None)
    if service is None:
        raise TicketNotFound("tickets are disabled ([tickets] enabled = false)")
    return service


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not re.fullmatch(r"\d{1,9}", text):
        raise PreconditionFailed("-", -1, -1)
    return int(text)


def _out(service: TicketService, stored: StoredTicket, response: Response) -> TicketOut:
    response.headers["ETag"] = f'"{stored.ticket.version}"'
    return TicketOut.model_validate(service.document(stored, service.clock()))


def _proposal(proposal: DispatchProposal | None) -> ProposalOut | None:
    if proposal is None:
        return None
    return ProposalOut(
        technician_id=proposal.technician.id if proposal.technician else None,
        reason=proposal.reason,
        candidates=[
            CandidateOut(
                technician_id=c.technician.id,
                name=c.technician.name,
                open_tickets=c.open_tickets,
                shift_left_min=int(c.shift_left.total_seconds() // 60),
            )
            for c in proposal.candidates
        ],
    )


def _classification(c: Classification) -> ClassificationOut:
    return ClassificationOut.model_validate(classification_document(c))


def _request_hash(path: str, body: BaseModel) -> str:
    text = json.dumps(
        {"path": path, "body": body.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replay(
    session: SessionDep, token: TokenRecord, key: str | None, request_hash: str
) -> JSONResponse | None:
    if key is None:
        return None
    found = ticket_repo.get_idempotent(session, token.name, key)
    if found is None:
        return None
    if found.request_hash != request_hash:
        return JSONResponse(
            {
                "detail": "Idempotency-Key reused with a different request",
                "problems": [f"Idempotency-Key {key!r} was first used for another body or path"],
            },
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    body = dict(found.response)
    headers = {"Idempotent-Replayed": "true"}
    ticket = body.get("ticket", body)
    if isinstance(ticket, dict) and "version" in ticket:
        headers["ETag"] = f'"{ticket["version"]}"'
    return JSONResponse(body, status_code=found.status_code, headers=headers)


def _remember(
    session: SessionDep,
    token: TokenRecord,
    key: str | None,
    request_hash: str,
    body: BaseModel,
    now: datetime,
) -> None:
    if key is not None:
        ticket_repo.save_idempotent(
            session,
            token.name,
            key,
            request_hash=request_hash,
            status_code=status.HTTP_201_CREATED,
            response=body.model_dump(mode="json"),
            now=now,
        )


# --- tickets -----------------------------------------------------------------------------------


@router.get("/tickets", summary="Search tickets", response_model=PageOut[TicketOut])
def list_tickets(
    request: Request,
    session: SessionDep,
    _token: ReadAccess,
    limit: Limit = 50,
    offset: Offset = 0,
    state: Annotated[list[TicketState] | None, Query(description="any of these states")] = None,
    kind: Annotated[list[TicketKind] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    technician: Annotated[str | None, Query(max_length=64)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    incident_key: Annotated[str | None, Query(max_length=420)] = None,
    line: Annotated[str | None, Query(max_length=300, description="`device/ifindex`")] = None,
    side: FaultSide | None = None,
    open_only: Annotated[bool, Query(alias="open", description="only non-terminal")] = False,
    q: Annotated[str | None, Query(max_length=200, description="text in the title")] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: TicketSort = TicketSort.CREATED_DESC,
) -> PageOut[TicketOut]:
    service = _service(request)
    page = ticket_repo.search_tickets(
        session,
        TicketFilter(
            states=tuple(state or ()),
            kinds=tuple(kind or ()),
            priorities=tuple(priority or ()),
            district=district,
            technician=technician,
            customer_id=customer_id,
            incident_key=incident_key,
            line=line,
            side=side,
            open_only=open_only,
            text=q,
            created_from=created_from,
            created_to=created_to,
        ),
        sort=sort,
        limit=limit,
        offset=offset,
    )
    now = service.clock()
    return PageOut[TicketOut](
        items=[TicketOut.model_validate(service.document(s, now)) for s in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/tickets",
    status_code=status.HTTP_201_CREATED,
    summary="Open a ticket",
    response_model=TicketOut,
    responses={**_ERRORS, 201: {"headers": {"ETag": {"schema": {"type": "string"}}}}},
)
def create_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    body: TicketIn,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    service = _service(request)
    request_hash = _request_hash("/tickets", body)
    replay = _replay(session, token, idempotency_key, request_hash)
    if replay is not None:
        return replay
    template = body.template or service.template_for_kind(body.kind).name
    if service.template(template).kind is not body.kind:
        raise InvalidFields("-", (f"template: {template} is not for kind {body.kind}",))
    now = service.clock()

    def remember(stored: StoredTicket) -> None:
        out = TicketOut.model_validate(service.document(stored, now))
        _remember(session, token, idempotency_key, request_hash, out, now)

    try:
        stored = service.create(
            session,
            template=template,
            district=body.district,
            actor=token.name,
            now=now,
            priority=body.priority,
            impact=Impact(customers_by_sla=body.customers_by_sla),
            effect=body.effect,
            time_critical=body.time_critical,
            title=body.title,
            customer_id=body.customer_id,
            lines=body.lines,
            linked_tickets=body.linked_tickets,
            incident_key=body.incident_key,
            side=body.side,
            fields=body.fields,
            note=body.note,
            before_commit=remember,
        )
    except IntegrityError:
        session.rollback()  # the same key committed by a concurrent twin: answer as it did
        replay = _replay(session, token, idempotency_key, request_hash)
        if replay is None:
            raise
        return replay
    return _out(service, stored, response)


@router.post(
    "/tickets/hotline",
    status_code=status.HTTP_201_CREATED,
    summary="Open a fault from a customer's report, classified network-side or customer-side",
    response_model=HotlineOut,
    responses=_ERRORS,
)
def hotline(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    body: HotlineIn,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    service = _service(request)
    request_hash = _request_hash("/tickets/hotline", body)
    replay = _replay(session, token, idempotency_key, request_hash)
    if replay is not None:
        return replay
    now = service.clock()
    holder: dict[str, Any] = {}

    def remember(stored: StoredTicket) -> None:
        holder["ticket"] = TicketOut.model_validate(service.document(stored, now))

    def hotline_remember(stored: StoredTicket) -> None:
        remember(stored)
        classification = stored.classification or {}
        out = HotlineOut(
            ticket=holder["ticket"], classification=ClassificationOut.model_validate(classification)
        )
        _remember(session, token, idempotency_key, request_hash, out, now)

    try:
        stored, classification = service.hotline(
            session,
            actor=token.name,
            now=now,
            description=body.description,
            customer_id=body.customer_id,
            device=body.device,
            ifindex=body.ifindex,
            effect=body.effect,
            time_critical=body.time_critical,
            kind=body.kind,
            before_commit=hotline_remember,
        )
    except IntegrityError:
        session.rollback()
        replay = _replay(session, token, idempotency_key, request_hash)
        if replay is None:
            raise
        return replay
    return HotlineOut(
        ticket=_out(service, stored, response), classification=_classification(classification)
    )


@router.get(
    "/tickets/{ticket_id}",
    summary="Get a ticket with its audit trail",
    response_model=TicketDetailOut,
    responses={404: _ERRORS[404]},
)
def get_ticket(
    request: Request, response: Response, session: SessionDep, _token: ReadAccess, ticket_id: str
) -> TicketDetailOut:
    service = _service(request)
    stored = ticket_repo.get_ticket(session, ticket_id)
    if stored is None:
        raise TicketNotFound(ticket_id)
    response.headers["ETag"] = f'"{stored.ticket.version}"'
    document = service.document(stored, service.clock())
    document["history"] = [event_document(e) for e in stored.ticket.history]
    return TicketDetailOut.model_validate(document)


@router.get(
    "/tickets/{ticket_id}/events",
    summary="The audit trail of a ticket",
    response_model=list[TicketEventOut],
    responses={404: _ERRORS[404]},
)
def ticket_events(session: SessionDep, _token: ReadAccess, ticket_id: str) -> list[TicketEventOut]:
    stored = ticket_repo.get_ticket(session, ticket_id)
    if stored is None:
        raise TicketNotFound(ticket_id)
    return [TicketEventOut.model_validate(event_document(e)) for e in stored.ticket.history]


@router.patch(
    "/tickets/{ticket_id}",
    summary="Record fields or override the priority",
    response_model=TicketOut,
    responses=_ERRORS,
)
def update_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: TicketPatch,
    if_match: IfMatch = None,
) -> TicketOut:
    service = _service(request)
    stored = service.update(
        session,
        ticket_id,
        actor=token.name,
        now=service.clock(),
        fields=body.fields,
        priority=body.priority,
        priority_reason=body.priority_reason,
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return _out(service, stored, response)


@router.post(
    "/tickets/{ticket_id}/transitions",
    summary="Move a ticket to another state",
    response_model=TicketOut,
    responses=_ERRORS,
)
def transition_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: TransitionIn,
    if_match: IfMatch = None,
) -> TicketOut:
    service = _service(request)
    stored = service.transition(
        session,
        ticket_id,
        body.to,
        actor=token.name,
        now=service.clock(),
        fields=body.fields,
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return _out(service, stored, response)


@router.post(
    "/tickets/{ticket_id}/hold",
    summary="Put a ticket on a hold its template declares (timers may pause)",
    response_model=TicketOut,
    responses=_ERRORS,
)
def hold_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: HoldIn,
    if_match: IfMatch = None,
) -> TicketOut:
    service = _service(request)
    stored = service.hold(
        session,
        ticket_id,
        body.reason,
        actor=token.name,
        now=service.clock(),
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return _out(service, stored, response)


@router.post(
    "/tickets/{ticket_id}/release",
    summary="End the current hold",
    response_model=TicketOut,
    responses=_ERRORS,
)
def release_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: ReleaseIn,
    if_match: IfMatch = None,
) -> TicketOut:
    service = _service(request)
    stored = service.release(
        session,
        ticket_id,
        actor=token.name,
        now=service.clock(),
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return _out(service, stored, response)


@router.get(
    "/tickets/{ticket_id}/comments",
    summary="Comments on a ticket",
    response_model=PageOut[CommentOut],
    responses={404: _ERRORS[404]},
)
def list_comments(
    session: SessionDep,
    _token: ReadAccess,
    ticket_id: str,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PageOut[CommentOut]:
    if ticket_repo.get_ticket(session, ticket_id) is None:
        raise TicketNotFound(ticket_id)
    page = ticket_repo.list_comments(session, ticket_id, limit=limit, offset=offset)
    return PageOut[CommentOut](
        items=[_comment(c) for c in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


def _comment(c: ticket_repo.CommentRecord) -> CommentOut:
    return CommentOut(id=c.id, ticket_id=c.ticket_id, author=c.author, at=c.at, text=c.text)


@router.post(
    "/tickets/{ticket_id}/comments",
    status_code=status.HTTP_201_CREATED,
    summary="Comment on a ticket",
    response_model=CommentOut,
    responses={404: _ERRORS[404]},
)
def add_comment(
    request: Request, session: SessionDep, token: TicketWrite, ticket_id: str, body: CommentIn
) -> CommentOut:
    service = _service(request)
    record = service.comment(
        session, ticket_id, author=token.name, text=body.text, now=service.clock()
    )
    return _comment(record)


@router.post(
    "/tickets/{ticket_id}/assign",
    summary="Assign a technician (without dispatching)",
    response_model=TicketOut,
    responses=_ERRORS,
)
def assign_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: AssignIn,
    if_match: IfMatch = None,
) -> TicketOut:
    service = _service(request)
    stored = service.assign(
        session,
        ticket_id,
        body.technician_id,
        actor=token.name,
        now=service.clock(),
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return _out(service, stored, response)


@router.get(
    "/tickets/{ticket_id}/dispatch-proposal",
    summary="Propose an on-shift technician of the ticket's district",
    response_model=ProposalOut,
    responses={404: _ERRORS[404]},
)
def dispatch_proposal(
    request: Request, session: SessionDep, _token: ReadAccess, ticket_id: str
) -> ProposalOut:
    service = _service(request)
    proposal = _proposal(service.propose(session, ticket_id, now=service.clock()))
    assert proposal is not None
    return proposal


@router.post(
    "/tickets/{ticket_id}/dispatch",
    summary="Dispatch a technician (the 30-minute on-site timer starts)",
    response_model=DispatchOut,
    responses=_ERRORS,
)
def dispatch_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: DispatchIn,
    if_match: IfMatch = None,
) -> DispatchOut:
    service = _service(request)
    stored, proposal = service.dispatch(
        session,
        ticket_id,
        actor=token.name,
        now=service.clock(),
        technician_id=body.technician_id,
        appointment_at=body.appointment_at,
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return DispatchOut(ticket=_out(service, stored, response), proposal=_proposal(proposal))


@router.post(
    "/tickets/{ticket_id}/arrival",
    summary="Confirm the technician's arrival on site",
    response_model=TicketOut,
    responses=_ERRORS,
)
def confirm_arrival(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: ArrivalIn,
    if_match: IfMatch = None,
) -> TicketOut:
    service = _service(request)
    stored = service.arrive(
        session,
        ticket_id,
        actor=token.name,
        now=service.clock(),
        symptom=body.symptom,
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return _out(service, stored, response)


@router.post(
    "/tickets/{ticket_id}/attachments",
    summary="Attach lines, tickets or an incident",
    response_model=TicketOut,
    responses=_ERRORS,
)
def attach_to_ticket(
    request: Request,
    response: Response,
    session: SessionDep,
    token: TicketWrite,
    ticket_id: str,
    body: AttachIn,
    if_match: IfMatch = None,
) -> TicketOut:
    service = _service(request)
    stored = service.attach(
        session,
        ticket_id,
        actor=token.name,
        now=service.clock(),
        lines=body.lines,
        linked_tickets=body.linked_tickets,
        incident_key=body.incident_key,
        note=body.note,
        expected_version=body.version,
        if_match=_if_match(if_match),
    )
    return _out(service, stored, response)


# --- technicians and the roster -----------------------------------------------------------------


def _technician_out(record: TechnicianRecord) -> TechnicianOut:
    return TechnicianOut(
        id=record.id,
        name=record.name,
        district=record.district,
        skills=list(record.skills),
        active=record.active,
        shifts=[
            ShiftIO(name=s.name, days=[Weekday(d) for d in s.days], start=s.start, end=s.end)
            for s in record.shifts
        ],
    )


@router.get("/technicians", summary="List technicians", response_model=PageOut[TechnicianOut])
def list_technicians(
    session: SessionDep,
    _token: ReadAccess,
    district: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PageOut[TechnicianOut]:
    page = ticket_repo.list_technicians(session, district=district, limit=limit, offset=offset)
    return PageOut[TechnicianOut](
        items=[_technician_out(t) for t in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/technicians/{technician_id}",
    summary="Get a technician",
    response_model=TechnicianOut,
    responses={404: _ERRORS[404]},
)
def get_technician(session: SessionDep, _token: ReadAccess, technician_id: str) -> TechnicianOut:
    record = ticket_repo.get_technician(session, technician_id)
    if record is None:
        raise TicketNotFound(f"technician {technician_id}")
    return _technician_out(record)


@router.put(
    "/technicians/{technician_id}",
    summary="Create or replace a technician and their shifts",
    response_model=TechnicianOut,
    responses={422: _ERRORS[422]},
)
def put_technician(
    response: Response,
    session: SessionDep,
    _token: TicketWrite,
    technician_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: TechnicianIn,
) -> TechnicianOut:
    record = TechnicianRecord(
        id=technician_id,
        name=body.name,
        district=body.district,
        skills=tuple(s.value for s in body.skills),
        active=body.active,
        shifts=tuple(
            ShiftRecord(name=s.name, days=tuple(int(d) for d in s.days), start=s.start, end=s.end)
            for s in body.shifts
        ),
    )
    created = ticket_repo.upsert_technician(session, record)
    ticket_repo.replace_shifts(session, technician_id, record.shifts)
    session.commit()
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _technician_out(record)


@router.delete(
    "/technicians/{technician_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a technician (their tickets keep the id)",
    responses={404: _ERRORS[404]},
)
def delete_technician(session: SessionDep, _token: TicketWrite, technician_id: str) -> Response:
    if not ticket_repo.delete_technician(session, technician_id):
        raise TicketNotFound(f"technician {technician_id}")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/roster",
    summary="The roster and its 7×24 coverage gaps",
    response_model=RosterOut,
)
def roster(
    request: Request,
    session: SessionDep,
    _token: ReadAccess,
    district: Annotated[list[str] | None, Query(description="districts to check")] = None,
) -> RosterOut:
    service = _service(request)
    page = ticket_repo.list_technicians(session, limit=10_000)
    return RosterOut(
        timezone=service.timezone,
        technicians=[_technician_out(t) for t in page.items],
        gaps=service.coverage(session, district),
    )


# --- errors ------------------------------------------------------------------------------------


async def _ticket_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IllegalTransition):
        body = IllegalTransitionOut(
            detail=str(exc), current=exc.current, target=exc.target, allowed=list(exc.allowed)
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT)
    if isinstance(exc, InvalidFields):
        problems = ProblemsOut(detail=str(exc), problems=list(exc.problems))
        return JSONResponse(
            problems.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    if isinstance(exc, VersionConflict):
        conflict = VersionConflictOut(detail=str(exc), expected=exc.expected, actual=exc.actual)
        return JSONResponse(conflict.model_dump(), status_code=status.HTTP_409_CONFLICT)
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)


async def _stale(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StaleTicket)
    return JSONResponse(
        VersionConflictOut(detail=str(exc), expected=exc.expected).model_dump(),
        status_code=status.HTTP_409_CONFLICT,
    )


async def _precondition(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PreconditionFailed)
    detail = str(exc) if exc.expected >= 0 else 'If-Match must be a ticket version such as "3"'
    actual = exc.actual if exc.actual >= 0 else None
    expected = exc.expected if exc.expected >= 0 else None
    return JSONResponse(
        VersionConflictOut(detail=detail, expected=expected, actual=actual).model_dump(),
        status_code=status.HTTP_412_PRECONDITION_FAILED,
    )


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"not found: {exc}"}, status_code=status.HTTP_404_NOT_FOUND)


async def _unknown_line(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc), "problems": [str(exc)]},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map the ticket errors to responses (shapes: ``IllegalTransitionOut`` … above)."""
    app.add_exception_handler(TicketError, _ticket_error)
    app.add_exception_handler(StaleTicket, _stale)
    app.add_exception_handler(PreconditionFailed, _precondition)
    app.add_exception_handler(TicketNotFound, _not_found)
    app.add_exception_handler(LineNotFound, _unknown_line)
