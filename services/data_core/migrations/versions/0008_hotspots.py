"""hotspots (#18): reference baselines per meter and people's verdicts on hotspots

* ``reference_baselines``: the fitted reference (M&V, time-of-week-and-temperature) model of one series
  (site, meter, activity type), the period it was fit on and why (initial fit, explicit re-baseline, a
  change accepted as the new normal). One row per series; a re-baseline replaces it.
* ``hotspot_verdicts``: a person marks a hotspot a false alarm, a confirmed fault or the new normal (which
  asks for a re-baseline of its series from the hotspot's start). The evaluation counts these marks.

Revision ID: 0008
Revises: 0007 (corrections)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime().with_variant(sqlite.DATETIME(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'reference_baselines',
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('meter', sa.String(length=120), nullable=False),
        sa.Column('activity_type', sa.String(length=80), nullable=False),
        sa.Column('period_start', UTC_DATETIME, nullable=False),
        sa.Column('period_end', UTC_DATETIME, nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('model', sa.JSON(), nullable=False),
        sa.Column('rebaseline_from', UTC_DATETIME, nullable=True),
        sa.Column('updated_at', UTC_DATETIME, server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
        sa.PrimaryKeyConstraint('site_id', 'meter', 'activity_type', name=op.f('pk_reference_baselines')),
    )
    op.create_table(
        'hotspot_verdicts',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('hotspot_id', sa.String(length=32), nullable=False),
        sa.Column('verdict', sa.String(length=20), nullable=False),
        sa.Column('by', sa.String(length=120), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', UTC_DATETIME, server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
        sa.ForeignKeyConstraint(['hotspot_id'], ['hotspots.id'], name=op.f('fk_hotspot_verdicts_hotspot_id_hotspots')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hotspot_verdicts')),
        sa.UniqueConstraint('hotspot_id', name=op.f('uq_hotspot_verdicts_hotspot_id')),
    )


def downgrade() -> None:
    op.drop_table('hotspot_verdicts')
    op.drop_table('reference_baselines')
