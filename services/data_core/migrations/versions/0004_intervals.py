"""intervals: an index for the overlap check of ingest

A reading overlapping a stored reading of the same site, meter and activity type is refused; the ingest
looks the stored periods up by site, meter and activity type with ``period_end`` after the batch's first
start and ``period_start`` before its last end.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_activities_overlap", "activities", ["site_id", "meter", "activity_type", "period_end"])


def downgrade() -> None:
    op.drop_index("ix_activities_overlap", table_name="activities")
