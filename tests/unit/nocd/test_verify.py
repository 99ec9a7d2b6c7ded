"""``nocd.verify``: the district's record against central's, on two real SQLite files.

The district writes through its real outbox (``nocd.outbox.Outbox``); central gets the same
rows through the storage calls ingest uses (``poll_repo``), and the high-water mark it would
have after acknowledging everything. Then one thing at a time is broken — a sample lost or
doubled, an invented ``down``, an unsent item, a ticket version missing — and the matching
check must fail while the consistent pair passes every check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from nocd.config import Settings
from nocd.outbox import Outbox
from nocd.storage import outbox_repo, poll_repo
from nocd.storage.db import make_engine, session_factory
from nocd.storage.models import (
    Base,
    Device,
    District,
    DistrictStatus,
    OutboxState,
    Sample,
    TicketEventRow,
    TicketRow,
)
from nocd.storage.outbox_repo import OutboxLimits
from nocd.verify import Check, own_events_explained, verify

DISTRICT = "d01"
DEVICES = ("d01-dslam-1", "d01-dslam-2")
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
LIMITS = OutboxLimits(quota_items=10_000, quota_bytes=10**9)

Sessions = Callable[[], Session]


def _database(path: Path) -> Iterator[Sessions]:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        session.add(District(id=DISTRICT, name=DISTRICT))
        session.flush()  # no ORM relationship orders the inserts: the district first
        for name in DEVICES:
            session.add(
                Device(name=name, district_id=DISTRICT, kind="dslam", address="127.0.0.1", snmp={})
            )
        session.commit()
    yield sessions
    engine.dispose()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Sessions, Sessions]]:
    """(district, central): the same three polls and two verdicts, delivered exactly once."""
    district_db = _database(tmp_path / "district.db")
    central_db = _database(tmp_path / "central.db")
    district, central = next(district_db), next(central_db)
    outbox = Outbox(district=DISTRICT, sessions=district, limits=LIMITS)
    epoch = outbox.ensure()
    polls = [
        poll_repo.PollRecord(
            device=device,
            at=T0 + 60 * n,
            outcome="ok",
            values=[("line:1001", "snr_margin_down_db", 7.5 + n), ("if:1", "oper_up", 1.0)],
        )
        for n in range(3)
        for device in DEVICES
    ]
    states = [(DEVICES[0], "up", T0), (DEVICES[0], "down", T0 + 100)]
    with district() as session:
        for record in polls:
            outbox.store_poll(session, record=record)
        for device, state, at in states:
            outbox.record_state(session, device=device, state=state, at=at)
        session.commit()
    with central() as session:
        for record in polls:
            poll_repo.store_poll(session, record=record)
        for device, state, at in states:
            poll_repo.record_state(session, device=device, state=state, at=at)
        # Central marked the district silent, then the resync snapshot restored "down".
        poll_repo.record_state(session, device=DEVICES[0], state="unknown", at=T0 + 200)
        poll_repo.record_state(session, device=DEVICES[0], state="down", at=T0 + 260)
        session.add(
            DistrictStatus(district=DISTRICT, epoch=epoch, last_seq=len(polls) + 2, since=T0)
        )
        session.commit()
    with district() as session:
        outbox_repo.acknowledge(session, district=DISTRICT, upto_seq=len(polls) + 2)
        session.commit()
    yield district, central
    for generator in (district_db, central_db):
        next(generator, None)


def _run(pair: tuple[Sessions, Sessions]) -> dict[str, Check]:
    district, central = pair
    checks = verify(district, central, district=DISTRICT, settings=Settings(), recompute=False)
    return {check.name: check for check in checks}


def _failed(checks: dict[str, Check]) -> set[str]:
    return {name for name, check in checks.items() if not check.ok}


def test_verify_passes_when_central_holds_everything_exactly_once(
    pair: tuple[Sessions, Sessions],
) -> None:
    checks = _run(pair)
    assert _failed(checks) == set(), {n: c.detail for n, c in checks.items()}
    assert checks["samples"].checked == 12  # 3 polls × 2 devices × 2 values
    assert checks["state intervals"].checked == 2
    assert checks["outbox drained"].checked == 8  # 6 polls + 2 verdicts


def test_verify_should_report_a_lost_sample(pair: tuple[Sessions, Sessions]) -> None:
    _, central = pair
    with central() as session:
        victim = session.scalars(select(Sample).order_by(Sample.id).limit(1)).one()
        session.delete(victim)
        session.commit()
    checks = _run(pair)
    assert _failed(checks) == {"samples"}
    assert checks["samples"].detail.startswith("1 lost")


def test_verify_should_report_a_doubled_sample_and_its_duplicate_key(
    pair: tuple[Sessions, Sessions],
) -> None:
    _, central = pair
    with central() as session:
        first = session.scalars(select(Sample).order_by(Sample.id).limit(1)).one()
        session.add(
            Sample(
                device_id=first.device_id,
                entity=first.entity,
                metric=first.metric,
                ts=first.ts,
                value=first.value,
            )
        )
        session.commit()
    checks = _run(pair)
    assert _failed(checks) == {"samples", "sample keys unique at central"}
    assert "1 extra" in checks["samples"].detail


def test_verify_should_refuse_a_down_central_invented(pair: tuple[Sessions, Sessions]) -> None:
    _, central = pair
    with central() as session:
        poll_repo.record_state(session, device=DEVICES[1], state="down", at=T0 + 300)
        session.commit()
    checks = _run(pair)
    assert _failed(checks) == {"state intervals"}
    assert "d01-dslam-2" in checks["state intervals"].detail


def test_verify_should_report_an_unsent_outbox_item(pair: tuple[Sessions, Sessions]) -> None:
    district, _ = pair
    outbox = Outbox(district=DISTRICT, sessions=district, limits=LIMITS)
    with district() as session:
        outbox.record_state(session, device=DEVICES[1], state="down", at=T0 + 400)
        session.commit()
    checks = _run(pair)
    # The verdict was never delivered: the outbox still holds it and central lacks it.
    assert _failed(checks) == {"outbox drained", "state intervals"}
    assert "1 items still unsent" in checks["outbox drained"].detail


def test_verify_should_report_items_the_outbox_dropped(pair: tuple[Sessions, Sessions]) -> None:
    district, _ = pair
    with district() as session:
        state = session.get(OutboxState, DISTRICT)
        assert state is not None
        state.dropped = 3
        session.commit()
    assert _failed(_run(pair)) == {"outbox drained"}


def test_verify_should_report_a_missing_ticket_version(pair: tuple[Sessions, Sessions]) -> None:
    _, central = pair
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with central() as session:
        session.add(
            TicketRow(
                id="T-1",
                kind="fault",
                template="fault",
                state="new",
                priority="P3",
                district=DISTRICT,
                version=3,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        for version in (1, 3):  # version 2 never stored
            session.add(
                TicketEventRow(
                    ticket_id="T-1",
                    version=version,
                    kind="update",
                    actor="nocd-alerting",
                    at=now,
                    state="new",
                    priority="P3",
                )
            )
        session.commit()
    checks = _run(pair)
    assert _failed(checks) == {"ticket events"}
    assert checks["ticket events"].detail.startswith("1 tickets whose events")


@pytest.mark.parametrize(
    ("description", "events", "own", "unexplained"),
    [
        (
            "silence then the snapshot's restoration is central's own, and explained",
            [("a", 1, "up"), ("a", 5, "unknown"), ("a", 9, "up")],
            [("a", 5, "unknown"), ("a", 9, "up")],
            [],
        ),
        (
            "a down central wrote by itself is invented",
            [("a", 1, "up"), ("a", 5, "down")],
            [("a", 5, "down")],
            [("a", 5, "down")],
        ),
        (
            "a restoration counts only right after an unknown of the same device",
            [("a", 5, "unknown"), ("b", 6, "up")],
            [("a", 5, "unknown"), ("b", 6, "up")],
            [("b", 6, "up")],
        ),
    ],
)
def test_own_events_explained(
    description: str,
    events: list[tuple[str, int, str]],
    own: list[tuple[str, int, str]],
    unexplained: list[tuple[str, int, str]],
) -> None:
    assert own_events_explained(events, Counter(own)) == unexplained, description
