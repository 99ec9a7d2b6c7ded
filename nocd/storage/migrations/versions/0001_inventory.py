"""Inventory: districts, devices, ports, customers, lines, maintenance windows, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the vocabularies at this revision: a later change to the enums in
# models.py needs its own migration, not a silent edit of this one.
_DEVICE_KINDS = "'dslam', 'access_switch', 'aggregation', 'bras'"
_SLA_CLASSES = "'residential', 'business', 'enterprise'"
_ROLES = "'viewer', 'operator', 'integration', 'district'"


def upgrade() -> None:
    op.create_table(
        "districts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_districts"),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sla_class", sa.String(length=32), nullable=False),
        sa.Column("contact", sa.String(length=400), nullable=True),
        sa.CheckConstraint(f"sla_class IN ({_SLA_CLASSES})", name="ck_customers_sla_class"),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("district_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("snmp", sa.JSON(), nullable=False),
        sa.Column("vendor", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("sys_object_id", sa.String(length=200), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(f"kind IN ({_DEVICE_KINDS})", name="ck_devices_kind"),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name="fk_devices_district_id_districts",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["devices.id"], name="fk_devices_parent_id_devices", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("name", name="uq_devices_name"),
    )
    op.create_index("ix_devices_district_id", "devices", ["district_id"])
    op.create_index("ix_devices_parent_id", "devices", ["parent_id"])
    op.create_table(
        "ports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("ifindex", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("description", sa.String(length=400), nullable=True),
        sa.Column("speed_bps", sa.BigInteger(), nullable=True),
        sa.Column("is_uplink", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_ports_device_id_devices", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ports"),
        sa.UniqueConstraint("device_id", "ifindex", name="uq_ports_device_id_ifindex"),
    )
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("ifindex", sa.Integer(), nullable=False),
        sa.Column("port_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("plan_down_kbps", sa.Integer(), nullable=True),
        sa.Column("plan_up_kbps", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_lines_customer_id_customers",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_lines_device_id_devices", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["port_id"], ["ports.id"], name="fk_lines_port_id_ports", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lines"),
        sa.UniqueConstraint("device_id", "ifindex", name="uq_lines_device_id_ifindex"),
    )
    op.create_index("ix_lines_customer_id", "lines", ["customer_id"])
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("district_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name="fk_maintenance_windows_device_id_devices",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name="fk_maintenance_windows_district_id_districts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_windows"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"role IN ({_ROLES})", name="ck_api_tokens_role"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("maintenance_windows")
    op.drop_table("lines")
    op.drop_table("ports")
    op.drop_index("ix_devices_parent_id", table_name="devices")
    op.drop_index("ix_devices_district_id", table_name="devices")
    op.drop_table("devices")
    op.drop_table("customers")
    op.drop_table("districts")
