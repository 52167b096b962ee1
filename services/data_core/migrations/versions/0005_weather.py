"""weather per site: stations, their hourly observations, and the station of each site

Revision ID: 0005
Revises: 0003 (re-chained to 0004 at merge: this migration depends on nothing of 0004)
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime().with_variant(sqlite.DATETIME(), 'sqlite')


def upgrade() -> None:
    op.create_table('weather_stations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('elevation_m', sa.Float(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('attribution', sa.Text(), nullable=False),
    sa.Column('created_at', UTC_DATETIME, server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_weather_stations'))
    )
    op.create_table('weather_observations',
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('timestamp', UTC_DATETIME, nullable=False),
    sa.Column('air_temperature_degC', sa.Float(), nullable=True),
    sa.Column('relative_humidity_pct', sa.Float(), nullable=True),
    sa.Column('global_irradiance_w_m2', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['weather_stations.id'],
                            name=op.f('fk_weather_observations_station_id_weather_stations')),
    sa.PrimaryKeyConstraint('station_id', 'timestamp', name=op.f('pk_weather_observations'))
    )
    # SQLite: batch mode copies the table (migrations run without PRAGMA foreign_keys, see env.py)
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('weather_station', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_sites_weather_station_weather_stations'), 'weather_stations',
                                    ['weather_station'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sites_weather_station_weather_stations'), type_='foreignkey')
        batch_op.drop_column('weather_station')
    op.drop_table('weather_observations')
    op.drop_table('weather_stations')
