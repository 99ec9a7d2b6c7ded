"""Two tiers in one process, on SQLite and PostgreSQL: the outbox, central ingest, silence.

The district side is ``nocd.outbox.Outbox`` on a real database; central is the real app
(``create_app`` with role ``central``) driven through ``httpx.ASGITransport``. The processes
and the network between them are tested in ``test_two_tier.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from collectors.ports import PortInfo
from kpi.intervals import MAX_EPOCH_S, TimeWindow
from nocd.app import create_app
from nocd.config import CentralSettings, DaemonSettings, Role, Settings
from nocd.districts import DistrictWatch
from nocd.inventory import import_documents, read_inventory
from nocd.kpi_service import KpiService
from nocd.metrics import OutboxMetrics
from nocd.outbox import Forwarder, Outbox, encode_batch
from nocd.storage import db, kpi_repo, outbox_repo, poll_repo
from nocd.storage.models import (
    Device,
    DeviceStateEvent,
    DistrictEvent,
    DistrictStatus,
    OutboxItem,
    Port,
    Sample,
)
from nocd.storage.outbox_repo import OutboxLimits
from nocd.storage.poll_repo import PollRecord, UnknownDeviceError
from nocd.storage.tokens import TokenRole, create_token

pytestmark = pytest.mark.integration

INVENTORY = """\
districts: [{id: xihu, name: Xihu}, {id: binjiang, name: Binjiang}]
devices:
  - {name: xihu-dslam-01, district: xihu, kind: dslam, address: 127.0.1.2,
     snmp: {version: 2c, community: public}}
  - {name: xihu-dslam-02, district: xihu, kind: dslam, address: 127.0.1.3,
     snmp: {version: 2c, community: public}}
  - {name: bj-dslam-01, district: binjiang, kind: dslam, address: 127.0.2.2,
     snmp: {version: 2c, community: public}}
"""
LIMITS = OutboxLimits(quota_items=1_000_000, quota_bytes=1 << 30)


@contextmanager
def _database(url: str, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    with sessions() as session:
        import_documents(session, [read_inventory(path)])
        session.commit()
    try:
        yield sessions
    finally:
        engine.dispose()


@pytest.fixture
def district_db(make_database, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with _database(make_database(True), tmp_path) as sessions:
        yield sessions


@pytest.fixture
def central_db(make_database, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with _database(make_database(True), tmp_path) as sessions:
        yield sessions


@pytest.fixture
def outbox(district_db: Callable[[], Session]) -> Outbox:
    box = Outbox(district="xihu", sessions=district_db, limits=LIMITS)
    box.ensure()
    return box


def _poll(device: str, at: int, value: float = 1.0) -> PollRecord:
    return PollRecord(
        device=device,
        at=at,
        outcome="ok",
        profile="generic-vdsl2-dslam",
        values=[("line:1", "snr_margin_down_db", value), ("line:2", "snr_margin_down_db", 7.5)],
    )


def _write(outbox: Outbox, write: Callable[[Session], object]) -> None:
    """One Collection-style write: the local rows and the outbox item in one transaction."""
    with outbox.sessions() as session:
        write(session)
        session.commit()


# --- the outbox (district side) --------------------------------------------------------------


def test_outbox_item_commits_with_the_local_write_or_not_at_all(outbox: Outbox) -> None:
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", 100)))
    with pytest.raises(UnknownDeviceError):
        _write(outbox, lambda s: outbox.store_poll(s, record=_poll("gone-dslam", 101)))
    with outbox.sessions() as session:
        # A failure after the local rows were written must take the outbox item with them.
        outbox.store_poll(session, record=_poll("xihu-dslam-02", 102))
        session.rollback()
    with outbox.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Sample)) == 2
        items = session.execute(select(OutboxItem.seq, OutboxItem.kind)).all()
        stats = outbox_repo.outbox_stats(session, district="xihu")
    assert items == [(1, "poll")]
    assert stats is not None and (stats.items, stats.next_seq) == (1, 2)


def test_outbox_sequence_is_never_reused_after_everything_was_acknowledged(
    outbox: Outbox,
) -> None:
    """A bare SQLite rowid would restart at 1 once the table is empty; central would then
    take the new items for resends and drop them."""
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", 100)))
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", 101)))
    with outbox.sessions() as session, session.begin():
        assert outbox_repo.acknowledge(session, district="xihu", upto_seq=2) == 2
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", 102)))
    with outbox.sessions() as session:
        assert session.scalars(select(OutboxItem.seq)).all() == [3]
        stats = outbox_repo.outbox_stats(session, district="xihu")
    assert stats is not None and stats.items == 1 and stats.bytes > 0


def test_quota_drops_the_oldest_items_loudly_and_counts_them(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.limits = OutboxLimits(quota_items=10, quota_bytes=1 << 30)
    for at in range(100, 112):
        _write(outbox, lambda s, at=at: outbox.store_poll(s, record=_poll("xihu-dslam-01", at)))
    with outbox.sessions() as session:
        seqs = session.scalars(select(OutboxItem.seq).order_by(OutboxItem.seq)).all()
        stats = outbox_repo.outbox_stats(session, district="xihu")
        # The local samples are all kept: only the copies for central were dropped.
        assert session.scalar(select(func.count()).select_from(Sample)) == 24
    # 11 > 10 drops down to 95 % (9 items): seq 1 and 2; the 12th write fits again.
    assert seqs == list(range(3, 13)), seqs
    assert stats is not None and stats.items == 10 and stats.dropped == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "OUTBOX DATA LOST" in errors[0].getMessage()
    assert "sequences 1..2" in errors[0].getMessage()


def test_retention_drops_only_items_older_than_the_cutoff(outbox: Outbox) -> None:
    for at in (100, 200, 300):
        _write(outbox, lambda s, at=at: outbox.store_poll(s, record=_poll("xihu-dslam-01", at)))
    with outbox.sessions() as session, session.begin():
        dropped = outbox_repo.purge_older_than(session, district="xihu", cutoff=250)
        assert outbox_repo.purge_older_than(session, district="xihu", cutoff=250) is None
    assert dropped is not None
    assert (dropped.items, dropped.first_seq, dropped.last_seq) == (2, 1, 2)
    with outbox.sessions() as session:
        stats = outbox_repo.outbox_stats(session, district="xihu")
    assert stats is not None and (stats.items, stats.dropped, stats.oldest_created_at) == (
        1,
        2,
        300,
    )


def test_batches_are_cut_by_items_and_bytes_in_sequence_order(outbox: Outbox) -> None:
    for at in range(100, 110):
        _write(outbox, lambda s, at=at: outbox.store_poll(s, record=_poll("xihu-dslam-01", at)))
    with outbox.sessions() as session:
        by_items = outbox_repo.next_batch(session, max_items=4, max_bytes=1 << 20)
        one_size = len(by_items[0].payload)
        by_bytes = outbox_repo.next_batch(session, max_items=100, max_bytes=one_size * 3)
        tiny = outbox_repo.next_batch(session, max_items=100, max_bytes=1)
    assert [p.seq for p in by_items] == [1, 2, 3, 4]
    assert [p.seq for p in by_bytes] == [1, 2, 3]
    assert [p.seq for p in tiny] == [1], "an item bigger than the byte limit still goes alone"
    body = json.loads(encode_batch("xihu", "e1", by_items))
    assert body["district"] == "xihu" and body["epoch"] == "e1"
    assert body["items"][0]["seq"] == 1 and body["items"][0]["kind"] == "poll"
    assert body["items"][0]["values"][0] == ["line:1", "snr_margin_down_db", 1.0]


# --- central ingest --------------------------------------------------------------------------


@pytest.fixture
def central(central_db: Callable[[], Session]) -> FastAPI:
    settings = Settings(daemon=DaemonSettings(role=Role.CENTRAL))
    engine = central_db.kw["bind"]
    return create_app(
        settings, engine=engine, session_factory=central_db, registry=CollectorRegistry()
    )


@pytest.fixture
async def client(central: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=central)
    async with httpx.AsyncClient(transport=transport, base_url="http://central.test") as client:
        yield client


@pytest.fixture
def tokens(central_db: Callable[[], Session]) -> dict[str, str]:
    with central_db() as session:
        made = {
            "xihu": create_token(session, "d-xihu", TokenRole.DISTRICT, district="xihu"),
            "binjiang": create_token(
                session, "d-binjiang", TokenRole.DISTRICT, district="binjiang"
            ),
            "unbound": create_token(session, "d-unbound", TokenRole.DISTRICT),
            "operator": create_token(session, "noc", TokenRole.OPERATOR),
        }
        session.commit()
    return made


def _batch(outbox: Outbox) -> bytes:
    with outbox.sessions() as session:
        items = outbox_repo.next_batch(session, max_items=1000, max_bytes=1 << 30)
        stats = outbox_repo.outbox_stats(session, district="xihu")
    assert stats is not None
    return encode_batch("xihu", stats.epoch, items)


async def _post(client: httpx.AsyncClient, token: str, body: bytes | dict[str, object]):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        "/api/v1/ingest",
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def _central_rows(sessions: Callable[[], Session]) -> list[tuple[str, str, str, int, float]]:
    with sessions() as session:
        rows = session.execute(
            select(Device.name, Sample.entity, Sample.metric, Sample.ts, Sample.value)
            .join(Device, Device.id == Sample.device_id)
            .order_by(Device.name, Sample.ts, Sample.entity)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_resent_batch_changes_nothing(
    outbox: Outbox, client: httpx.AsyncClient, tokens: dict[str, str], central_db
) -> None:
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", 100)))
    _write(
        outbox,
        lambda s: outbox.record_state(s, device="xihu-dslam-01", state="up", at=100),
    )
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-02", 101, 3.5)))
    body = _batch(outbox)
    first = await _post(client, tokens["xihu"], body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "acked_seq": 3,
        "applied": 3,
        "duplicates": 0,
        "unknown_devices": 0,
        "resync": False,
    }
    stored = _central_rows(central_db)
    assert len(stored) == 4
    again = await _post(client, tokens["xihu"], body)
    assert again.status_code == 200
    assert again.json()["duplicates"] == 3 and again.json()["applied"] == 0
    assert _central_rows(central_db) == stored
    with central_db() as session:
        events = session.execute(select(DeviceStateEvent.ts, DeviceStateEvent.state)).all()
        statuses = {s.device: s.state for s in poll_repo.device_statuses(session)}
    assert events == [(100, "up")]
    assert statuses == {"xihu-dslam-01": "up", "xihu-dslam-02": "unknown"}


async def test_an_overlapping_batch_applies_only_its_new_items(
    outbox: Outbox, client: httpx.AsyncClient, tokens: dict[str, str], central_db
) -> None:
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", 100)))
    assert (await _post(client, tokens["xihu"], _batch(outbox))).status_code == 200
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", 101)))
    answer = (await _post(client, tokens["xihu"], _batch(outbox))).json()
    assert (answer["acked_seq"], answer["applied"], answer["duplicates"]) == (2, 1, 1)
    assert [row[3] for row in _central_rows(central_db)] == [100, 100, 101, 101]


@pytest.fixture(scope="module")
def refusing(_session_databases, tmp_path_factory) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """A central shared by the refusal tests below: none of them may write anything."""
    url = _session_databases(True)
    with _database(url, tmp_path_factory.mktemp("refusing")) as sessions:
        with sessions() as session:
            made = {
                "xihu": create_token(session, "d-xihu", TokenRole.DISTRICT, district="xihu"),
                "binjiang": create_token(
                    session, "d-binjiang", TokenRole.DISTRICT, district="binjiang"
                ),
                "unbound": create_token(session, "d-unbound", TokenRole.DISTRICT),
                "operator": create_token(session, "noc", TokenRole.OPERATOR),
            }
            session.commit()
        settings = Settings(daemon=DaemonSettings(role=Role.CENTRAL))
        app = create_app(
            settings,
            engine=sessions.kw["bind"],
            session_factory=sessions,
            registry=CollectorRegistry(),
        )
        yield app, made


def _good_batch() -> dict[str, object]:
    items = [
        {
            "seq": seq,
            "created_at": 100,
            "kind": "poll",
            "device": "xihu-dslam-01",
            "at": 100,
            "outcome": "ok",
            "values": [["line:1", "snr_margin_down_db", 7.5]],
        }
        for seq in (1, 2)
    ]
    return {"district": "xihu", "epoch": "e1", "items": items}


async def _refused(app: FastAPI, token: str, body: dict[str, object]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://central.test") as client:
        response = await _post(client, token, body)
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Sample)) == 0, "nothing written"
        assert session.scalar(select(func.count()).select_from(DistrictStatus)) == 0
    return response


@pytest.mark.parametrize(
    ("who", "expected", "description"),
    [
        ("binjiang", 403, "another district's token"),
        ("unbound", 403, "a district token bound to no district"),
        ("operator", 403, "not a district token"),
        ("nonsense", 401, "no such token"),
    ],
)
async def test_only_the_districts_own_token_may_send(
    refusing: tuple[FastAPI, dict[str, str]], who: str, expected: int, description: str
) -> None:
    app, tokens = refusing
    response = await _refused(app, tokens.get(who, "nocd_nonsense"), _good_batch())
    assert response.status_code == expected, description


@pytest.mark.parametrize(
    ("mutate", "field", "description"),
    [
        (lambda b: b["items"][1]["values"].append(["x" * 33, "m", 1.0]), "values", "long entity"),
        (lambda b: b["items"][1].update(kind="bogus"), "items", "unknown kind"),
        (lambda b: b["items"][1].update(seq=1), "items", "sequence not increasing"),
        (lambda b: b["items"][1].pop("device"), "device", "missing device"),
        (lambda b: b.update(items=b["items"] * 3000), "items", "batch too large"),
        (lambda b: b.update(district=""), "district", "empty district"),
    ],
)
async def test_bad_batch_is_refused_whole_naming_the_field(
    refusing: tuple[FastAPI, dict[str, str]],
    mutate: Callable[[dict[str, object]], object],
    field: str,
    description: str,
) -> None:
    app, tokens = refusing
    body = _good_batch()
    mutate(body)
    response = await _refused(app, tokens["xihu"], body)
    assert response.status_code == 422, description
    assert field in json.dumps(response.json()["detail"]), (description, response.text)


async def test_items_for_devices_central_does_not_know_are_counted_not_blocking(
    client: httpx.AsyncClient, tokens: dict[str, str], central_db
) -> None:
    item = {"seq": 1, "created_at": 1, "kind": "state", "device": "nowhere", "state": "up", "at": 1}
    body = {"district": "xihu", "epoch": "e", "items": [item]}
    answer = (await _post(client, tokens["xihu"], body)).json()
    assert (answer["acked_seq"], answer["applied"], answer["unknown_devices"]) == (1, 0, 1)


async def test_a_new_epoch_restarts_the_sequence(
    client: httpx.AsyncClient, tokens: dict[str, str], central_db
) -> None:
    """A district whose storage was rebuilt counts from 1 again; central must not drop that."""

    def batch(epoch: str, at: int) -> dict[str, object]:
        item = {
            "seq": 1,
            "created_at": at,
            "kind": "poll",
            "device": "xihu-dslam-01",
            "at": at,
            "outcome": "ok",
            "values": [["device", "uptime_s", 1.0]],
        }
        return {"district": "xihu", "epoch": epoch, "items": [item]}

    assert (await _post(client, tokens["xihu"], batch("old", 100))).json()["applied"] == 1
    assert (await _post(client, tokens["xihu"], batch("new", 200))).json()["applied"] == 1
    assert [row[3] for row in _central_rows(central_db)] == [100, 200]


# --- district silence (central side) ---------------------------------------------------------


async def test_silent_district_devices_become_unknown_never_down_and_come_back(
    outbox: Outbox,
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    central_db,
    central: FastAPI,
) -> None:
    for device in ("xihu-dslam-01", "xihu-dslam-02"):
        _write(outbox, lambda s, d=device: outbox.record_state(s, device=d, state="up", at=100))
    assert (await _post(client, tokens["xihu"], _batch(outbox))).status_code == 200
    with central_db() as session:
        seen = session.get(DistrictStatus, "xihu")
        assert seen is not None and seen.last_seen_at is not None
        last_seen = seen.last_seen_at

    clock = [float(last_seen + 10)]
    watch = DistrictWatch(
        sessions=central_db,
        silent_after_s=60,
        started_at=last_seen - 1000,
        wall_clock=lambda: clock[0],
    )
    assert [d.district for d in await watch.check()] == ["binjiang"], "never heard from"
    clock[0] = last_seen + 61
    silent = await watch.check()
    assert [(d.district, d.devices) for d in silent] == [("xihu", 2)]
    assert await watch.check() == [], "a silent district is marked once"
    with central_db() as session:
        states = {s.device: s.state for s in poll_repo.device_statuses(session, district="xihu")}
        events = session.scalars(select(DeviceStateEvent.state).order_by(DeviceStateEvent.id)).all()
        district_events = session.execute(
            select(DistrictEvent.district, DistrictEvent.state).order_by(DistrictEvent.id)
        ).all()
    assert states == {"xihu-dslam-01": "unknown", "xihu-dslam-02": "unknown"}
    assert "down" not in events and events[-2:] == ["unknown", "unknown"]
    assert ("xihu", "silent") in district_events
    registry = central.state.registry
    assert registry.get_sample_value("nocd_district_silent", {"district": "xihu"}) == 1.0

    # The district sends again (its backlog, or a heartbeat): central asks for a snapshot...
    heartbeat = {"district": "xihu", "epoch": "x", "items": []}
    with outbox.sessions() as session:
        heartbeat["epoch"] = outbox_repo.outbox_stats(session, district="xihu").epoch
    answer = (await _post(client, tokens["xihu"], heartbeat)).json()
    assert answer["resync"] is True
    assert registry.get_sample_value("nocd_district_silent", {"district": "xihu"}) == 0.0
    # ... and the district's verdicts drive the states again.
    with outbox.sessions() as session, session.begin():
        outbox_repo.acknowledge(session, district="xihu", upto_seq=answer["acked_seq"])
    outbox.enqueue_snapshot(at=last_seen + 70)
    answer = (await _post(client, tokens["xihu"], _batch(outbox))).json()
    assert answer["resync"] is False and answer["applied"] == 1
    with central_db() as session:
        states = {s.device: s.state for s in poll_repo.device_statuses(session, district="xihu")}
    assert states == {"xihu-dslam-01": "up", "xihu-dslam-02": "up"}


# --- the forwarder against the central app ---------------------------------------------------


async def _forward_until(forwarder: Forwarder, done: Callable[[], bool]) -> None:
    task = asyncio.create_task(forwarder.run())
    try:
        deadline = time.monotonic() + 20
        while not done():
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "timed out waiting for the forwarder"
            await asyncio.sleep(0.05)  # re-check interval, not synchronisation
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _backlog(outbox: Outbox) -> int:
    with outbox.sessions() as session:
        stats = outbox_repo.outbox_stats(session, district="xihu")
    assert stats is not None
    return stats.items


def _forwarder(outbox: Outbox, central: FastAPI, token: str) -> tuple[Forwarder, OutboxMetrics]:
    config = CentralSettings(
        url="http://central.test",
        token=token,
        batch_items=3,
        flush_interval_s=0.05,
        retry_max_s=0.1,
        heartbeat_s=60,
    )
    metrics = OutboxMetrics(CollectorRegistry())
    return Forwarder(outbox, config, metrics, transport=httpx.ASGITransport(app=central)), metrics


async def test_forwarder_drains_the_outbox_in_order_and_deletes_only_what_was_acknowledged(
    outbox: Outbox, central: FastAPI, tokens: dict[str, str], central_db
) -> None:
    now = int(time.time())  # within the retention limit: older items would be dropped
    for at in range(now, now + 10):
        _write(outbox, lambda s, at=at: outbox.store_poll(s, record=_poll("xihu-dslam-01", at)))
    forwarder, metrics = _forwarder(outbox, central, tokens["xihu"])
    await _forward_until(forwarder, lambda: _backlog(outbox) == 0)
    assert [row[3] for row in _central_rows(central_db)][::2] == list(range(now, now + 10))
    assert metrics.sent._value.get() == 10
    with central_db() as session:
        assert session.scalar(select(DistrictStatus.last_seq)) == 10


async def test_forwarder_with_a_refused_token_keeps_the_data_and_says_so_once(
    outbox: Outbox,
    central: FastAPI,
    tokens: dict[str, str],
    central_db,
    caplog: pytest.LogCaptureFixture,
) -> None:
    at = int(time.time())
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", at)))
    forwarder, metrics = _forwarder(outbox, central, tokens["binjiang"])
    refused = metrics.failures.labels("refused")
    await _forward_until(forwarder, lambda: refused._value.get() >= 3)
    assert _backlog(outbox) == 1 and _central_rows(central_db) == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "HTTP 403" in errors[0], errors
    assert tokens["binjiang"] not in caplog.text


# --- late state events and KPI periods (central) ------------------------------------------

MAY = TimeWindow.from_datetimes(
    datetime(2026, 5, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
    datetime(2026, 6, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
)
JUNE = TimeWindow.from_datetimes(
    datetime(2026, 6, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
    datetime(2026, 7, 1, tzinfo=ZoneInfo("Asia/Shanghai")),
)


def _dirty(sessions: Callable[[], Session]) -> list[int]:
    with sessions() as session:
        return [p.start for p in kpi_repo.dirty_periods(session)]


async def test_late_state_events_mark_the_kpi_periods_computed_past_them_dirty(
    outbox: Outbox, client: httpx.AsyncClient, tokens: dict[str, str], central_db
) -> None:
    """May is closed and computed to its end; June is computed up to its 10th day.

    A backlog's poll changes no period here (late samples are the rollups' business). A
    state change on 31 May 23:50 changes the device timeline from then on: both periods
    saw that time, so both are stale. Recomputing cleans them; a resend marks nothing.
    One at 20 June (after June's evaluation) is picked up by the next run anyway.
    """
    june_10 = JUNE.start + 9 * 86_400
    with central_db() as session:
        for period, until in ((MAY, MAY.end), (JUNE, june_10)):
            kpi_repo.save_period(
                session,
                start=period.start,
                end=period.end,
                evaluated_until=until,
                computed_at=until,
                kqis=pd.DataFrame(),
                slas=pd.DataFrame(),
            )
        session.commit()
    _write(outbox, lambda s: outbox.store_poll(s, record=_poll("xihu-dslam-01", MAY.end - 900)))
    assert (await _post(client, tokens["xihu"], _batch(outbox))).status_code == 200
    assert _dirty(central_db) == []

    _write(
        outbox,
        lambda s: outbox.record_state(s, device="xihu-dslam-01", state="down", at=MAY.end - 600),
    )
    body = _batch(outbox)
    answer = (await _post(client, tokens["xihu"], body)).json()
    assert (answer["applied"], answer["duplicates"]) == (1, 1), "the poll was sent before"
    assert _dirty(central_db) == [MAY.start, JUNE.start]

    service = KpiService(settings=Settings(), sessions=central_db)
    service.compute_sync(june_10 + 60)
    assert _dirty(central_db) == []
    assert (await _post(client, tokens["xihu"], body)).json()["applied"] == 0
    assert _dirty(central_db) == [], "a resend is no news"

    _write(
        outbox,
        lambda s: outbox.record_state(
            s, device="xihu-dslam-01", state="up", at=JUNE.start + 19 * 86_400
        ),
    )
    assert (await _post(client, tokens["xihu"], _batch(outbox))).status_code == 200
    assert _dirty(central_db) == []


async def test_a_districts_backlog_supersedes_centrals_silence_placeholders_for_kpis(
    outbox: Outbox, client: httpx.AsyncClient, tokens: dict[str, str], central_db
) -> None:
    """While xihu is silent, its devices are ``unknown`` at central, also for KQIs. Once it
    is back, its own record of that time counts (as in an all-in-one nocd on the district's
    data): here dslam-01 went down at the district during the silence. A period computed
    meanwhile is marked dirty by the come-back itself."""
    _write(outbox, lambda s: outbox.record_state(s, device="xihu-dslam-01", state="up", at=100))
    assert (await _post(client, tokens["xihu"], _batch(outbox))).status_code == 200
    with central_db() as session:
        last_seen = session.get(DistrictStatus, "xihu").last_seen_at
        kpi_repo.save_period(
            session,
            start=0,
            end=MAX_EPOCH_S - 1,
            evaluated_until=last_seen + 5,
            computed_at=last_seen + 5,
            kqis=pd.DataFrame(),
            slas=pd.DataFrame(),
        )
        session.commit()
    watch = DistrictWatch(
        sessions=central_db, silent_after_s=1, started_at=0, wall_clock=lambda: last_seen + 2
    )
    assert "xihu" in [d.district for d in await watch.check()]

    def timeline() -> list[tuple[int, str]]:
        with central_db() as session:
            ids = {d.id: d.name for d in session.scalars(select(Device))}
            events = kpi_repo.device_events(session, start=50, end=MAX_EPOCH_S - 1)
        return [
            (int(ts), state)
            for entity, ts, state in events.itertuples(index=False)
            if ids[int(entity)] == "xihu-dslam-01"
        ]

    assert timeline() == [(100, "up"), (last_seen + 2, "unknown")], "silent: unknown stands"
    assert _dirty(central_db) == []
    # The district's record of the silence arrives with its backlog: central stops guessing.
    _write(
        outbox,
        lambda s: outbox.record_state(s, device="xihu-dslam-01", state="down", at=last_seen + 3),
    )
    answer = (await _post(client, tokens["xihu"], _batch(outbox))).json()
    assert answer["resync"] is True, "back from silence"
    assert timeline() == [(100, "up"), (last_seen + 3, "down")]
    assert _dirty(central_db) == [0], "the come-back marks what was computed past the silence"


async def test_a_districts_port_inventory_reaches_central_with_its_uplinks(
    outbox: Outbox, client: httpx.AsyncClient, tokens: dict[str, str], central_db
) -> None:
    """Central's uplink KQIs need ``ports.is_uplink``, which only the district's interface
    walk finds: the outbox carries each change, and a resend changes nothing."""
    ports = [
        PortInfo(ifindex=1, name="adsl-0/1", description="line 1", speed_bps=None, is_uplink=False),
        PortInfo(
            ifindex=49,
            name="xe-0/1/1",
            description="uplink agg-01",
            speed_bps=10**10,
            is_uplink=True,
        ),
    ]
    _write(outbox, lambda s: outbox.sync_ports(s, device="xihu-dslam-01", ports=ports))
    body = _batch(outbox)
    assert (await _post(client, tokens["xihu"], body)).json()["applied"] == 1

    def stored() -> list[tuple[str, int, str | None, int | None, bool]]:
        with central_db() as session:
            rows = session.execute(
                select(Device.name, Port.ifindex, Port.description, Port.speed_bps, Port.is_uplink)
                .join(Device, Device.id == Port.device_id)
                .order_by(Port.ifindex)
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    expected = [
        ("xihu-dslam-01", 1, "line 1", None, False),
        ("xihu-dslam-01", 49, "uplink agg-01", 10**10, True),
    ]
    assert stored() == expected
    assert (await _post(client, tokens["xihu"], body)).json()["duplicates"] == 1
    assert stored() == expected
    with central_db() as session:
        assert kpi_repo.uplink_inventory(session)["ifindex"].tolist() == [49]
    # A port that vanished from the walk vanishes at central too.
    _write(outbox, lambda s: outbox.sync_ports(s, device="xihu-dslam-01", ports=ports[1:]))
    assert (await _post(client, tokens["xihu"], _batch(outbox))).status_code == 200
    assert stored() == expected[1:]
