"""Tables. Every state change of a file or a job is a row here, so a restart loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite keeps no autoincrement on BIGINT primary keys; PostgreSQL wants the wider type.
JobId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class FileRow(Base):
    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner_realm: Mapped[str] = mapped_column(String(128))
    owner_id: Mapped[str] = mapped_column(String(256), index=True)
    owner_role: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1024), unique=True)
    content_type: Mapped[str] = mapped_column(String(256))
    detected_type: Mapped[str | None] = mapped_column(String(256))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(1024))
    persist: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    parent_kind: Mapped[str | None] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(String(256))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Compare-and-set token: every write names the revision it read (core/lifecycle.py).
    revision: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_files_parent", "parent_kind", "parent_id"),
        # An owner's files in id order: access checks and the signed-url face's listing.
        Index("ix_files_owner_listing", "owner_realm", "owner_id", "id"),
    )


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(JobId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_jobs_due", "status", "run_after"),)


class ApiKeyRow(Base):
    """A trusted back-end's key: only its sha256 is kept, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Named, so the migration and the model agree on both backends.
    __table_args__ = (
        UniqueConstraint("name", name="uq_api_keys_name"),
        Index("ix_api_keys_key_hash", "key_hash", unique=True),
    )


class ScheduleRow(Base):
    """Who owns a schedule: written once, by the first document attached to it."""

    __tablename__ = "schedules"

    # The client's own schedule id, so claiming it twice collides on the primary key.
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(256), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScheduleParticipantRow(Base):
    """A party a back-end declared for a schedule, beside its owner (a Cognito subject).

    No foreign key to `schedules`: a back-end may declare parties before anyone attached a
    document, and the schedule's row is written by that first attach.
    """

    __tablename__ = "schedule_participants"

    schedule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    subject: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountRow(Base):
    """A cosphere account: an email (stored lower-cased) and a type, ADMIN or RESEARCHER."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254))
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("email", name="uq_accounts_email"),)


class AuthRequestRow(Base):
    """A sign-in in progress: created, then an account attached, then exchanged once."""

    __tablename__ = "auth_requests"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("accounts.id", ondelete="CASCADE", name="fk_auth_requests_account")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exchanged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _account_reference(name: str) -> ForeignKey:
    # An account that goes leaves its items: they show `null` where it was, as in the seed.
    return ForeignKey("accounts.id", ondelete="SET NULL", name=name)


class CatalogueItemRow(Base):
    """A dataset researchers can find: its columns (`spec`), a sample and who keeps it."""

    __tablename__ = "catalogue_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    executor_type: Mapped[str] = mapped_column(String(16))
    spec: Mapped[list[Any]] = mapped_column(JSON)
    sample: Mapped[list[Any]] = mapped_column(JSON)
    location: Mapped[str | None] = mapped_column(String(1024))
    maintained_by_id: Mapped[int | None] = mapped_column(
        Integer, _account_reference("fk_catalogue_items_maintained_by")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        Integer, _account_reference("fk_catalogue_items_created_by")
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        Integer, _account_reference("fk_catalogue_items_updated_by")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revision: Mapped[str] = mapped_column(String(32))
    # The columns that name a row, for sampling; items from before 0008 have none.
    key_columns: Mapped[list[str]] = mapped_column(JSON, server_default=text("'[]'"))

    __table_args__ = (UniqueConstraint("name", name="uq_catalogue_items_name"),)


class DownloadRequestRow(Base):
    """A request for an extract of an item, shared by its waiters (core/download_model.py)."""

    __tablename__ = "download_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    catalogue_item_id: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("catalogue_items.id", ondelete="CASCADE", name="fk_download_requests_item"),
        index=True,
    )
    # Who created it (`created_by_id` of the record); its waiters are in their own table.
    account_id: Mapped[int | None] = mapped_column(
        Integer, _account_reference("fk_download_requests_account")
    )
    status: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(Text)
    # The digest of `dedupe_key` while the request is live, NULL once it failed or was
    # cancelled: the unique constraint keeps one live request per key, on both backends.
    live_key: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[str] = mapped_column(String(32))
    estimated_size: Mapped[int | None] = mapped_column(BigInteger)
    real_size: Mapped[int | None] = mapped_column(BigInteger)
    executor_job_id: Mapped[str | None] = mapped_column(String(200))
    failure: Mapped[str | None] = mapped_column(String(1000))
    file_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Changes whenever the waiters change: the last leave cancels only against it.
    revision: Mapped[str] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("live_key", name="uq_download_requests_live_key"),)


class DownloadRequestWaiterRow(Base):
    """An account waiting for a request; the primary key keeps each account once."""

    __tablename__ = "download_request_waiters"

    request_id: Mapped[int] = mapped_column(
        Integer,
        ForeignKey(
            "download_requests.id", ondelete="CASCADE", name="fk_download_request_waiters_request"
        ),
        primary_key=True,
    )
    account_id: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE", name="fk_download_request_waiters_account"),
        primary_key=True,
        index=True,
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
