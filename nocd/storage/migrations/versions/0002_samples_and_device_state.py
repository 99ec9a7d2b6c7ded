"""Samples, latest device status and device state events (the poller's output).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:57:45.508052
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_state_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.CheckConstraint("state IN ('up', 'down', 'unknown')", name=op.f('ck_device_state_events_state')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_state_events_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_state_events'))
    )
    with op.batch_alter_table('device_state_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_state_events_device_id_ts'), ['device_id', 'ts'], unique=False)

    op.create_table('device_status',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('since', sa.BigInteger(), nullable=False),
    sa.Column('last_poll_at', sa.BigInteger(), nullable=True),
    sa.Column('last_ok_at', sa.BigInteger(), nullable=True),
    sa.Column('last_outcome', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('profile', sa.String(length=100), nullable=True),
    sa.Column('sys_uptime_ticks', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("state IN ('up', 'down', 'unknown')", name=op.f('ck_device_status_state')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_status_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_device_status'))
    )
    op.create_table('samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('metric', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_samples_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_samples'))
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_device_id_entity_metric_ts'), ['device_id', 'entity', 'metric', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_ts'), ['ts'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_ts'))
        batch_op.drop_index(batch_op.f('ix_samples_device_id_entity_metric_ts'))

    op.drop_table('samples')
    op.drop_table('device_status')
    with op.batch_alter_table('device_state_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_state_events_device_id_ts'))

    op.drop_table('device_state_events')
