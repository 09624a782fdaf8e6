"""files and jobs

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filedock.db.models import JobId, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("owner_id", sa.String(256), nullable=False),
        sa.Column("owner_role", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(1024), nullable=False, unique=True),
        sa.Column("content_type", sa.String(256), nullable=False),
        sa.Column("detected_type", sa.String(256)),
        sa.Column("size", sa.BigInteger),
        sa.Column("sha256", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("filename", sa.String(1024)),
        sa.Column("persist", sa.Boolean, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("parent_kind", sa.String(64)),
        sa.Column("parent_id", sa.String(256)),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_files_owner_id", "files", ["owner_id"])
    op.create_index("ix_files_status", "files", ["status"])
    op.create_index("ix_files_expires_at", "files", ["expires_at"])
    op.create_index("ix_files_parent", "files", ["parent_kind", "parent_id"])
    op.create_table(
        "jobs",
        sa.Column("id", JobId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("run_after", UTCDateTime, nullable=False),
        sa.Column("locked_until", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_jobs_due", "jobs", ["status", "run_after"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("files")
