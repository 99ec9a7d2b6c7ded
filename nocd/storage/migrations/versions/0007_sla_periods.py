"""SLA targets with their own reporting period/time zone: ``sla_periods``, ``sla_period_results``.

Revision ID: 0007s
Revises: 0006u
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007s"
down_revision: str | Sequence[str] | None = "0006u"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NULLABLE_COLUMNS = (
    ("entities", sa.Integer()),
    ("sli", sa.Float()),
    ("up_s", sa.BigInteger()),
    ("down_s", sa.BigInteger()),
    ("unknown_s", sa.BigInteger()),
    ("maintenance_s", sa.BigInteger()),
    ("excluded_s", sa.BigInteger()),
    ("scheduled_s", sa.BigInteger()),
    ("error_budget_total", sa.Float()),
    ("error_budget_used", sa.Float()),
    ("error_budget_remaining", sa.Float()),
    ("error_budget_remaining_ratio", sa.Float()),
    ("burn_rate", sa.Float()),
)


def upgrade() -> None:
    op.create_table(
        "sla_periods",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_until", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "timezone", "start", name=op.f("pk_sla_periods")),
    )
    op.create_table(
        "sla_period_results",
        sa.Column("period_kind", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("kqi", sa.String(length=64), nullable=False),
        sa.Column("sla_class", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_until", sa.BigInteger(), nullable=False),
        *(sa.Column(name, type_, nullable=True) for name, type_ in _NULLABLE_COLUMNS),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "status IN ('met', 'at_risk', 'breached')",
            name=op.f("ck_sla_period_results_status"),
        ),
        sa.ForeignKeyConstraint(
            ["period_kind", "timezone", "period_start"],
            ["sla_periods.kind", "sla_periods.timezone", "sla_periods.start"],
            name="fk_sla_period_results_sla_periods",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "period_kind",
            "timezone",
            "period_start",
            "target",
            "district",
            name=op.f("pk_sla_period_results"),
        ),
    )


def downgrade() -> None:
    op.drop_table("sla_period_results")
    op.drop_table("sla_periods")
