"""Shared values and request helpers of the ticket API tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Monday 2024-05-06 09:00 in Asia/Shanghai (01:00 UTC): the day shift is on.
T0 = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)

FAULT_STEPS = [
    ("acknowledged", {}),
    ("dispatched", {"technician": "t-wang"}),
    ("on_site", {"symptom": "modem DSL light blinking"}),
    (
        "resolved",
        {"cause": "customer_side", "resolution": "modem replaced", "service_tested": True},
    ),
    ("signed_off", {"signed_by": "Mrs Li"}),
    ("callback_done", {"callback_outcome": "satisfied"}),
    ("closed", {}),
]
INSTALLATION_STEPS = [
    ("acknowledged", {}),
    ("dispatched", {"technician": "t-wang"}),
    ("on_site", {}),
    (
        "resolved",
        {
            "speed_test_mbps": 48.0,
            "modem_installed": True,
            "line_in_sync": True,
            "customer_trained": True,
        },
    ),
    ("signed_off", {"signed_by": "Mr Zhao"}),
    ("callback_done", {"callback_outcome": "satisfied"}),
    ("closed", {}),
]
COMPLAINT_STEPS = [
    ("acknowledged", {}),
    ("resolved", {"cause": "network", "resolution": "uplink upgraded"}),
    ("signed_off", {"signed_by": "phone"}),
    ("callback_done", {"callback_outcome": "satisfied"}),
    ("closed", {}),
]


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def open_ticket(client, token, **body):
    body = {"district": "xihu", "title": "no internet", "priority": "P3", **body}
    response = await client.post("/api/v1/tickets", json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    return response.json()


async def move(client, token, ticket_id, to, fields=None, **extra):
    return await client.post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"to": to, "fields": fields or {}, **extra},
        headers=auth(token),
    )
