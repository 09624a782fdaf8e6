"""schedules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filedock.db.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("owner_id", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    # The name SQLAlchemy gives `index=True` on the model, so model and migration agree.
    op.create_index("ix_schedules_owner_id", "schedules", ["owner_id"])


def downgrade() -> None:
    op.drop_table("schedules")
