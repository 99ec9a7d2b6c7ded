"""Outbound ticket webhooks (I/O): signing, the POST of one delivery, the retry schedule.

    sender = WebhookSender(timeout_s=10.0)
    result = await sender.post(url, body, secret=secret, event_id=eid, event_type=t, now=now)
    next_at = retry_at(policy, attempts=result_attempts, now=now)   # None: give up (dead)

A delivery is the exact JSON ``body`` stored in the outbox, POSTed with:

| header | value |
|---|---|
| ``X-Nocd-Event`` | the event type, one of :data:`EVENT_TYPES` |
| ``X-Nocd-Event-Id`` | the event's id: the same on every retry; receivers deduplicate on it |
| ``X-Nocd-Timestamp`` | Unix seconds of this attempt |
| ``X-Nocd-Signature`` | ``sha256=<hex HMAC-SHA256 of the exact body bytes with the secret>`` |

Any 2xx is delivered; anything else (including a timeout or a refused connection) is
retried later with exponential backoff (:func:`retry_at`). What to send and when is decided
by the caller (``nocd.ticket_service``) from the durable outbox; this module only delivers
and never raises for a delivery failure.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import httpx
from pydantic import SecretStr

__all__ = [
    "EVENT_HEADER",
    "EVENT_ID_HEADER",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AttemptResult",
    "RetryPolicy",
    "WebhookSender",
    "retry_at",
    "sign",
    "verify",
]

EVENT_TYPES: Final = (
    "ticket.created",
    "ticket.updated",
    "ticket.transitioned",
    "ticket.breached",
    "ticket.closed",
)
EVENT_HEADER: Final = "X-Nocd-Event"
EVENT_ID_HEADER: Final = "X-Nocd-Event-Id"
TIMESTAMP_HEADER: Final = "X-Nocd-Timestamp"
SIGNATURE_HEADER: Final = "X-Nocd-Signature"
_ERROR_TEXT_MAX: Final = 300  # characters of a receiver's error kept in the delivery log


def sign(body: bytes, secret: SecretStr) -> str:
    """The ``X-Nocd-Signature`` value for ``body``: ``sha256=<hex>``."""
    digest = hmac.new(secret.get_secret_value().encode("utf-8"), body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(body: bytes, secret: SecretStr, signature: str) -> bool:
    """Does ``signature`` match ``body``? (What a receiver does; constant-time compare.)"""
    return hmac.compare_digest(sign(body, secret), signature)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff: ``base_s · 2^(attempt-1)``, at most ``max_s``, ``max_attempts`` in all.

    RetryPolicy()                                # 10 s, 20 s, 40 s … 1 h, 12 attempts (~10 h)
    RetryPolicy(base_s=1, max_s=60, max_attempts=5)
    """

    base_s: float = 10.0
    max_s: float = 3600.0
    max_attempts: int = 12


def retry_at(policy: RetryPolicy, *, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; ``None`` once they are used up."""
    if attempts >= policy.max_attempts:
        return None
    delay = min(policy.base_s * 2 ** (attempts - 1), policy.max_s)
    return now + timedelta(seconds=delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptResult:
    """What one POST did: delivered (2xx) or not, and why."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


class WebhookSender:
    """POSTs signed deliveries with one pooled ``httpx.AsyncClient``; close with ``aclose()``."""

    def __init__(
        self, *, timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "nocd-webhooks"},
        )

    async def post(
        self,
        url: str,
        body: str,
        *,
        secret: SecretStr,
        event_id: str,
        event_type: str,
        now: datetime,
    ) -> AttemptResult:
        """One attempt; never raises for a network or HTTP failure."""
        data = body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event_type,
            EVENT_ID_HEADER: event_id,
            TIMESTAMP_HEADER: str(int(now.timestamp())),
            SIGNATURE_HEADER: sign(data, secret),
        }
        started = time.perf_counter()
        try:
            response = await self._client.post(url, content=data, headers=headers)
        except httpx.HTTPError as exc:
            return AttemptResult(
                ok=False,
                status_code=None,
                error=f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_MAX],
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        duration_ms = (time.perf_counter() - started) * 1000
        if response.is_success:
            return AttemptResult(
                ok=True, status_code=response.status_code, error=None, duration_ms=duration_ms
            )
        return AttemptResult(
            ok=False,
            status_code=response.status_code,
            error=f"HTTP {response.status_code}: {response.text[:_ERROR_TEXT_MAX]}",
            duration_ms=duration_ms,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
