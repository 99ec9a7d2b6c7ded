"""Engines, sessions and schema revisions: the one place that knows how nocd talks to its database.

engine = make_engine("sqlite:///./nocd.db")                          # embedded default
engine = make_engine("postgresql+psycopg://nocd:secret@db/nocd")     # central at scale
upgrade("sqlite:///./nocd.db")          # `nocd db upgrade`
check_schema(engine)                    # the daemon refuses to start unless this passes
Session = session_factory(engine)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from nocd.errors import StorageUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: every CLI command imports this module, and alembic
# costs a second of start-up that only `db upgrade` and the schema check need.

__all__ = [
    "MIGRATIONS_DIR",
    "check_schema",
    "current_revision",
    "head_revision",
    "make_engine",
    "safe_url",
    "session_factory",
    "storage_errors",
    "upgrade",
    "write_session_factory",
]

_logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another writer before failing
PG_CONNECT_TIMEOUT_S = 5  # an unreachable server fails fast instead of hanging the daemon


def _normalise(url: str | URL) -> URL:
    parsed = make_url(url)
    # A bare postgresql:// would pick psycopg2, which nocd does not ship; psycopg 3 it is.
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def safe_url(url: str | URL) -> str:
    """``url`` with the password masked, fit for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url``: SQLite with WAL, foreign keys and a busy timeout, or PostgreSQL.

    ``postgresql://`` is read as ``postgresql+psycopg://`` (psycopg 3). Pooled connections
    are pinged before use, so a database restart costs one failed ping, not a failed request.
    """
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return create_engine(
        parsed,
        echo=echo,
        pool_pre_ping=True,
        connect_args=connect_args,
        hide_parameters=True,  # error messages and logs must not carry row values (secrets)
    )


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    # hide_parameters: error messages and logs must not carry row values (SNMP secrets)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True, "hide_parameters": True}
    # Threads share the pool (asyncio.to_thread); SQLite serialises writers itself.
    kwargs["connect_args"] = {"check_same_thread": False}
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one connection, or every checkout is a new database
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; hand
        # transaction control to SQLAlchemy (the documented recipe for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, far fewer fsyncs
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_IMMEDIATE = "nocd_sqlite_begin_immediate"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit (repositories copy them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def write_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for a writer that reads first (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: as usual).

    A deferred SQLite transaction that has read cannot become a writer once another
    connection has committed since ("database is locked" at once, without waiting for the
    busy timeout). ``BEGIN IMMEDIATE`` takes the write lock first and waits its turn. Use it
    only where the thread holds no other open transaction on the same database, or the two
    would wait for each other until the busy timeout.
    """
    return sessionmaker(bind=engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)


def _alembic_config() -> Config:
    from alembic.config import Config

    # No alembic.ini at runtime: the migrations ship inside the package.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache  # the migrations ship with the code: read them once per process
def head_revision() -> str:
    """The schema revision this version of nocd needs."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    if not heads:  # pragma: no cover - the package always ships a migration
        raise RuntimeError("no migrations found in " + str(MIGRATIONS_DIR))
    return _joined(heads)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` for an empty database.

    Raises ``StorageUnavailable`` when the database cannot be reached.
    """
    from alembic.runtime.migration import MigrationContext

    with storage_errors(engine.url), engine.connect() as conn:
        return _joined(MigrationContext.configure(conn).get_current_heads()) or None


def check_schema(engine: Engine) -> str:
    """Return the current revision, or raise ``StorageUnavailable`` if it is not what nocd needs."""
    current = current_revision(engine)
    needed = head_revision()
    if current != needed:
        shown = current if current is not None else "none (empty database)"
        raise StorageUnavailable(
            f"database {safe_url(engine.url)}: schema is at revision {shown}, "
            f"nocd needs {needed}: run `nocd db upgrade`"
        )
    return current


def _joined(revisions: Sequence[str]) -> str:
    """Revisions as one string: ``0003`` or, while branches are unmerged, ``0003a+0003b``."""
    return "+".join(sorted(revisions))


def upgrade(url: str | URL, revision: str = "heads") -> str:
    """Apply migrations up to ``revision`` (default: the newest) and return the new revision.

    Raises ``StorageUnavailable`` when the database cannot be reached.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with storage_errors(engine.url), engine.begin() as conn:
            config = _alembic_config()
            config.attributes["connection"] = conn
            before = _joined(MigrationContext.configure(conn).get_current_heads()) or None
            command.upgrade(config, revision)
            after = _joined(MigrationContext.configure(conn).get_current_heads())
        if before != after:
            _logger.info("database %s upgraded from %s to %s", safe_url(url), before, after)
        return after or "base"
    finally:
        engine.dispose()


@contextmanager
def storage_errors(url: str | URL) -> Iterator[None]:
    """Map "cannot talk to the database" driver errors to ``StorageUnavailable`` naming ``url``.

    Integrity and programming errors pass through: they are bugs or conflicts, not outages.
    """
    try:
        yield
    except OperationalError as exc:
        raise StorageUnavailable(
            f"database {safe_url(url)} is unavailable: {_first_line(exc.orig)}"
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailable(
                f"database {safe_url(url)} connection lost: {_first_line(exc.orig)}"
            ) from exc
        raise


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else "unknown error"
    return text.splitlines()[0] if text else type(error).__name__
