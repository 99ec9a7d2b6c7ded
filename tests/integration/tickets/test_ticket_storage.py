"""The ticket service on storage: concurrent writers with real commits, and incident tickets.

Concurrency needs real transactions, so that test has a database of its own
(``fresh_db_url``); the incident tests use the rolled-back ``sessions`` of the conftest.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from alerting.tickets import Priority, VersionConflict
from nocd.storage import ticket_repo
from nocd.storage.db import make_engine, session_factory
from nocd.storage.models import AlertRow, IncidentRow
from nocd.storage.ticket_repo import StaleTicket
from nocd.ticket_config import TicketSettings
from nocd.ticket_service import PreconditionFailed, TicketService
from tests.integration.tickets.helpers import T0, auth

pytestmark = pytest.mark.integration


def test_two_concurrent_updates_one_wins_the_other_is_refused(fresh_db_url):
    engine = make_engine(fresh_db_url)
    sessions = session_factory(engine)
    service = TicketService(settings=TicketSettings(), sessions=sessions)
    try:
        with sessions() as session:
            ticket = service.create(
                session, template="broadband_fault", district="xihu", actor="a", now=T0
            ).ticket
        start = threading.Barrier(2)
        results: list[object] = []

        def writer(priority: str) -> None:
            start.wait(5)
            try:
                with sessions() as session:
                    stored = service.update(
                        session,
                        ticket.id,
                        actor=f"op-{priority}",
                        now=T0 + timedelta(minutes=1),
                        priority=Priority(priority),
                        priority_reason="escalated",
                        if_match=1,
                    )
                results.append(stored.ticket.priority)
            except (PreconditionFailed, StaleTicket, VersionConflict) as exc:
                results.append(exc)

        threads = [threading.Thread(target=writer, args=(p,)) for p in ("P1", "P2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        wins = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(wins) == 1 and len(refused) == 1, results
        with sessions() as session:
            stored = ticket_repo.get_ticket(session, ticket.id)
        assert stored is not None
        assert stored.ticket.version == 2 and stored.ticket.priority == wins[0]
        assert [e.version for e in stored.ticket.history] == [1, 2]
    finally:
        engine.dispose()


def _incident(session, key, *, status="firing", at=T0, lines=()):
    row = session.query(IncidentRow).filter_by(key=key).one_or_none()
    if row is None:
        row = IncidentRow(
            key=key,
            root_alert_key=key.removeprefix("incident:"),
            severity="critical",
            district="xihu",
            started_at=at,
            child_alert_keys=[],
            customers_by_sla={"residential": 40, "enterprise": 2},
            summary="xihu-dslam-01 down",
        )
        session.add(row)
    row.status = status
    row.updated_at = at
    row.resolved_at = at if status == "resolved" else None
    session.flush()
    for index in lines:
        session.add(
            AlertRow(
                key=f"line_down:line:xihu-dslam-01/line:{index}",
                rule="line_down",
                severity="minor",
                status="firing",
                entity_kind="line",
                entity_id=f"xihu-dslam-01/line:{index}",
                district="xihu",
                started_at=at,
                updated_at=at,
                incident_key=key,
            )
        )
    session.add(
        AlertRow(
            key=f"device_down:device:xihu-dslam-01:{len(lines)}:{status}",
            rule="device_down",
            severity="critical",
            status="firing" if status == "firing" else "resolved",
            entity_kind="device",
            entity_id="xihu-dslam-01",
            district="xihu",
            started_at=at,
            updated_at=at,
            incident_key=key,
        )
    )
    session.commit()


async def test_one_ticket_per_incident_children_attach_recovery_suggests_resolution(
    client, tokens, stocked, service, sessions, clock
):
    key = "incident:device_down:device:xihu-dslam-01"
    with sessions() as session:
        _incident(session, key, lines=(1001,))
    created = service.sync_incidents(clock.now)
    assert len(created) == 1
    assert service.sync_incidents(clock.advance(minutes=1)) == []  # idempotent
    with sessions() as session:
        ticket = ticket_repo.get_ticket(session, created[0])
    assert ticket is not None
    t = ticket.ticket
    assert t.incident_key == key and t.side == "network" and t.lines == ("xihu-dslam-01/1001",)
    assert t.priority == "P1"  # 40 residential + 2 enterprise (weight 20) = 80: large, down

    # A customer behind the DSLAM calls: the report is the incident's, linked to its ticket.
    report = await client.post(
        "/api/v1/tickets/hotline",
        json={"customer_id": "C1002", "description": "no internet"},
        headers=auth(tokens["integration"]),
    )
    assert report.status_code == 201, report.text
    assert report.json()["classification"]["category"] == "incident"
    assert report.json()["ticket"]["linked_tickets"] == [t.id]

    # A child line alert joins: attached to the same ticket.
    with sessions() as session:
        _incident(session, key, at=clock.advance(minutes=1), lines=(1002,))
    assert service.sync_incidents(clock.now) == [t.id]
    with sessions() as session:
        assert ticket_repo.get_ticket(session, t.id).ticket.lines == (  # type: ignore[union-attr]
            "xihu-dslam-01/1001",
            "xihu-dslam-01/1002",
        )

    # Recovery suggests resolution; the ticket stays open for a person to resolve.
    with sessions() as session:
        _incident(session, key, status="resolved", at=clock.advance(minutes=5))
    assert service.sync_incidents(clock.advance(seconds=1)) == [t.id]
    detail = await client.get(f"/api/v1/tickets/{t.id}", headers=auth(tokens["viewer"]))
    assert detail.json()["state"] == "new"
    assert detail.json()["resolution_suggested_at"] is not None
    comments = await client.get(f"/api/v1/tickets/{t.id}/comments", headers=auth(tokens["viewer"]))
    assert "resolution suggested" in comments.json()["items"][0]["text"]
