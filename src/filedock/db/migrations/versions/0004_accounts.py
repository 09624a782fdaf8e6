"""accounts and auth requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filedock.db.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("email", name="uq_accounts_email"),
    )
    op.create_table(
        "auth_requests",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="CASCADE", name="fk_auth_requests_account"),
        ),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("attached_at", UTCDateTime),
        sa.Column("exchanged_at", UTCDateTime),
    )
    # The name SQLAlchemy gives `index=True` on the model, so model and migration agree.
    op.create_index("ix_auth_requests_expires_at", "auth_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_table("auth_requests")
    op.drop_table("accounts")
