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
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
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


def _read_then_write(first: Session, engine: Engine) -> None:
    """``first`` reads; another connection writes and commits; then ``first`` writes."""
    first.scalar(select(func.count()).select_from(District))
    other_done = threading.Event()

    def other() -> None:
        with db.session_factory(engine)() as session:
            session.add(District(id="b", name="B"))
            session.commit()
        other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    # The other writer either commits now (deferred ``first``) or waits for ``first``'s lock.
    other_done.wait(timeout=1.0)
    try:
        first.add(District(id="a", name="A"))
        first.commit()
    finally:
        thread.join(timeout=60)


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
