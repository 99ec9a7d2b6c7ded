"""KPI storage: rollups and their watermarks, KQI/SLA period results, per-line KPIs.

Revision ID: 0003k
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003k"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RES = "resolution IN ('5m', '1h', '1d')"


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("resolution", sa.String(length=4), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("avg", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("p95", sa.Float(), nullable=False),
        sa.CheckConstraint(_RES, name=op.f("ck_rollups_resolution")),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"],
            name=op.f("fk_rollups_device_id_devices"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "device_id", "entity", "metric", "resolution", "bucket", name=op.f("pk_rollups")
        ),
    )
    with op.batch_alter_table("rollups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollups_resolution_bucket"), ["resolution", "bucket"], unique=False
        )
    op.create_table(
        "rollup_state",
        sa.Column("resolution", sa.String(length=4), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("last_sample_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_RES, name=op.f("ck_rollup_state_resolution")),
        sa.PrimaryKeyConstraint("resolution", name=op.f("pk_rollup_state")),
    )
    op.create_table(
        "kpi_periods",
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_until", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("start", name=op.f("pk_kpi_periods")),
    )
    op.create_table(
        "kqi_results",
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("kqi", sa.String(length=64), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("sla_class", sa.String(length=32), nullable=False),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["period_start"], ["kpi_periods.start"],
            name=op.f("fk_kqi_results_period_start_kpi_periods"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "period_start", "kqi", "district", "sla_class", name=op.f("pk_kqi_results")
        ),
    )
    op.create_table(
        "sla_results",
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("kqi", sa.String(length=64), nullable=False),
        sa.Column("sla_class", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_until", sa.BigInteger(), nullable=False),
        sa.Column("entities", sa.Integer(), nullable=True),
        sa.Column("sli", sa.Float(), nullable=True),
        sa.Column("up_s", sa.BigInteger(), nullable=True),
        sa.Column("down_s", sa.BigInteger(), nullable=True),
        sa.Column("unknown_s", sa.BigInteger(), nullable=True),
        sa.Column("maintenance_s", sa.BigInteger(), nullable=True),
        sa.Column("excluded_s", sa.BigInteger(), nullable=True),
        sa.Column("scheduled_s", sa.BigInteger(), nullable=True),
        sa.Column("error_budget_total", sa.Float(), nullable=True),
        sa.Column("error_budget_used", sa.Float(), nullable=True),
        sa.Column("error_budget_remaining", sa.Float(), nullable=True),
        sa.Column("error_budget_remaining_ratio", sa.Float(), nullable=True),
        sa.Column("burn_rate", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "status IN ('met', 'at_risk', 'breached')", name=op.f("ck_sla_results_status")
        ),
        sa.ForeignKeyConstraint(
            ["period_start"], ["kpi_periods.start"],
            name=op.f("fk_sla_results_period_start_kpi_periods"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period_start", "target", "district", name=op.f("pk_sla_results")),
    )
    op.create_table(
        "line_kpis",
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.Column("stability", sa.String(length=16), nullable=True),
        sa.Column("mtbr_24h_s", sa.Float(), nullable=True),
        sa.Column("mtbr_7d_s", sa.Float(), nullable=True),
        sa.Column("mtbe_24h_s", sa.Float(), nullable=True),
        sa.Column("mtbe_7d_s", sa.Float(), nullable=True),
        sa.Column("excluded_bins", sa.Integer(), nullable=False),
        sa.Column("actual_down_bps", sa.Float(), nullable=True),
        sa.Column("rate_attainment_down_ratio", sa.Float(), nullable=True),
        sa.Column("attains_plan_down", sa.Boolean(), nullable=True),
        sa.Column("headroom_down_bps", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"], ["lines.id"],
            name=op.f("fk_line_kpis_line_id_lines"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_line_kpis")),
    )


def downgrade() -> None:
    op.drop_table("line_kpis")
    op.drop_table("sla_results")
    op.drop_table("kqi_results")
    op.drop_table("kpi_periods")
    op.drop_table("rollup_state")
    with op.batch_alter_table("rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollups_resolution_bucket"))
    op.drop_table("rollups")
