"""SQLite writers that read first: ``write_session_factory`` waits its turn instead of failing.

A deferred transaction that has read holds a snapshot; once another connection commits, its
first write fails at once with "database is locked" (the busy timeout does not apply). The
soak's 2,000-device district hit that dozens of times a minute in its collection. A write
session begins ``IMMEDIATE``: it takes the write lock before reading, so the other writer
waits for it and both succeed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from nocd.storage import db
from nocd.storage.models import District

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    db.upgrade(url)
    made = db.make_engine(url)
    yield made
    made.dispose()


def _other_writer(engine: Engine) -> bool:
    """Another connection writes district "b" without waiting (busy timeout 0): committed?"""
    impatient = create_engine(engine.url, connect_args={"timeout": 0})
    try:
        with Session(impatient) as session:
            session.add(District(id="b", name="B"))
            session.commit()
        return True
    except OperationalError:
        return False  # "database is locked": someone holds the write lock
    finally:
        impatient.dispose()


def _read_then_write(first: Session, engine: Engine) -> None:
    """``first`` reads; another connection tries to write; then ``first`` writes (and the
    other tries again if it was held off). No threads: each step is one deterministic try."""
    first.scalar(select(func.count()).select_from(District))
    other_done = _other_writer(engine)
    first.add(District(id="a", name="A"))
    first.commit()
    if not other_done:
        assert _other_writer(engine), "the lock was released with the commit"


def _names(engine: Engine) -> list[str]:
    with db.session_factory(engine)() as session:
        return sorted(session.scalars(select(District.id)))


def test_a_deferred_reader_fails_to_write_after_another_commit(engine: Engine) -> None:
    """The failure the write sessions exist for (if SQLite changes, this says so)."""
    sessions: Callable[[], Session] = db.session_factory(engine)
    with sessions() as first, pytest.raises(OperationalError, match="database is locked"):
        _read_then_write(first, engine)
    assert _names(engine) == ["b"]


def test_a_write_session_takes_the_lock_first_and_both_writers_succeed(engine: Engine) -> None:
    with db.write_session_factory(engine)() as first:
        _read_then_write(first, engine)
    assert _names(engine) == ["a", "b"]


async def test_alerting_cycles_succeed_beside_a_busy_writer(tmp_path: Path) -> None:
    """The alerting cycle reads in one transaction and writes in another (IMMEDIATE): a
    writer committing all the time (the collection of a big district) no longer fails it."""
    from nocd.storage import poll_repo
    from tests.fixtures.alerting import LINE_BASE, StoredNetwork

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    db.upgrade(url)
    net = await StoredNetwork.create(url, dslams=1, lines=4)
    stop = threading.Event()
    commits = 0

    def collection() -> None:
        nonlocal commits
        sessions = db.write_session_factory(net.engine)
        while not stop.is_set():
            with sessions() as session:
                values = [(f"if:{LINE_BASE}", "oper_up", 1.0)]
                record = poll_repo.PollRecord(
                    device="dslam-1", at=net.at(commits), outcome="ok", values=values
                )
                poll_repo.store_poll(session, record=record)
                session.commit()
            commits += 1

    thread = threading.Thread(target=collection)
    thread.start()
    try:
        reports = []
        for t in range(0, 300, 20):
            net.now = net.now.replace(second=0) + timedelta(seconds=t)
            reports.append(await net.service.run_cycle())
    finally:
        stop.set()
        thread.join(timeout=60)
        await net.close()
    assert commits > len(reports), "the writer kept committing during the cycles"
    assert all(r is not None and r.ok for r in reports), reports
