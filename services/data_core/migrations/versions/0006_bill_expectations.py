"""monthly bills: expected values of bills from the degree-day model, with intervals and the model

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime().with_variant(sqlite.DATETIME(), 'sqlite')


def upgrade() -> None:
    op.create_table('bill_expectations',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('meter', sa.String(length=120), nullable=False),
    sa.Column('activity_type', sa.String(length=80), nullable=False),
    sa.Column('period_start', UTC_DATETIME, nullable=False),
    sa.Column('period_end', UTC_DATETIME, nullable=False),
    sa.Column('expected', sa.Float(), nullable=True),
    sa.Column('lower', sa.Float(), nullable=True),
    sa.Column('upper', sa.Float(), nullable=True),
    sa.Column('level', sa.Float(), nullable=False),
    sa.Column('weather', sa.Float(), nullable=True),
    sa.Column('model_name', sa.String(length=120), nullable=False),
    sa.Column('model_version', sa.String(length=40), nullable=False),
    sa.Column('model', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('predicted_at', UTC_DATETIME, server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('site_id', 'meter', 'activity_type', 'period_start', name=op.f('pk_bill_expectations'))
    )


def downgrade() -> None:
    op.drop_table('bill_expectations')
