"""Outbound notification of alerts (I/O): the ``Notifier`` protocol and its implementations.

    notifier = AlertmanagerNotifier(["http://127.0.0.1:9093"], expires_after=timedelta(minutes=1))
    await notifier.send(alerts, now=now)   # never raises for a delivery failure

Decisions (what to notify, when) are made in ``alerting.lifecycle``; a notifier only delivers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from alerting.model import Alert

__all__ = ["Notifier"]


class Notifier(Protocol):
    """Delivers alerts somewhere; a failure is logged and retried, never raised."""

    async def send(self, alerts: Sequence[Alert], *, now: datetime) -> None:
        """Deliver ``alerts`` (firing ones are re-sent every cycle, resolved ones once)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
