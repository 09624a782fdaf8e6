"""schedule participants: the parties a trusted back-end declares for a schedule

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Participants are declared apart from the owner, so a schedule may have them before its first
document (no foreign key to `schedules`); the primary key keeps each subject once a schedule.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filedock.db.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_participants",
        # The primary key also serves "who takes part in this schedule" (its leading column).
        sa.Column("schedule_id", sa.String(128), primary_key=True),
        sa.Column("subject", sa.String(256), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedule_participants")
