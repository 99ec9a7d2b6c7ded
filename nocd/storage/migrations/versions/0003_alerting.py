"""Alerting: alerts, incidents, their history, the pipeline's memory, the Alertmanager inbox.

Revision ID: 0003a
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003a"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alerting_state',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_alerting_state'))
    )
    op.create_table('alertmanager_alerts',
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('annotations', sa.JSON(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('generator_url', sa.Text(), nullable=False),
    sa.Column('receiver', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('firing', 'resolved')", name=op.f('ck_alertmanager_alerts_status')),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_alertmanager_alerts'))
    )
    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('entity_kind', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.String(length=300), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=False),
    sa.Column('device', sa.String(length=200), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('annotations', sa.JSON(), nullable=False),
    sa.Column('observed', sa.JSON(), nullable=False),
    sa.Column('expression', sa.Text(), nullable=False),
    sa.Column('suppressed_by', sa.String(length=400), nullable=True),
    sa.Column('suppression', sa.String(length=32), nullable=True),
    sa.Column('incident_key', sa.String(length=420), nullable=True),
    sa.Column('notified', sa.Boolean(), nullable=False),
    sa.CheckConstraint("severity IN ('critical', 'major', 'minor', 'warning', 'info')", name=op.f('ck_alerts_severity')),
    sa.CheckConstraint("source IN ('rule', 'alertmanager')", name=op.f('ck_alerts_source')),
    sa.CheckConstraint("status IN ('firing', 'resolved')", name=op.f('ck_alerts_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    op.create_index(op.f('ix_alerts_incident_key'), 'alerts', ['incident_key'], unique=False)
    op.create_index(op.f('ix_alerts_key'), 'alerts', ['key'], unique=False)
    op.create_index(op.f('ix_alerts_status_started_at'), 'alerts', ['status', 'started_at'], unique=False)
    op.create_table('incidents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=420), nullable=False),
    sa.Column('root_alert_key', sa.String(length=400), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('child_alert_keys', sa.JSON(), nullable=False),
    sa.Column('devices', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.Column('customers_by_sla', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.CheckConstraint("severity IN ('critical', 'major', 'minor', 'warning', 'info')", name=op.f('ck_incidents_severity')),
    sa.CheckConstraint("status IN ('firing', 'resolved')", name=op.f('ck_incidents_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    op.create_index(op.f('ix_incidents_key'), 'incidents', ['key'], unique=False)
    op.create_index(op.f('ix_incidents_status_started_at'), 'incidents', ['status', 'started_at'], unique=False)
    op.create_table('alert_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('incident_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('key', sa.String(length=420), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('observed', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_history_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_alert_history_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_history'))
    )
    op.create_index(op.f('ix_alert_history_alert_id'), 'alert_history', ['alert_id'], unique=False)
    op.create_index(op.f('ix_alert_history_at'), 'alert_history', ['at'], unique=False)
    op.create_index(op.f('ix_alert_history_incident_id'), 'alert_history', ['incident_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_alert_history_incident_id'), table_name='alert_history')
    op.drop_index(op.f('ix_alert_history_at'), table_name='alert_history')
    op.drop_index(op.f('ix_alert_history_alert_id'), table_name='alert_history')
    op.drop_table('alert_history')
    op.drop_index(op.f('ix_incidents_status_started_at'), table_name='incidents')
    op.drop_index(op.f('ix_incidents_key'), table_name='incidents')
    op.drop_table('incidents')
    op.drop_index(op.f('ix_alerts_status_started_at'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_key'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_incident_key'), table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('alertmanager_alerts')
    op.drop_table('alerting_state')
