"""`FileRecords` on SQLAlchemy: file rows, saved together with the jobs they start."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Update, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.schema import Table

from filedock.core.model import File, FileStatus
from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.group_insert import GroupInsert
from filedock.db.models import FileRow, JobRow
from filedock.db.transactions import Transactions
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken

FILES = cast(Table, FileRow.__table__)
JOBS = cast(Table, JobRow.__table__)
# The hot statements are built once and run with their values as parameters: building one
# and its cache key cost 150 to 300 µs of CPU a call (measured; docs/benchmarks.md), more
# than SQLite's own work, while a prebuilt one is found in SQLAlchemy's compiled cache by a
# key memoized on the statement itself.
_GET = select(FILES).where(FILES.c.id == bindparam("_id"))
_REMOVE = delete(FILES).where(
    FILES.c.id == bindparam("_id"), FILES.c.revision == bindparam("_expected")
)
_ADD_JOBS = insert(JOBS)
# Older SQLite builds allow 999 bound parameters a statement.
_MAX_KEYS_PER_QUERY = 900


class SqlFileRecords:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._on_enqueue = on_enqueue
        # Every upload is read and moved several times: each step is one transaction, and on
        # SQLite concurrent ones share a hop and a commit (db/transactions.py).
        self._transactions = Transactions(engine_of(sessions))
        # Uploaded files arrive with their job one per upload: concurrent ones share a commit.
        self._inserts = GroupInsert(self._transactions, FILES, JOBS)

    async def insert(self, file: File, *, then: Sequence[JobRequest] = ()) -> None:
        jobs = [_job_values(request, file.updated_at) for request in then]
        with unavailable_on_connection_errors():
            try:
                await self._inserts.insert(_values(file), jobs)
            except IntegrityError:
                raise FileIdTaken(file.id) from None
        if then:
            self._on_enqueue()

    async def get(self, file_id: str) -> File | None:
        # The table's row, not an ORM instance: no identity map to fill for one read.
        def read(connection: Connection) -> Any:
            return connection.execute(_GET, {"_id": file_id}).first()

        with unavailable_on_connection_errors():
            row = await self._transactions.run(read)
        return None if row is None else _to_file(row)

    async def find_by_key(self, storage_key: str) -> File | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                row = await session.scalar(
                    select(FileRow).where(FileRow.storage_key == storage_key)
                )
                return None if row is None else _to_file(row)

    async def find_by_parent(self, kind: str, parent_id: str) -> list[File]:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(FileRow)
                    .where(FileRow.parent_kind == kind, FileRow.parent_id == parent_id)
                    .order_by(FileRow.created_at, FileRow.id)
                )
                return [_to_file(row) for row in rows]

    async def find(
        self,
        *,
        status: FileStatus | None = None,
        expires_before: datetime | None = None,
        updated_before: datetime | None = None,
        limit: int = 100,
    ) -> list[File]:
        query = select(FileRow).order_by(FileRow.created_at).limit(limit)
        if updated_before is not None:
            query = query.where(FileRow.updated_at < updated_before)
        if status is not None:
            query = query.where(FileRow.status == status.value)
        if expires_before is not None:
            query = query.where(FileRow.expires_at < expires_before)
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                return [_to_file(row) for row in await session.scalars(query)]

    async def replace(
        self, expected: File, new: File, *, then: Sequence[JobRequest] = ()
    ) -> bool:
        if new.id != expected.id:
            raise ValueError("a record's id never changes")
        # Only the columns that change (a move: status, reason, time, revision, what was
        # measured), on the table itself: every upload is moved three times, and the ORM's
        # bulk-update layer and twenty bound columns cost more CPU than the write.
        before = _values(expected)
        values = {name: value for name, value in _values(new).items() if before[name] != value}
        statement = _move(tuple(sorted(values)))
        parameters = {"_id": expected.id, "_expected": expected.revision, **values}
        jobs = [_job_values(request, new.updated_at) for request in then]

        def move(connection: Connection) -> bool:
            if connection.execute(statement, parameters).rowcount != 1:
                return False
            if jobs:
                connection.execute(_ADD_JOBS, jobs)
            return True

        with unavailable_on_connection_errors():
            moved = await self._transactions.run(move)
        if moved and then:
            self._on_enqueue()
        return moved

    async def remove(self, expected: File) -> bool:
        parameters = {"_id": expected.id, "_expected": expected.revision}
        with unavailable_on_connection_errors():
            return await self._transactions.run(
                lambda connection: connection.execute(_REMOVE, parameters).rowcount == 1
            )

    async def page(self, *, after_id: str | None, limit: int) -> list[File]:
        # Keyset paging on the primary key: each page is an index range scan, however deep.
        query = select(FileRow).order_by(FileRow.id).limit(limit)
        if after_id is not None:
            query = query.where(FileRow.id > after_id)
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                return [_to_file(row) for row in await session.scalars(query)]

    async def owned_page(
        self,
        owner_realm: str,
        owner_id: str,
        *,
        statuses: Collection[FileStatus],
        after_id: str | None,
        limit: int,
    ) -> list[File]:
        # Keyset paging within one owner: a range scan of ix_files_owner_listing.
        query = (
            select(FileRow)
            .where(
                FileRow.owner_realm == owner_realm,
                FileRow.owner_id == owner_id,
                FileRow.status.in_([status.value for status in statuses]),
            )
            .order_by(FileRow.id)
            .limit(limit)
        )
        if after_id is not None:
            query = query.where(FileRow.id > after_id)
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                return [_to_file(row) for row in await session.scalars(query)]

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                for start in range(0, len(keys), _MAX_KEYS_PER_QUERY):
                    batch = list(keys[start : start + _MAX_KEYS_PER_QUERY])
                    found.update(
                        await session.scalars(
                            select(FileRow.storage_key).where(FileRow.storage_key.in_(batch))
                        )
                    )
        return found

    async def check(self) -> None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                await session.execute(text("SELECT 1"))

    async def count_by_status(self) -> dict[str, int]:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                rows = await session.execute(
                    select(FileRow.status, func.count()).group_by(FileRow.status)
                )
                return {status: count for status, count in rows.all()}


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("the session factory must be bound to an AsyncEngine")
    return engine


def new_job_row(request: JobRequest, now: datetime) -> JobRow:
    return JobRow(**_job_values(request, now))


@functools.lru_cache(maxsize=64)
def _move(columns: tuple[str, ...]) -> Update:
    """The compare-and-set that writes `columns` of a record at its expected revision; a
    move changes a few columns, and the same few again on the next file."""
    return (
        update(FILES)
        .where(FILES.c.id == bindparam("_id"), FILES.c.revision == bindparam("_expected"))
        .values({name: bindparam(name) for name in columns})
    )


def _job_values(request: JobRequest, now: datetime) -> dict[str, Any]:
    """A queued job's columns, for the ORM (`new_job_row`) and for a plain INSERT alike."""
    return dict(
        kind=request.kind,
        payload=dict(request.payload),
        status="queued",
        attempts=0,
        run_after=request.run_after or now,
        locked_until=None,
        last_error=None,
        created_at=now,
        updated_at=now,
    )


def _values(file: File) -> dict[str, Any]:
    return dict(
        id=file.id,
        owner_realm=file.owner_realm,
        owner_id=file.owner_id,
        owner_role=file.owner_role,
        storage_key=file.storage_key,
        content_type=file.content_type,
        detected_type=file.detected_type,
        size=file.size,
        sha256=file.sha256,
        status=file.status.value,
        status_reason=file.status_reason,
        filename=file.filename,
        persist=file.persist,
        expires_at=file.expires_at,
        parent_kind=file.parent_kind,
        parent_id=file.parent_id,
        labels=dict(file.labels),
        created_at=file.created_at,
        updated_at=file.updated_at,
        revision=file.revision,
    )


def _to_file(row: FileRow) -> File:
    return File(
        id=row.id,
        owner_realm=row.owner_realm,
        owner_id=row.owner_id,
        owner_role=row.owner_role,
        storage_key=row.storage_key,
        content_type=row.content_type,
        detected_type=row.detected_type,
        size=row.size,
        sha256=row.sha256,
        status=FileStatus(row.status),
        status_reason=row.status_reason,
        filename=row.filename,
        persist=row.persist,
        expires_at=row.expires_at,
        parent_kind=row.parent_kind,
        parent_id=row.parent_id,
        labels=dict(row.labels or {}),
        created_at=row.created_at or datetime.now(UTC),
        updated_at=row.updated_at or datetime.now(UTC),
        revision=row.revision,
    )
