"""Two tiers: district outbox (+ counters), central district status and events, token district.

Revision ID: 0003t
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003t"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DISTRICT_STATES = "state IN ('ok', 'silent')"
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
    )
    op.create_table(
        "outbox_state",
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("district", name=op.f("pk_outbox_state")),
    )
    op.create_table(
        "district_status",
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.Column("resync", sa.Boolean(), nullable=False),
        sa.CheckConstraint(_DISTRICT_STATES, name=op.f("ck_district_status_state")),
        sa.PrimaryKeyConstraint("district", name=op.f("pk_district_status")),
    )
    op.create_table(
        "district_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(_DISTRICT_STATES, name=op.f("ck_district_events_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_events")),
    )
    with op.batch_alter_table("district_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_district_events_district_ts"), ["district", "ts"], unique=False
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("district")
    with op.batch_alter_table("district_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_district_events_district_ts"))
    op.drop_table("district_events")
    op.drop_table("district_status")
    op.drop_table("outbox_state")
    op.drop_table("outbox")
