"""download requests as the downloader keeps them: spec, live key, sizes, result; waiters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

`live_key` holds a request's key while it is live and is NULL once it failed or was
cancelled; its UNIQUE constraint is what makes two identical live requests impossible on
both backends (NULLs never collide). Requests made before the downloader existed never ran
and never will: CANCELLED ones stay cancelled, every other one is failed with a reason, and
none is live. Catalogue items get `key_columns`, the columns that name a row for sampling.

On SQLite, `download_requests` is rebuilt (batch mode) for its constraint and NOT NULLs; it
is safe because no table references it at that point. `catalogue_items` is only ever altered
in place: rebuilding it would drop the old table, and with foreign keys on that deletes the
requests that reference it (ON DELETE CASCADE).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filedock.db.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BEFORE_THE_DOWNLOADER = "created before the downloader existed"
_LIVE = ("pending", "running", "done")


def upgrade() -> None:
    with op.batch_alter_table("download_requests") as batch:
        batch.add_column(sa.Column("spec", sa.JSON))
        batch.add_column(sa.Column("dedupe_key", sa.Text))
        batch.add_column(sa.Column("live_key", sa.String(64)))
        batch.add_column(sa.Column("seed", sa.String(32)))
        batch.add_column(sa.Column("estimated_size", sa.BigInteger))
        batch.add_column(sa.Column("real_size", sa.BigInteger))
        batch.add_column(sa.Column("executor_job_id", sa.String(200)))
        batch.add_column(sa.Column("failure", sa.String(1000)))
        batch.add_column(sa.Column("file_id", sa.String(128)))
        batch.add_column(sa.Column("updated_at", UTCDateTime))
        batch.add_column(sa.Column("revision", sa.String(32)))
    bind = op.get_bind()
    # One statement for every old row: none is live, so none keeps a live key.
    bind.execute(
        sa.text(
            "UPDATE download_requests SET"
            " status = CASE WHEN lower(status) = 'cancelled' THEN 'cancelled' ELSE 'failed' END,"
            " failure = CASE WHEN lower(status) = 'cancelled' THEN NULL ELSE :reason END,"
            " live_key = NULL, spec = :spec, dedupe_key = '', seed = '',"
            " updated_at = created_at, revision = '0'"
        ).bindparams(sa.bindparam("spec", {}, type_=sa.JSON)),
        {"reason": _BEFORE_THE_DOWNLOADER},
    )
    with op.batch_alter_table("download_requests") as batch:
        batch.alter_column("spec", existing_type=sa.JSON, nullable=False)
        batch.alter_column("dedupe_key", existing_type=sa.Text, nullable=False)
        batch.alter_column("seed", existing_type=sa.String(32), nullable=False)
        batch.alter_column("updated_at", existing_type=UTCDateTime, nullable=False)
        batch.alter_column("revision", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_download_requests_live_key", ["live_key"])
    op.create_table(
        "download_request_waiters",
        sa.Column(
            "request_id",
            sa.Integer,
            sa.ForeignKey(
                "download_requests.id",
                ondelete="CASCADE",
                name="fk_download_request_waiters_request",
            ),
            primary_key=True,
        ),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_download_request_waiters_account"
            ),
            primary_key=True,
        ),
        sa.Column("joined_at", UTCDateTime, nullable=False),
    )
    # The primary key serves "who waits for this request"; this serves "what do I wait for".
    op.create_index(
        "ix_download_request_waiters_account_id", "download_request_waiters", ["account_id"]
    )
    # A constant default: SQLite adds the column in place, existing items get no key columns.
    op.add_column(
        "catalogue_items",
        sa.Column("key_columns", sa.JSON, nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # In place (SQLite 3.35+): a rebuild of catalogue_items would cascade to the requests.
        bind.execute(sa.text("ALTER TABLE catalogue_items DROP COLUMN key_columns"))
    else:
        op.drop_column("catalogue_items", "key_columns")
    op.drop_index("ix_download_request_waiters_account_id", "download_request_waiters")
    op.drop_table("download_request_waiters")
    # The code before 0008 knew one ended state, CANCELLED: failed requests must not keep
    # their item there; live ones keep it, in the upper case it used.
    bind.execute(
        sa.text(
            "UPDATE download_requests SET status = CASE"
            " WHEN status IN :live THEN upper(status) ELSE 'CANCELLED' END"
        ).bindparams(sa.bindparam("live", _LIVE, expanding=True))
    )
    with op.batch_alter_table("download_requests") as batch:
        batch.drop_constraint("uq_download_requests_live_key", type_="unique")
        for column in (
            "revision",
            "updated_at",
            "file_id",
            "failure",
            "executor_job_id",
            "real_size",
            "estimated_size",
            "seed",
            "live_key",
            "dedupe_key",
            "spec",
        ):
            batch.drop_column(column)
