"""Traffic model: on-line anomaly events with their alert fingerprint and lead time.

Revision ID: 0004f
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004f"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the vocabulary at this revision.
_KINDS = "kind IN ('spike', 'drop', 'degradation')"


def upgrade() -> None:
    op.create_table(
        "traffic_anomalies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("device", sa.String(length=200), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("deviation", sa.Float(), nullable=False),
        sa.Column("sample_ts", sa.BigInteger(), nullable=False),
        sa.Column("detected_at", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("lead_time_s", sa.BigInteger(), nullable=True),
        sa.Column("lead_alert_key", sa.String(length=400), nullable=True),
        sa.CheckConstraint(_KINDS, name=op.f("ck_traffic_anomalies_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_anomalies")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_traffic_anomalies_fingerprint")),
    )
    op.create_index(
        op.f("ix_traffic_anomalies_link_detected_at"),
        "traffic_anomalies",
        ["link", "detected_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_traffic_anomalies_detected_at"),
        "traffic_anomalies",
        ["detected_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_traffic_anomalies_detected_at"), table_name="traffic_anomalies")
    op.drop_index(op.f("ix_traffic_anomalies_link_detected_at"), table_name="traffic_anomalies")
    op.drop_table("traffic_anomalies")
