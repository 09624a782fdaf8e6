"""file owners within realms; a revision per file and catalogue item for compare-and-set writes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Existing files move to the realm of the face that made them: schedule documents to the
Cognito pool, signed-url uploads to the API key that made them when there is exactly one key
(otherwise to `api-key:unassigned`, which no key reaches; docs/compatibility.md says how to
hand them to a key), everything else (hasura and s3-command uploads) to the Bearer realm of
this installation's secret.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("owner_realm", sa.String(128), nullable=True))
        batch.add_column(
            sa.Column("revision", sa.String(32), nullable=False, server_default="0")
        )
    bind = op.get_bind()
    keys = bind.execute(sa.text("SELECT id FROM api_keys")).scalars().all()
    key_realm = f"api-key:{keys[0]}" if len(keys) == 1 else "api-key:unassigned"
    rows = bind.execute(sa.text("SELECT id, parent_kind, labels FROM files")).all()
    for start in range(0, len(rows), _BATCH):
        for file_id, parent_kind, labels in rows[start : start + _BATCH]:
            bind.execute(
                sa.text("UPDATE files SET owner_realm = :realm WHERE id = :id"),
                {"realm": _realm(parent_kind, labels, key_realm), "id": file_id},
            )
    with op.batch_alter_table("files") as batch:
        batch.alter_column("owner_realm", existing_type=sa.String(128), nullable=False)
    op.create_index("ix_files_owner", "files", ["owner_realm", "owner_id"])
    with op.batch_alter_table("catalogue_items") as batch:
        batch.add_column(
            sa.Column("revision", sa.String(32), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("catalogue_items") as batch:
        batch.drop_column("revision")
    op.drop_index("ix_files_owner", "files")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("revision")
        batch.drop_column("owner_realm")


def _realm(parent_kind: str | None, labels: object, key_realm: str) -> str:
    if parent_kind == "schedule":
        return "cognito"
    if isinstance(labels, str):
        labels = json.loads(labels or "{}")
    if isinstance(labels, dict) and labels.get("upload_policy") == "signed-url":
        return key_realm
    return "bearer"
