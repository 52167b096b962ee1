"""ingestfix: corrections of readings through ledger versions; one index for the natural key and overlaps

* ``activities.revision`` joins the natural key (a correction of the same period is the next revision) and
  ``activities.superseded_by`` names the reading that replaced one; ``corrections`` records who, when, why
  and which ledger version.
* ``ix_activities_overlap`` (0004) is dropped: every insert paid for a second index. The overlap lookups use
  the natural-key index (site, period start, ...) bounded by ``activity_series``, the time box and longest
  reading of each stored series (backfilled here).

Revision ID: 0007
Revises: 0006 (bill expectations)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime().with_variant(sqlite.DATETIME(), 'sqlite')
OLD_UNIQUE = 'uq_activities_site_id_period_start_meter_activity_type_naics_code_period_end'
KEY = ['site_id', 'period_start', 'meter', 'activity_type', 'naics_code', 'period_end']


def _old_unique_name() -> str:
    """The natural key's constraint as the database named it (PostgreSQL shortened the long name of 0001)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints('activities'):
        if constraint['column_names'] == KEY and constraint['name']:
            return str(constraint['name'])
    return OLD_UNIQUE


def upgrade() -> None:
    op.drop_index('ix_activities_overlap', table_name='activities')
    with op.batch_alter_table('activities') as batch:
        batch.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('superseded_by', sa.BigInteger(), nullable=True))
        batch.drop_constraint(_old_unique_name(), type_='unique')
        batch.create_unique_constraint('uq_activities_reading', [*KEY, 'revision'])
    op.create_table('activity_series',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('meter', sa.String(length=120), nullable=False),
    sa.Column('activity_type', sa.String(length=80), nullable=False),
    sa.Column('naics_code', sa.String(length=6), nullable=False),
    sa.Column('first_start', UTC_DATETIME, nullable=False),
    sa.Column('last_end', UTC_DATETIME, nullable=False),
    sa.Column('longest_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('site_id', 'meter', 'activity_type', 'naics_code', name=op.f('pk_activity_series'))
    )
    seconds = ("EXTRACT(EPOCH FROM period_end - period_start)" if op.get_bind().dialect.name == 'postgresql'
               else "(julianday(period_end) - julianday(period_start)) * 86400.0")
    op.execute("INSERT INTO activity_series (site_id, meter, activity_type, naics_code, first_start, last_end, "
               f"longest_s) SELECT site_id, meter, activity_type, naics_code, MIN(period_start), MAX(period_end), "
               f"MAX({seconds}) FROM activities GROUP BY site_id, meter, activity_type, naics_code")
    op.create_table('corrections',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('activity_id', sa.BigInteger(), nullable=False),
    sa.Column('replacement_id', sa.BigInteger(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('parent_version', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', UTC_DATETIME, server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_corrections')),
    sa.UniqueConstraint('activity_id', name=op.f('uq_corrections_activity_id')),
    sa.UniqueConstraint('replacement_id', name=op.f('uq_corrections_replacement_id'))
    )


def downgrade() -> None:
    op.drop_table('corrections')
    op.drop_table('activity_series')
    with op.batch_alter_table('activities') as batch:
        batch.drop_constraint('uq_activities_reading', type_='unique')
        batch.create_unique_constraint(op.f(OLD_UNIQUE), KEY)  # as 0001 named it (shortened on PostgreSQL)
        batch.drop_column('superseded_by')
        batch.drop_column('revision')
    op.create_index('ix_activities_overlap', 'activities', ['site_id', 'meter', 'activity_type', 'period_end'])
