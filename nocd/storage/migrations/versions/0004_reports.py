"""SLA reports: one row per rendered file (date, period, language, format).

Revision ID: 0004r
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004r"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period IN ('day', 'month')", name=op.f("ck_reports_period")),
        sa.CheckConstraint("format IN ('html', 'csv', 'json')", name=op.f("ck_reports_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint(
            "date", "period", "lang", "format", name=op.f("uq_reports_date_period_lang_format")
        ),
    )
    op.create_index(op.f("ix_reports_created_at"), "reports", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reports_created_at"), table_name="reports")
    op.drop_table("reports")
