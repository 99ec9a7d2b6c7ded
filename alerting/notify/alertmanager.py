"""Pushes nocd's alerts to one or more Alertmanagers (API v2, ``POST /api/v2/alerts``).

    notifier = AlertmanagerNotifier(["http://am-1:9093", "http://am-2:9093"],
                                    expires_after=timedelta(minutes=1))
    await notifier.send(alerts, now=now)

Alertmanager forgets an alert whose ``endsAt`` passes, so firing alerts are re-sent every
cycle with ``endsAt = now + expires_after`` (as Prometheus does); a resolved alert is sent
once with ``endsAt`` = its resolution time, and kept for the next cycle if that push failed.
Each URL is independent: one Alertmanager down never delays or loses the others' alerts.
A failure is logged once per outage (ERROR), the recovery once (INFO); nothing raises.

Every pushed alert carries ``origin=<origin>``: the route in ``deploy/alertmanager`` keeps
those away from nocd's own webhook and nocd drops them on receipt (the loop guard).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import httpx

from alerting.model import Alert, AlertStatus

__all__ = ["ALERTS_PATH", "ORIGIN_LABEL", "AlertmanagerNotifier", "postable_alert"]

_logger = logging.getLogger(__name__)

ALERTS_PATH: Final = "/api/v2/alerts"
ORIGIN_LABEL: Final = "origin"
PENDING_MAX: Final = 10_000  # resolved alerts held per Alertmanager while it is unreachable

# Called after every push: (Alertmanager URL without credentials, delivered?, alerts in body).
PushRecorder = Callable[[str, bool, int], None]


def postable_alert(
    alert: Alert, *, now: datetime, expires_after: timedelta, origin: str
) -> dict[str, Any]:
    """One ``postableAlert`` of the Alertmanager v2 API.

    Labels: ``alertname`` (the rule), ``severity``, ``district``, ``device``, ``incident``,
    ``entity`` and ``origin``, plus the rule's own labels. Empty values are left out
    (Alertmanager treats an empty label as absent anyway).
    """
    labels: dict[str, str] = {
        name: value for name, value in alert.labels.items() if value and name.isidentifier()
    }
    labels.update(
        {
            "alertname": alert.rule,
            "severity": alert.severity.value,
            "district": alert.district,
            "device": alert.labels.get("device", ""),
            "incident": alert.incident_key or "",
            "entity": str(alert.entity),
            ORIGIN_LABEL: origin,
        }
    )
    annotations = dict(alert.annotations)
    annotations.setdefault("summary", alert.expression or alert.key)
    annotations["nocd_alert_key"] = alert.key
    resolved = alert.status is AlertStatus.RESOLVED
    ends = (alert.resolved_at or now) if resolved else now + expires_after
    return {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": annotations,
        "startsAt": alert.started_at.isoformat(),
        "endsAt": ends.isoformat(),
    }


def _safe(url: str) -> str:
    """The URL without user:password, for logs and metric labels."""
    return str(httpx.URL(url).copy_with(username=None, password=None))


@dataclass(slots=True)
class _Target:
    url: str
    name: str  # credential-free
    down: bool = False
    pending: dict[str, Alert] = field(default_factory=dict)  # resolved, not yet delivered


class AlertmanagerNotifier:
    """The Alertmanager ``Notifier``; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        expires_after: timedelta,
        origin: str = "nocd",
        timeout_s: float = 5.0,
        record: PushRecorder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._targets = [_Target(url=u.rstrip("/"), name=_safe(u.rstrip("/"))) for u in urls]
        self._expires_after = expires_after
        self._origin = origin
        self._record = record
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    @property
    def targets(self) -> tuple[str, ...]:
        """The Alertmanager URLs (without credentials)."""
        return tuple(t.name for t in self._targets)

    def down(self) -> tuple[str, ...]:
        """URLs whose last push failed."""
        return tuple(t.name for t in self._targets if t.down)

    async def send(self, alerts: Sequence[Alert], *, now: datetime) -> None:
        """Push ``alerts`` to every Alertmanager at once; failures are logged, not raised."""
        await asyncio.gather(*(self._push(t, alerts, now) for t in self._targets))

    async def _push(self, target: _Target, alerts: Sequence[Alert], now: datetime) -> None:
        firing = {a.key: a for a in alerts if a.status is AlertStatus.FIRING}
        for alert in alerts:
            if alert.status is AlertStatus.RESOLVED and alert.key not in firing:
                target.pending[alert.key] = alert
        for key in list(target.pending):
            if key in firing:  # it fired again: the new firing supersedes the old resolution
                del target.pending[key]
        while len(target.pending) > PENDING_MAX:
            del target.pending[next(iter(target.pending))]
        body = [
            postable_alert(a, now=now, expires_after=self._expires_after, origin=self._origin)
            for a in (*firing.values(), *target.pending.values())
        ]
        if not body:
            return
        try:
            response = await self._client.post(target.url + ALERTS_PATH, json=body)
            response.raise_for_status()
        except Exception as exc:  # noqa: BLE001 - per-notifier stability point: an unreachable
            # or broken Alertmanager must never stop the alerting cycle; retried next cycle.
            if not target.down:
                _logger.error(
                    "Alertmanager %s: push of %d alerts failed (retrying every cycle): %s",
                    target.name,
                    len(body),
                    _reason(exc),
                )
            target.down = True
            self._note(target, False, len(body))
            return
        target.pending.clear()
        if target.down:
            _logger.info(
                "Alertmanager %s: reachable again, %d alerts pushed", target.name, len(body)
            )
            target.down = False
        self._note(target, True, len(body))

    def _note(self, target: _Target, ok: bool, count: int) -> None:
        if self._record is not None:
            self._record(target.name, ok, count)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
