"""catalogue items and download requests

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filedock.db.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _account(column: str, constraint: str) -> sa.Column[int]:
    return sa.Column(
        column, sa.Integer, sa.ForeignKey("accounts.id", ondelete="SET NULL", name=constraint)
    )


def upgrade() -> None:
    op.create_table(
        "catalogue_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("executor_type", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("sample", sa.JSON, nullable=False),
        sa.Column("location", sa.String(1024)),
        _account("maintained_by_id", "fk_catalogue_items_maintained_by"),
        _account("created_by_id", "fk_catalogue_items_created_by"),
        _account("updated_by_id", "fk_catalogue_items_updated_by"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("name", name="uq_catalogue_items_name"),
    )
    op.create_table(
        "download_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "catalogue_item_id",
            sa.Integer,
            sa.ForeignKey(
                "catalogue_items.id", ondelete="CASCADE", name="fk_download_requests_item"
            ),
            nullable=False,
        ),
        _account("account_id", "fk_download_requests_account"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_download_requests_catalogue_item_id", "download_requests", ["catalogue_item_id"]
    )


def downgrade() -> None:
    op.drop_table("download_requests")
    op.drop_table("catalogue_items")
