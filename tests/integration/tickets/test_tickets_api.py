"""Tickets through the REST API on SQLite and PostgreSQL, with a driven clock (no sleeps).

Each test runs inside an outer transaction that is rolled back afterwards (as in
``test_api.py``); the service's clock is replaced by ``Clock`` so timers are driven.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI

from alerting.workflow import Breach
from nocd.storage import poll_repo, ticket_repo
from tests.integration.tickets.helpers import (
    COMPLAINT_STEPS,
    FAULT_STEPS,
    INSTALLATION_STEPS,
    auth,
    move,
    open_ticket,
)

pytestmark = pytest.mark.integration


# --- lifecycle ---


@pytest.mark.parametrize(
    ("kind", "extra", "steps"),
    [
        ("fault", {"customer_id": "C1001", "lines": ["xihu-dslam-01/1001"]}, FAULT_STEPS),
        ("installation", {"customer_id": "C1003"}, INSTALLATION_STEPS),
        ("complaint", {"lines": ["xihu-dslam-01/1002"]}, COMPLAINT_STEPS),
    ],
)
async def test_whole_lifecycle_of_each_template_through_the_api(
    client, tokens, stocked, clock, kind, extra, steps
):
    token = tokens["integration"]
    ticket = await open_ticket(client, token, kind=kind, **extra)
    assert ticket["state"] == "new" and ticket["version"] == 1
    for index, (state, fields) in enumerate(steps, start=2):
        clock.advance(minutes=5)
        response = await move(client, token, ticket["id"], state, fields, version=index - 1)
        assert response.status_code == 200, (state, response.text)
        assert response.json()["state"] == state
        assert response.headers["ETag"] == f'"{index}"'
    detail = await client.get(f"/api/v1/tickets/{ticket['id']}", headers=auth(tokens["viewer"]))
    body = detail.json()
    assert body["state"] == "closed" and body["closed_at"] is not None
    assert [e["state"] for e in body["history"]] == ["new", *(s for s, _ in steps)]
    assert {e["actor"] for e in body["history"]} == {"t-integration"}
    assert body["allowed_transitions"] == []


async def test_dispatch_proposes_the_on_shift_technician_and_arrival_is_confirmed(
    client, tokens, stocked, clock
):
    token = tokens["operator"]
    ticket = await open_ticket(client, token)
    await move(client, token, ticket["id"], "acknowledged")
    proposal = await client.get(
        f"/api/v1/tickets/{ticket['id']}/dispatch-proposal", headers=auth(tokens["viewer"])
    )
    assert proposal.json()["technician_id"] == "t-wang", proposal.text
    clock.advance(minutes=1)
    response = await client.post(
        f"/api/v1/tickets/{ticket['id']}/dispatch", json={}, headers=auth(token)
    )
    assert response.status_code == 200, response.text
    assert response.json()["ticket"]["technician"] == "t-wang"
    assert response.json()["proposal"]["technician_id"] == "t-wang"
    clock.advance(minutes=20)
    response = await client.post(
        f"/api/v1/tickets/{ticket['id']}/arrival",
        json={"symptom": "no sync light"},
        headers=auth(token),
    )
    assert response.status_code == 200, response.text
    timers = {t["timer"]: t for t in response.json()["timers"]}
    assert timers["on_site"]["stopped_at"] is not None and not timers["on_site"]["breached"]


# --- refusals ---


async def test_illegal_transition_is_409_with_the_allowed_states(client, tokens, stocked):
    token = tokens["operator"]
    ticket = await open_ticket(client, token)
    response = await move(client, token, ticket["id"], "on_site", {"symptom": "x"})
    assert response.status_code == 409
    body = response.json()
    assert body["current"] == "new" and body["target"] == "on_site"
    assert body["allowed"] == ["acknowledged", "cancelled"]
    response = await move(client, token, ticket["id"], "no_such_state")
    assert response.status_code == 422  # not a state at all: request validation


async def test_closing_without_a_callback_is_refused(client, tokens, stocked, clock):
    token = tokens["operator"]
    ticket = await open_ticket(client, token)
    for state, fields in FAULT_STEPS[:5]:
        clock.advance(minutes=1)
        assert (await move(client, token, ticket["id"], state, fields)).status_code == 200
    response = await move(client, token, ticket["id"], "closed")
    assert response.status_code == 409
    assert response.json()["allowed"] == ["callback_done"]
    assert "cannot go from signed_off to closed" in response.json()["detail"]


async def test_missing_step_fields_are_422_with_every_problem(client, tokens, stocked):
    token = tokens["operator"]
    ticket = await open_ticket(client, token)
    await move(client, token, ticket["id"], "acknowledged")
    response = await move(client, token, ticket["id"], "resolved", {"paid_work": True})
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any("cause: required" in p for p in problems)
    assert any("quote" in p for p in problems)


# --- concurrency ---


async def test_stale_if_match_is_412_and_stale_body_version_is_409(client, tokens, stocked):
    token = tokens["operator"]
    ticket = await open_ticket(client, token)
    first = await client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"fields": {"appointment_at": "2024-05-06T06:00:00+00:00"}},
        headers=auth(token, **{"If-Match": '"1"'}),
    )
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    second = await client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"priority": "P1", "priority_reason": "hospital"},
        headers=auth(token, **{"If-Match": '"1"'}),
    )
    assert second.status_code == 412
    assert second.json()["expected"] == 1 and second.json()["actual"] == 2
    third = await move(client, token, ticket["id"], "acknowledged", version=1)
    assert third.status_code == 409 and third.json()["actual"] == 2


# --- idempotency ---


async def test_idempotency_key_replays_the_first_create_and_refuses_another_body(
    client, tokens, stocked
):
    token = tokens["integration"]
    body = {"district": "xihu", "title": "no internet", "priority": "P3"}
    headers = auth(token, **{"Idempotency-Key": "hotline-42"})
    first = await client.post("/api/v1/tickets", json=body, headers=headers)
    again = await client.post("/api/v1/tickets", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    listed = await client.get("/api/v1/tickets", headers=auth(token))
    assert listed.json()["total"] == 1
    other = await client.post("/api/v1/tickets", json={**body, "title": "other"}, headers=headers)
    assert other.status_code == 422


# --- search ---


async def test_search_filters_sorts_and_pages(client, tokens, stocked, clock):
    token = tokens["operator"]
    ids = []
    for priority in ("P4", "P1", "P3"):
        clock.advance(minutes=1)
        ids.append((await open_ticket(client, token, priority=priority))["id"])
    await move(client, token, ids[0], "acknowledged")
    response = await client.get(
        "/api/v1/tickets", params={"sort": "priority", "limit": 2}, headers=auth(token)
    )
    page = response.json()
    assert page["total"] == 3 and [t["priority"] for t in page["items"]] == ["P1", "P3"]
    response = await client.get(
        "/api/v1/tickets", params={"state": ["acknowledged"]}, headers=auth(token)
    )
    assert [t["id"] for t in response.json()["items"]] == [ids[0]]


# --- timers and breaches ---


async def test_on_site_breach_after_30_minutes_raises_event_webhook_alert_and_metric(
    client, tokens, stocked, clock, service, app, sessions
):
    token = tokens["operator"]
    hook = await client.post(
        "/api/v1/webhooks",
        json={
            "name": "escalation",
            "url": "http://127.0.0.1:9/hook",
            "secret": "0123456789abcdef",
            "events": ["ticket.breached"],
        },
        headers=auth(token),
    )
    assert hook.status_code == 201, hook.text
    raised: list[Breach] = []
    service.breach_listeners.append(lambda breach, ticket: raised.append(breach))
    ticket = await open_ticket(client, token)
    await move(client, token, ticket["id"], "acknowledged")
    dispatched_at = clock.advance(minutes=2)
    await client.post(
        f"/api/v1/tickets/{ticket['id']}/dispatch",
        json={"technician_id": "t-wang"},
        headers=auth(token),
    )
    clock.now = dispatched_at + timedelta(minutes=30)  # exactly on time: no breach
    assert [b.timer for b in service.check_timers(clock.now)] == []
    clock.now = dispatched_at + timedelta(minutes=30, seconds=1)
    breaches = service.check_timers(clock.now)
    assert [(b.ticket_id, b.timer) for b in breaches] == [(ticket["id"], "on_site")]
    assert [b.timer for b in raised] == ["on_site"]
    assert service.check_timers(clock.now + timedelta(minutes=1)) == []  # raised once
    events = (
        await client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=auth(token))
    ).json()
    assert events[-1]["kind"] == "breached" and events[-1]["details"]["timer"] == "on_site"
    with sessions() as session:
        due = ticket_repo.due_deliveries(session, clock.now)
    assert [d.event_type for d in due] == ["ticket.breached"]
    assert '"timer":"on_site"' in due[0].body
    registry = app.state.registry
    assert registry.get_sample_value("nocd_ticket_breaches_total", {"timer": "on_site"}) == 1.0
    # The breach is also an alert: through the alerting inbox into the next cycle.
    report = await app.state.alerting.run_cycle()
    assert report is not None and report.ok
    alerts = (
        await client.get("/api/v1/alerts?rule=ticket_timer_breached", headers=auth(token))
    ).json()
    assert [(a["rule"], a["status"], a["district"]) for a in alerts["items"]] == [
        ("ticket_timer_breached", "firing", "xihu")
    ], alerts
    metrics = await client.get("/metrics")
    assert 'nocd_tickets{district="xihu",priority="P3",state="dispatched"} 1.0' in metrics.text


async def test_hold_pauses_the_on_site_timer(client, tokens, stocked, clock, service):
    token = tokens["operator"]
    ticket = await open_ticket(client, token)
    await move(client, token, ticket["id"], "acknowledged")
    await move(client, token, ticket["id"], "dispatched", {"technician": "t-wang"})
    clock.advance(minutes=10)
    held = await client.post(
        f"/api/v1/tickets/{ticket['id']}/hold",
        json={"reason": "waiting_for_customer"},
        headers=auth(token),
    )
    assert held.status_code == 200, held.text
    clock.advance(minutes=60)
    assert service.check_timers(clock.now) == []
    await client.post(f"/api/v1/tickets/{ticket['id']}/release", json={}, headers=auth(token))
    clock.advance(minutes=20, seconds=1)
    assert [b.timer for b in service.check_timers(clock.now)] == ["on_site"]


# --- hotline classification ---


def _poll(sessions, device, at, values, state="up"):
    with sessions() as session:
        poll_repo.record_state(session, device=device, state=state, at=at - 60)
        poll_repo.store_poll(
            session,
            record=poll_repo.PollRecord(device=device, at=at, outcome="ok", values=values),
        )
        session.commit()


async def test_hotline_classifies_lost_sync_as_network_and_good_line_as_customer_side(
    client, tokens, stocked, clock, sessions
):
    now_s = int(clock.now.timestamp())
    _poll(
        sessions,
        "xihu-dslam-01",
        now_s - 120,
        [
            ("if:1001", "oper_up", 0.0),  # lost sync
            ("if:1002", "oper_up", 1.0),
            ("line:1002", "snr_margin_down_db", 11.5),
            ("line:1002", "actual_down_kbps", 50000.0),
            ("if:1002", "in_bps", 2_000_000.0),
            ("if:1002", "out_bps", 150_000.0),
        ],
    )
    token = tokens["integration"]
    lost = await client.post(
        "/api/v1/tickets/hotline",
        json={"customer_id": "C1001", "description": "no internet at all"},
        headers=auth(token),
    )
    assert lost.status_code == 201, lost.text
    assert lost.json()["classification"]["side"] == "network"
    assert lost.json()["classification"]["category"] == "line_down"
    assert lost.json()["ticket"]["side"] == "network"
    assert lost.json()["ticket"]["lines"] == ["xihu-dslam-01/1001"]
    good = await client.post(
        "/api/v1/tickets/hotline",
        json={"customer_id": "C1002", "description": "internet slow on my PC"},
        headers=auth(token),
    )
    assert good.status_code == 201, good.text
    assert good.json()["classification"]["side"] == "customer_side"
    assert good.json()["classification"]["category"] == "cpe_or_pc"
    # enterprise customer, service down: P2 by the triage matrix
    assert good.json()["ticket"]["priority"] == "P2"


# --- authorisation ---


def _write_routes(app: FastAPI) -> list[tuple[str, str]]:
    prefixes = ("/api/v1/tickets", "/api/v1/technicians", "/api/v1/webhooks")
    out = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if method in {"post", "put", "patch", "delete"} and path.startswith(prefixes):
                filled = path.replace("{ticket_id}", "T-x").replace("{technician_id}", "t-x")
                out.append((method.upper(), filled.replace("{subscription_id}", "1")))
    return sorted(out)


async def test_every_write_route_refuses_missing_wrong_and_viewer_tokens(app, client, tokens):
    routes = _write_routes(app)
    assert len(routes) >= 15, routes
    for method, path in routes:
        missing = await client.request(method, path, json={})
        assert missing.status_code == 401, (method, path)
        wrong = await client.request(method, path, json={}, headers=auth("nocd_wrong"))
        assert wrong.status_code == 401, (method, path)
        viewer = await client.request(method, path, json={}, headers=auth(tokens["viewer"]))
        assert viewer.status_code == 403, (method, path)
        district = await client.request(method, path, json={}, headers=auth(tokens["district"]))
        assert district.status_code == 403, (method, path)


async def test_integration_token_may_not_write_inventory(client, tokens):
    response = await client.post(
        "/api/v1/districts", json={"id": "d", "name": "D"}, headers=auth(tokens["integration"])
    )
    assert response.status_code == 403


async def test_webhook_secret_is_never_returned(client, tokens, sessions):
    secret = "super-secret-value-123"
    created = await client.post(
        "/api/v1/webhooks",
        json={"name": "x", "url": "http://127.0.0.1:9/h", "secret": secret},
        headers=auth(tokens["integration"]),
    )
    assert created.status_code == 201
    assert secret not in created.text
    listed = await client.get("/api/v1/webhooks", headers=auth(tokens["integration"]))
    assert secret not in listed.text
    with sessions() as session:
        record = ticket_repo.get_subscription(session, created.json()["id"])
    assert record is not None and secret not in repr(record)
