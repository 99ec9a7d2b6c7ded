"""Migrations: upgrade from empty on both backends, no drift from the models, schema check."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from nocd.errors import StorageUnavailable
from nocd.storage.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    check_schema,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from nocd.storage.models import Base

pytestmark = pytest.mark.integration


def test_autogenerate_should_find_no_difference_between_models_and_migrations(engine: Engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models.py and the migrations disagree: {diff}"


def test_session_database_is_at_head(engine: Engine):
    assert check_schema(engine) == head_revision()


def test_upgrade_from_empty_should_create_every_model_table(blank_db_url: str):
    engine = make_engine(blank_db_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(blank_db_url) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        # A second upgrade is a no-op, not an error.
        assert upgrade(blank_db_url) == head_revision()
    finally:
        engine.dispose()


def test_check_schema_should_refuse_an_empty_database_and_say_how_to_fix_it(blank_db_url: str):
    engine = make_engine(blank_db_url)
    try:
        with pytest.raises(StorageUnavailable) as info:
            check_schema(engine)
    finally:
        engine.dispose()
    message = str(info.value)
    assert "schema is at revision none (empty database)" in message
    assert f"nocd needs {head_revision()}" in message
    assert "run `nocd db upgrade`" in message


def test_check_schema_should_refuse_an_out_of_date_revision(make_database):
    url = make_database(True)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            # An older nocd left the database at a revision this one has moved past.
            # One row per head while migration branches are unmerged: replace them all.
            conn.exec_driver_sql("DELETE FROM alembic_version")
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0000_older')")
        with pytest.raises(
            StorageUnavailable, match=r"revision 0000_older, nocd needs .*nocd db upgrade"
        ):
            check_schema(engine)
    finally:
        engine.dispose()


def test_check_schema_should_name_an_unreachable_database_without_its_password():
    engine = make_engine("postgresql://nocd:hunter2@127.0.0.1:1/nocd")
    try:
        with pytest.raises(StorageUnavailable) as info:
            check_schema(engine)
    finally:
        engine.dispose()
    assert "127.0.0.1:1/nocd" in str(info.value)
    assert "unavailable" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_sqlite_engine_should_use_wal_and_enforce_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


def test_session_fixture_should_roll_back_commits(engine: Engine, session):
    from nocd.storage.models import District

    session.add(District(id="rollback-probe", name="x"))
    session.commit()  # releases the SAVEPOINT only
    with engine.connect() as other:
        # Another connection does not see uncommitted rows; the outer transaction is open.
        assert (
            other.exec_driver_sql(
                "SELECT count(*) FROM districts WHERE id = 'rollback-probe'"
            ).scalar()
            == 0
        )
    assert session.get(District, "rollback-probe") is not None
