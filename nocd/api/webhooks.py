"""``/api/v1/webhooks``: outbound webhook subscriptions and their delivery log.

Needs role ``operator`` or ``integration`` for everything (a subscription's URL is not for
every viewer). The secret is write-only: it is stored to sign deliveries and never returned
or logged. Receivers verify ``X-Nocd-Signature`` (see ``docs/api.md``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from nocd.api.deps import SessionDep, require_role
from nocd.api.schemas import PageOut
from nocd.storage import ticket_repo
from nocd.storage.ticket_repo import DeliveryRecord, SubscriptionRecord
from nocd.storage.tokens import TokenRecord, TokenRole

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

WebhookAccess = Annotated[
    TokenRecord, Depends(require_role(TokenRole.OPERATOR, TokenRole.INTEGRATION))
]
MAX_OFFSET = 2**31 - 1
SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EventType = Literal[
    "ticket.created", "ticket.updated", "ticket.transitioned", "ticket.breached", "ticket.closed"
]


class ErrorOut(BaseModel):
    detail: str


_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorOut, "description": "no such subscription"}
}


class SubscriptionIn(BaseModel):
    """A receiver: where to POST, which events (none: all), and the HMAC secret."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "field-dispatch",
                    "url": "https://dispatch.example.net/hooks/nocd",
                    "secret": "a-long-random-string",
                    "events": ["ticket.created", "ticket.transitioned", "ticket.breached"],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    url: AnyHttpUrl
    secret: SecretStr = Field(min_length=16, max_length=400, description="write-only")
    events: list[EventType] = Field(default_factory=list, description="empty: every event")
    active: bool = True


class SubscriptionPatch(BaseModel):
    """Change any of these; a new ``secret`` replaces the old one at once."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: AnyHttpUrl | None = None
    secret: SecretStr | None = Field(default=None, min_length=16, max_length=400)
    events: list[EventType] | None = None
    active: bool | None = None


class SubscriptionOut(BaseModel):
    """A subscription (never its secret)."""

    id: int
    name: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: SubscriptionRecord) -> SubscriptionOut:
        return cls(
            id=record.id,
            name=record.name,
            url=record.url,
            events=list(record.events),
            active=record.active,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class DeliveryOut(BaseModel):
    """One delivery attempt."""

    id: int
    event_id: str
    event_type: str
    attempt: int
    at: datetime
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float

    @classmethod
    def of(cls, record: DeliveryRecord) -> DeliveryOut:
        return cls(
            id=record.id,
            event_id=record.event_id,
            event_type=record.event_type,
            attempt=record.attempt,
            at=record.at,
            ok=record.ok,
            status_code=record.status_code,
            error=record.error,
            duration_ms=record.duration_ms,
        )


def _missing(subscription_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook subscription {subscription_id}")


@router.get(
    "/webhooks", summary="List webhook subscriptions", response_model=PageOut[SubscriptionOut]
)
def list_webhooks(
    session: SessionDep,
    _token: WebhookAccess,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageOut[SubscriptionOut]:
    page = ticket_repo.list_subscriptions(session, limit=limit, offset=offset)
    return PageOut[SubscriptionOut](
        items=[SubscriptionOut.of(s) for s in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a receiver to ticket events",
    response_model=SubscriptionOut,
    responses={409: {"model": ErrorOut, "description": "the name is taken"}},
)
def create_webhook(
    session: SessionDep, _token: WebhookAccess, body: SubscriptionIn
) -> SubscriptionOut:
    record = ticket_repo.save_subscription(
        session,
        subscription_id=None,
        name=body.name,
        url=str(body.url),
        secret=body.secret,
        events=body.events,
        active=body.active,
        now=datetime.now(UTC),
    )
    session.commit()
    assert record is not None
    return SubscriptionOut.of(record)


@router.get(
    "/webhooks/{subscription_id}",
    summary="Get a webhook subscription",
    response_model=SubscriptionOut,
    responses=_NOT_FOUND,
)
def get_webhook(
    session: SessionDep, _token: WebhookAccess, subscription_id: SubscriptionId
) -> SubscriptionOut:
    record = ticket_repo.get_subscription(session, subscription_id)
    if record is None:
        raise _missing(subscription_id)
    return SubscriptionOut.of(record)


@router.patch(
    "/webhooks/{subscription_id}",
    summary="Change a webhook subscription",
    response_model=SubscriptionOut,
    responses={**_NOT_FOUND, 409: {"model": ErrorOut, "description": "the name is taken"}},
)
def update_webhook(
    session: SessionDep,
    _token: WebhookAccess,
    subscription_id: SubscriptionId,
    body: SubscriptionPatch,
) -> SubscriptionOut:
    current = ticket_repo.get_subscription(session, subscription_id)
    if current is None:
        raise _missing(subscription_id)
    record = ticket_repo.save_subscription(
        session,
        subscription_id=subscription_id,
        name=body.name if body.name is not None else current.name,
        url=str(body.url) if body.url is not None else current.url,
        secret=body.secret,
        events=body.events if body.events is not None else current.events,
        active=body.active if body.active is not None else current.active,
        now=datetime.now(UTC),
    )
    session.commit()
    assert record is not None
    return SubscriptionOut.of(record)


@router.delete(
    "/webhooks/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a subscription (its pending deliveries and log go with it)",
    responses=_NOT_FOUND,
)
def delete_webhook(
    session: SessionDep, _token: WebhookAccess, subscription_id: SubscriptionId
) -> Response:
    if not ticket_repo.delete_subscription(session, subscription_id):
        raise _missing(subscription_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    summary="The delivery log of a subscription, newest first",
    response_model=PageOut[DeliveryOut],
    responses=_NOT_FOUND,
)
def list_deliveries(
    session: SessionDep,
    _token: WebhookAccess,
    subscription_id: SubscriptionId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageOut[DeliveryOut]:
    if ticket_repo.get_subscription(session, subscription_id) is None:
        raise _missing(subscription_id)
    page = ticket_repo.list_deliveries(session, subscription_id, limit=limit, offset=offset)
    return PageOut[DeliveryOut](
        items=[DeliveryOut.of(d) for d in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )
