"""an owner's files in id order: the index behind the signed-url face's listing

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

`GET /v1/files/` pages through one owner's files by id (keyset: `id > :after`). The index on
(owner_realm, owner_id, id) serves that as one range scan on both backends; it replaces
`ix_files_owner` (owner_realm, owner_id), which is its prefix and so serves nothing more.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_files_owner_listing", "files", ["owner_realm", "owner_id", "id"])
    op.drop_index("ix_files_owner", "files")


def downgrade() -> None:
    op.create_index("ix_files_owner", "files", ["owner_realm", "owner_id"])
    op.drop_index("ix_files_owner_listing", "files")
