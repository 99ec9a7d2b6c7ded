"""Alembic environment: runs on the connection ``nocd.storage.db.upgrade`` hands over.

Run from the command line (developers generating a revision), it builds its own engine from
``-x url=...`` or ``$NOCD_STORAGE__URL`` with ``nocd.storage.db.make_engine``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from nocd.storage.db import make_engine
from nocd.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection when there is one, else connect to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "NOCD_STORAGE__URL", "sqlite:///./nocd.db"
    )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("nocd migrations run online only (nocd db upgrade)")
run_migrations_online()
