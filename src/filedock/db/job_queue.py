"""`JobQueue` on SQLAlchemy: one row per job, claimed with `FOR UPDATE SKIP LOCKED`.

On PostgreSQL many `filedock worker` processes can claim side by side; on SQLite the single
writer makes the claiming UPDATE atomic by itself (the lock clause is simply not emitted).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.file_records import new_job_row
from filedock.db.models import JobRow
from filedock.ports.jobs import Job, JobRequest


class SqlJobQueue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._on_enqueue = on_enqueue

    async def enqueue(self, request: JobRequest) -> None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                session.add(new_job_row(request, datetime.now(UTC)))
        self._on_enqueue()

    async def claim(
        self, now: datetime, lease: timedelta, kinds: Collection[str] | None = None
    ) -> Job | None:
        due = select(JobRow.id).where(
            or_(
                and_(JobRow.status == "queued", JobRow.run_after <= now),
                and_(JobRow.status == "running", JobRow.locked_until < now),
            )
        )
        if kinds is not None:
            due = due.where(JobRow.kind.in_(list(kinds)))
        due = (
            due.order_by(JobRow.run_after, JobRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            update(JobRow)
            .where(JobRow.id == due)
            .values(
                status="running",
                attempts=JobRow.attempts + 1,
                locked_until=now + lease,
                updated_at=now,
            )
            .returning(JobRow.id, JobRow.kind, JobRow.payload, JobRow.attempts, JobRow.run_after)
        )
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                row = (await session.execute(claim)).first()
        if row is None:
            return None
        return Job(
            id=row.id,
            kind=row.kind,
            payload=dict(row.payload),
            attempts=row.attempts,
            due_at=row.run_after,
        )

    async def renew(self, job: Job, until: datetime) -> bool:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                result = await session.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == job.id,
                        JobRow.status == "running",
                        JobRow.attempts == job.attempts,
                    )
                    .values(locked_until=until)
                )
                return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def release(self, job: Job) -> bool:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                # `run_after` is kept: it was due already, and stays first in line.
                result = await session.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == job.id,
                        JobRow.status == "running",
                        JobRow.attempts == job.attempts,
                    )
                    .values(status="queued", locked_until=None, updated_at=datetime.now(UTC))
                )
                return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def complete(self, job_id: int) -> None:
        # Done jobs leave no row: the file's own status is the lasting record.
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                await session.execute(delete(JobRow).where(JobRow.id == job_id))

    async def retry(self, job_id: int, run_after: datetime, error: str) -> None:
        await self._set(job_id, status="queued", run_after=run_after, last_error=error)

    async def fail(self, job_id: int, error: str) -> None:
        await self._set(job_id, status="failed", last_error=error)

    async def counts(self) -> Mapping[str, int]:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                rows = await session.execute(
                    select(JobRow.status, func.count()).group_by(JobRow.status)
                )
                return {status: count for status, count in rows.all()}

    async def due_counts(self, now: datetime) -> Mapping[str, int]:
        """Queued jobs already due at `now`, by kind: the backlog, for metrics."""
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                rows = await session.execute(
                    select(JobRow.kind, func.count())
                    .where(JobRow.status == "queued", JobRow.run_after <= now)
                    .group_by(JobRow.kind)
                )
                return {kind: count for kind, count in rows.all()}

    async def _set(self, job_id: int, **values: object) -> None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                await session.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id)
                    .values(locked_until=None, updated_at=datetime.now(UTC), **values)
                )
