"""Outbound ticket webhooks to a real HTTP receiver on loopback, down for a while then up.

The receiver is ``http.server`` in a thread. It is first not listening at all (connection
refused), then answers 503, then 200; the outbox is drained by ``deliver_webhooks(now)``
with a driven clock, so the backoff is exercised without sleeping. Every event must arrive
exactly once per subscription (by event id), in order, with a valid HMAC signature.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from alerting.notify.webhooks import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from nocd.storage import ticket_repo
from tests.integration.tickets.helpers import FAULT_STEPS, auth, move, open_ticket

pytestmark = pytest.mark.integration

SECRETS = {"all": "secret-for-all-events-1", "breaches": "secret-for-transitions-2"}


class Receiver:
    """Records every request; answers ``status`` (503 while "failing")."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.status = 200
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with socket.socket() as probe:  # a free port, closed again: "down" = connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = Receiver(port)
    yield receiver
    receiver.stop()


async def test_receiver_down_then_up_gets_every_event_exactly_once_signed_in_order(
    client, tokens, stocked, clock, service, receiver, sessions
):
    token = tokens["integration"]
    base = f"http://127.0.0.1:{receiver.port}"
    subscriptions = {}
    for name, path, events in (
        ("all", "/all", []),
        ("breaches", "/some", ["ticket.transitioned", "ticket.closed"]),
    ):
        response = await client.post(
            "/api/v1/webhooks",
            json={"name": name, "url": base + path, "secret": SECRETS[name], "events": events},
            headers=auth(token),
        )
        assert response.status_code == 201, response.text
        subscriptions[name] = response.json()["id"]

    ticket = await open_ticket(client, token)
    for state, fields in FAULT_STEPS:
        clock.advance(minutes=3)
        assert (await move(client, token, ticket["id"], state, fields)).status_code == 200
    comment = await client.post(
        f"/api/v1/tickets/{ticket['id']}/comments", json={"text": "thanks"}, headers=auth(token)
    )
    assert comment.status_code == 201
    # created + 7 transitions + closed + comment; the filtered one: 7 transitions + closed
    expected = {"all": 10, "breaches": 8}

    # Down: nothing listens. Every attempt fails; each subscription stops at its first event.
    assert await service.deliver_webhooks(clock.now) == 0
    with sessions() as session:
        log = ticket_repo.list_deliveries(session, subscriptions["all"])
    assert log.total == 1 and not log.items[0].ok and "Connect" in (log.items[0].error or "")
    # Still down when retried too early: nothing is due before the backoff (10 s) ends.
    assert await service.deliver_webhooks(clock.now + timedelta(seconds=5)) == 0
    with sessions() as session:
        assert ticket_repo.list_deliveries(session, subscriptions["all"]).total == 1

    # Up, but answering 503: attempts are made and refused, nothing counts as delivered.
    receiver.status = 503
    receiver.start()
    assert await service.deliver_webhooks(clock.advance(seconds=11)) == 0
    assert len(receiver.requests) == 2  # one head-of-line attempt per subscription

    # Healthy: everything goes, in order, once.
    receiver.status = 200
    delivered = await service.deliver_webhooks(clock.advance(seconds=30))
    assert delivered == sum(expected.values())
    assert await service.deliver_webhooks(clock.advance(hours=2)) == 0  # nothing left

    accepted = receiver.requests[2:]
    for name, path in (("all", "/all"), ("breaches", "/some")):
        mine = [(headers, body) for p, headers, body in accepted if p == path]
        ids = [headers[EVENT_ID_HEADER] for headers, _ in mine]
        assert len(ids) == len(set(ids)) == expected[name], name
        for headers, body in mine:
            assert verify(body, SecretStr(SECRETS[name]), headers[SIGNATURE_HEADER])
            assert not verify(body, SecretStr("wrong-secret-xxxxxx"), headers[SIGNATURE_HEADER])
            assert headers[TIMESTAMP_HEADER].isdigit()
            document = json.loads(body)
            assert document["id"] == headers[EVENT_ID_HEADER]
            assert document["type"] == headers[EVENT_HEADER]
        versions = [json.loads(body)["event"]["version"] for _, body in mine]
        assert versions == sorted(versions), f"{name}: out of order"
    types = [json.loads(body)["type"] for p, _, body in accepted if p == "/all"]
    assert types[0] == "ticket.created" and types[-3:-1] == ["ticket.transitioned", "ticket.closed"]
    assert types[-1] == "ticket.updated"  # the comment

    with sessions() as session:
        assert ticket_repo.outbox_pending(session) == {
            "pending": 0,
            "delivered": sum(expected.values()),
            "dead": 0,
        }
        log = ticket_repo.list_deliveries(session, subscriptions["all"], limit=500)
    assert sum(1 for d in log.items if d.ok) == expected["all"]
    response = await client.get(
        f"/api/v1/webhooks/{subscriptions['all']}/deliveries", headers=auth(token)
    )
    assert response.json()["total"] == log.total


async def test_delivery_gives_up_after_max_attempts_and_says_so(
    client, tokens, stocked, clock, service, receiver, sessions
):
    service.settings = service.settings.model_copy(update={"webhook_max_attempts": 2})
    token = tokens["operator"]
    response = await client.post(
        "/api/v1/webhooks",
        json={
            "name": "gone",
            "url": f"http://127.0.0.1:{receiver.port}/x",
            "secret": "0123456789abcdef",
            "events": ["ticket.created"],
        },
        headers=auth(token),
    )
    assert response.status_code == 201
    await open_ticket(client, token)
    await service.deliver_webhooks(clock.now)
    await service.deliver_webhooks(clock.advance(minutes=5))
    with sessions() as session:
        assert ticket_repo.outbox_pending(session)["dead"] == 1
    registry = client._transport.app.state.registry  # type: ignore[attr-defined]
    assert registry.get_sample_value("nocd_webhook_deliveries_total", {"result": "dead"}) == 1.0
