"""`JobQueue` on SQLAlchemy: one row per job, claimed with `FOR UPDATE SKIP LOCKED`.

On PostgreSQL many `filedock worker` processes can claim side by side; on SQLite the single
writer makes the claiming UPDATE atomic by itself (the lock clause is simply not emitted).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Subquery,
    Table,
    Update,
    bindparam,
    delete,
    func,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import BindParameter

from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.file_records import engine_of, new_job_row
from filedock.db.models import JobRow
from filedock.db.transactions import Transactions
from filedock.ports.jobs import Job, JobRequest

# The table itself, not the mapped class, in the statements a worker runs for every job: the
# ORM's bulk-update layer costs about a third more CPU a statement, for nothing used here.
JOBS = cast(Table, JobRow.__table__)
# Jobs finishing together, each only if its claim (id, attempts) still holds it.
_DELETE_HELD = (
    delete(JOBS)
    .where(
        JOBS.c.status == "running",
        tuple_(JOBS.c.id, JOBS.c.attempts).in_(bindparam("_claims", expanding=True)),
    )
    .returning(JOBS.c.id)
)
# Jobs one completing statement carries at most: two bound parameters each, well within
# older SQLite builds' 999.
MAX_COMPLETIONS = 100


class SqlJobQueue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._on_enqueue = on_enqueue
        # Claims, renewals and completions: one transaction each, shared on SQLite when
        # concurrent (db/transactions.py).
        self._transactions = Transactions(engine_of(sessions))
        self._finished: list[tuple[Job, asyncio.Future[bool]]] = []
        self._completer: asyncio.Task[None] | None = None

    async def enqueue(self, request: JobRequest) -> None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                session.add(new_job_row(request, datetime.now(UTC)))
        self._on_enqueue()

    async def claim(
        self, now: datetime, lease: timedelta, kinds: Collection[str] | None = None
    ) -> Job | None:
        jobs = await self.claim_batch(now, lease, kinds, 1)
        return jobs[0] if jobs else None

    async def claim_batch(
        self, now: datetime, lease: timedelta, kinds: Collection[str] | None, limit: int
    ) -> list[Job]:
        parameters = {"_now": now, "_limit": limit, "_until": now + lease, "_updated": now}
        if kinds is not None:
            parameters["_kinds"] = list(kinds)
        claim = _claim(kinds is not None)
        with unavailable_on_connection_errors():
            rows = await self._transactions.run(
                lambda connection: connection.execute(claim, parameters).all()
            )
        jobs = [
            Job(
                id=row.id,
                kind=row.kind,
                payload=dict(row.payload),
                attempts=row.attempts,
                due_at=row.run_after,
            )
            for row in rows
        ]
        # RETURNING gives no order; the oldest first, as they were due.
        return sorted(jobs, key=lambda job: (job.due_at or now, job.id))

    async def renew(self, job: Job, until: datetime) -> bool:
        return await self._if_held(job, locked_until=until)

    async def release(self, job: Job) -> bool:
        # `run_after` is kept: it was due already, and stays first in line.
        return await self._if_held(
            job, status="queued", locked_until=None, updated_at=datetime.now(UTC)
        )

    async def complete(self, job: Job) -> bool:
        # Done jobs leave no row: the file's own status is the lasting record. Jobs finishing
        # together (a worker runs several at once) share one statement and one commit, as
        # in db/group_insert.py; each caller still learns whether its own claim held.
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._finished.append((job, done))
        if self._completer is None:
            # A task of its own: a caller cancelled while waiting cancels only its wait,
            # never the statement that carries other workers' jobs.
            self._completer = asyncio.create_task(
                self._complete_finished(), name="filedock-job-completions"
            )
        return await done

    async def retry(self, job: Job, run_after: datetime, error: str) -> bool:
        return await self._if_held(
            job,
            status="queued",
            run_after=run_after,
            last_error=error,
            locked_until=None,
            updated_at=datetime.now(UTC),
        )

    async def fail(self, job: Job, error: str) -> bool:
        return await self._if_held(
            job, status="failed", last_error=error, locked_until=None, updated_at=datetime.now(UTC)
        )

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

    async def _complete_finished(self) -> None:
        try:
            while self._finished:
                batch = self._finished[:MAX_COMPLETIONS]
                del self._finished[:MAX_COMPLETIONS]
                try:
                    completed = await self._delete_held([job for job, _ in batch])
                except BaseException as exc:
                    for _, done in batch:
                        if done.done():
                            continue
                        if isinstance(exc, Exception):
                            done.set_exception(exc)
                        else:
                            done.cancel()
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for job, done in batch:
                    if not done.done():
                        done.set_result(job.id in completed)
        finally:
            for _, done in self._finished:
                done.cancel()  # the loop is closing: nothing will write them now
            self._finished.clear()
            self._completer = None

    async def _delete_held(self, jobs: list[Job]) -> set[int]:
        """Delete those of `jobs` still held by their claims; the ids deleted."""
        parameters = {"_claims": [(job.id, job.attempts) for job in jobs]}
        with unavailable_on_connection_errors():
            return await self._transactions.run(
                lambda connection: set(connection.execute(_DELETE_HELD, parameters).scalars())
            )

    async def _if_held(self, job: Job, **values: object) -> bool:
        """Change `job` only while this claim still holds it: a compare-and-set on the claim."""
        statement = _change_held(tuple(sorted(values)))
        parameters = {"_id": job.id, "_attempts": job.attempts, **values}

        def change(connection: Connection) -> bool:
            return connection.execute(statement, parameters).rowcount == 1

        with unavailable_on_connection_errors():
            return await self._transactions.run(change)


@functools.cache
def _claim(by_kind: bool) -> Update:
    """Claim up to `_limit` due jobs (of `_kinds`, when `by_kind`) until `_until`.

    Due are queued jobs whose time has come and running ones whose lease ran out. Each kind
    is read in its own index order (ix_jobs_due: status, run_after, id) and cut at the
    limit; only those few are sorted together. One query with an OR sorted every due job on
    each claim instead: 0.36 ms of SQLite's time at 3,000 queued, growing with the backlog
    (measured; docs/benchmarks.md). Built once, like every hot statement here: its values
    are parameters.
    """
    now: BindParameter[Any] = bindparam("_now")
    limit: BindParameter[Any] = bindparam("_limit")
    kinds: BindParameter[Any] | None = bindparam("_kinds", expanding=True) if by_kind else None
    queued = _due_branch(kinds, limit, JOBS.c.status == "queued", JOBS.c.run_after <= now)
    expired = _due_branch(kinds, limit, JOBS.c.status == "running", JOBS.c.locked_until < now)
    both = union_all(
        select(queued.c.id, queued.c.run_after), select(expired.c.id, expired.c.run_after)
    ).subquery()
    due = select(both.c.id).order_by(both.c.run_after, both.c.id).limit(limit)
    return (
        update(JOBS)
        .where(JOBS.c.id.in_(due))
        .values(
            status="running",
            attempts=JOBS.c.attempts + 1,
            locked_until=bindparam("_until"),
            updated_at=bindparam("_updated"),
        )
        .returning(JOBS.c.id, JOBS.c.kind, JOBS.c.payload, JOBS.c.attempts, JOBS.c.run_after)
    )


def _due_branch(
    kinds: BindParameter[Any] | None, limit: BindParameter[Any], *condition: ColumnElement[bool]
) -> Subquery:
    """The first `limit` jobs meeting `condition`, oldest first, locked for this claim."""
    query = select(JOBS.c.id, JOBS.c.run_after).where(*condition)
    if kinds is not None:
        query = query.where(JOBS.c.kind.in_(kinds))
    # Rows another worker is claiming right now are skipped, not waited for: two workers
    # claiming at once each get other jobs (PostgreSQL; SQLite has one writer anyway).
    query = query.order_by(JOBS.c.run_after, JOBS.c.id).limit(limit)
    return query.with_for_update(skip_locked=True).subquery()


@functools.lru_cache(maxsize=16)
def _change_held(columns: tuple[str, ...]) -> Update:
    """Write `columns` of job `_id` only as claim `_attempts` left it: running, and claimed
    no time since (`attempts` counts claims, so it is each claim's token)."""
    return (
        update(JOBS)
        .where(
            JOBS.c.id == bindparam("_id"),
            JOBS.c.status == "running",
            JOBS.c.attempts == bindparam("_attempts"),
        )
        .values({name: bindparam(name) for name in columns})
    )
