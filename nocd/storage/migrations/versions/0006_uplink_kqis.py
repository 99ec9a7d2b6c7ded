"""Per-uplink KQI inputs of a period: congestion counts and busy-hour p95 (``uplink_kqis``).

Revision ID: 0006u
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006u"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "uplink_kqis",
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("port_id", sa.Integer(), nullable=False),
        sa.Column("intervals", sa.Integer(), nullable=False),
        sa.Column("congested_intervals", sa.Integer(), nullable=False),
        sa.Column("busy_hour_start", sa.BigInteger(), nullable=True),
        sa.Column("busy_hour_mean", sa.Float(), nullable=True),
        sa.Column("busy_hour_p95", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["period_start"],
            ["kpi_periods.start"],
            name=op.f("fk_uplink_kqis_period_start_kpi_periods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["port_id"],
            ["ports.id"],
            name=op.f("fk_uplink_kqis_port_id_ports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period_start", "port_id", name=op.f("pk_uplink_kqis")),
    )


def downgrade() -> None:
    op.drop_table("uplink_kqis")
