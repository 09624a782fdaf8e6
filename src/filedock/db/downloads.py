"""`DownloadRequests` on SQLAlchemy: one row per request, one row per waiter.

What keeps it right when callers race:

- One live request per spec: `live_key` is UNIQUE (NULL once the request ended, and NULLs
  never collide). A create inserts with ON CONFLICT DO NOTHING; losing means someone else
  created it first, and the next attempt joins theirs.
- A join never lands on a cancelled request, and the last leave never cancels a request
  someone just joined: a join bumps the request's revision *where its live key is still
  there*, then adds its waiter; a leave locks the request's row, removes its waiter, and
  cancels only if nobody is left, *where the revision is still the one it read*. On
  PostgreSQL the bump's and the leave's locks on the request's row conflict, so joins and
  leaves of one request run one after the other (two leaves too), and a join that waited
  re-checks the live key against what the leave committed (losing, it rolls back and the
  next attempt creates a new request). SQLite takes one writer at a time; the leave reads
  the revision after its first write, under that lock. Every transaction locks item, then
  request, then waiter rows, so none can deadlock another.
- A request never outlives its item: every attempt first locks the item (FOR KEY SHARE on
  PostgreSQL, the lock the foreign key takes anyway), which the item's deletion (FOR UPDATE,
  `SqlCatalogueItems.delete`) waits for, and vice versa; on SQLite the foreign key refuses a
  request whose item was deleted first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.core.download_model import DownloadRequest, Left, NewDownloadRequest, RequestStatus
from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.file_records import new_job_row
from filedock.db.models import CatalogueItemRow, DownloadRequestRow, DownloadRequestWaiterRow
from filedock.db.session import dialect_insert
from filedock.ports.downloads import ItemGone
from filedock.ports.jobs import JobRequest

_LIVE: Final = tuple(s.value for s in RequestStatus if s.is_live)
# The fields of a request that `move` may write beside its status.
_MOVABLE: Final = frozenset(
    {"estimated_size", "real_size", "executor_job_id", "failure", "file_id"}
)
# Each lost race means another transaction committed a change to the same live key or
# request in between; this many in a row means something is wrong, not busy.
_ATTEMPTS: Final = 20


class SqlDownloadRequests:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._on_enqueue = on_enqueue

    async def create_or_join(
        self, new: NewDownloadRequest, waiter_id: int, *, then: Sequence[JobRequest]
    ) -> tuple[DownloadRequest, bool]:
        for _ in range(_ATTEMPTS):
            with unavailable_on_connection_errors():
                try:
                    async with self._sessions.begin() as session:
                        request, created = await _create_or_join_once(session, new, waiter_id, then)
                except _LostRace:
                    continue  # rolled back, with whatever the attempt wrote
                except IntegrityError:
                    # SQLite only (PostgreSQL holds the item's lock): the item went between
                    # the check and the insert. Anything else is a bug and is raised as it is.
                    if await self._item_exists(new.catalogue_item_id):
                        raise
                    raise ItemGone(new.catalogue_item_id) from None
            if created and then:
                self._on_enqueue()
            return request, created
        raise RuntimeError(f"the live request of key {new.live_key} kept changing; gave up")

    async def get(self, request_id: int) -> DownloadRequest | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                row = await session.get(DownloadRequestRow, request_id)
                return None if row is None else _to_request(row)

    async def waiting_for(self, account_id: int) -> list[DownloadRequest]:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(DownloadRequestRow)
                    .join(
                        DownloadRequestWaiterRow,
                        DownloadRequestWaiterRow.request_id == DownloadRequestRow.id,
                    )
                    .where(DownloadRequestWaiterRow.account_id == account_id)
                    .order_by(DownloadRequestRow.id)
                )
                return [_to_request(row) for row in rows]

    async def is_waiter(self, request_id: int, account_id: int) -> bool:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                found = await session.scalar(
                    select(
                        exists().where(
                            DownloadRequestWaiterRow.request_id == request_id,
                            DownloadRequestWaiterRow.account_id == account_id,
                        )
                    )
                )
                return bool(found)

    async def leave(
        self, request_id: int, account_id: int, *, on_cancel: Sequence[JobRequest]
    ) -> Left | None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                # FOR UPDATE on PostgreSQL (nothing on SQLite, whose one writer is enough):
                # two last waiters leaving at once would each still see the other's row
                # and both leave a live request nobody waits for. Taken before the waiter
                # row, like a join's and the item deletion's locks, so none can deadlock.
                await session.execute(
                    select(DownloadRequestRow.id)
                    .where(DownloadRequestRow.id == request_id)
                    .with_for_update()
                )
                gone = await session.execute(
                    delete(DownloadRequestWaiterRow).where(
                        DownloadRequestWaiterRow.request_id == request_id,
                        DownloadRequestWaiterRow.account_id == account_id,
                    )
                )
                if gone.rowcount != 1:  # type: ignore[attr-defined]
                    return None
                left = await _cancel_if_nobody_waits(session, request_id, on_cancel)
        if left is Left.CANCELLED and on_cancel:
            self._on_enqueue()
        return left

    async def cancel_unwaited(
        self, on_cancel: Callable[[int], Sequence[JobRequest]], *, limit: int = 100
    ) -> list[int]:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                found = await session.scalars(
                    select(DownloadRequestRow.id)
                    .where(
                        DownloadRequestRow.live_key.is_not(None),
                        ~exists().where(
                            DownloadRequestWaiterRow.request_id == DownloadRequestRow.id
                        ),
                    )
                    .order_by(DownloadRequestRow.id)
                    .limit(limit)
                )
                candidates = list(found)
            cancelled = []
            for request_id in candidates:
                async with self._sessions.begin() as session:
                    # The same lock and the same compare-and-set as the last waiter leaving.
                    await session.execute(
                        select(DownloadRequestRow.id)
                        .where(DownloadRequestRow.id == request_id)
                        .with_for_update()
                    )
                    jobs = on_cancel(request_id)
                    if await _cancel_if_nobody_waits(session, request_id, jobs) is Left.CANCELLED:
                        cancelled.append(request_id)
        if cancelled:
            self._on_enqueue()
        return cancelled

    async def move(
        self, request: DownloadRequest, to: RequestStatus, **changes: Any
    ) -> DownloadRequest | None:
        unknown = set(changes) - _MOVABLE
        if unknown:
            raise TypeError(f"move cannot write {', '.join(sorted(unknown))}")
        if to.is_live and not request.status.is_live:
            # Its live key is gone, and an identical request may hold it by now.
            raise ValueError(f"a {request.status.value} request cannot become {to.value}")
        values: dict[str, Any] = dict(changes, status=to.value, updated_at=datetime.now(UTC))
        if not to.is_live:
            values["live_key"] = None
        statement = (
            update(DownloadRequestRow)
            .where(
                DownloadRequestRow.id == request.id,
                DownloadRequestRow.status == request.status.value,
            )
            .values(**values)
            .returning(DownloadRequestRow)
            .execution_options(synchronize_session=False)
        )
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                row = (await session.scalars(statement)).one_or_none()
                return None if row is None else _to_request(row)

    async def _item_exists(self, item_id: int) -> bool:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                return await session.get(CatalogueItemRow, item_id) is not None


class _LostRace(Exception):
    """Another transaction changed the live key or the request first: roll back, try again."""


async def _create_or_join_once(
    session: AsyncSession,
    new: NewDownloadRequest,
    waiter_id: int,
    then: Sequence[JobRequest],
) -> tuple[DownloadRequest, bool]:
    """One attempt in one transaction; `_LostRace` when it must be rolled back and retried."""
    now = datetime.now(UTC)
    item = await session.scalar(
        select(CatalogueItemRow.id)
        .where(CatalogueItemRow.id == new.catalogue_item_id)
        # FOR KEY SHARE on PostgreSQL (nothing on SQLite): the item stays until commit.
        .with_for_update(read=True, key_share=True)
    )
    if item is None:
        raise ItemGone(new.catalogue_item_id)
    live_id = await session.scalar(
        select(DownloadRequestRow.id).where(DownloadRequestRow.live_key == new.live_key)
    )
    if live_id is not None:
        return await _join(session, live_id, new.live_key, waiter_id, now), False
    insert = dialect_insert(session)
    created_id = await session.scalar(
        insert(DownloadRequestRow)
        .values(
            catalogue_item_id=new.catalogue_item_id,
            account_id=new.created_by_id,
            status=RequestStatus.PENDING.value,
            spec=new.spec,
            dedupe_key=new.dedupe_key,
            live_key=new.live_key,
            seed=new.seed,
            created_at=now,
            updated_at=now,
            revision=uuid.uuid4().hex,
        )
        # On PostgreSQL a racing insert of the same key waits for the other transaction:
        # if that commits, nothing is inserted here and the next attempt joins it.
        .on_conflict_do_nothing(index_elements=["live_key"])
        .returning(DownloadRequestRow.id)
    )
    if created_id is None:
        raise _LostRace
    await _add_waiter(session, created_id, waiter_id, now)
    for job in then:
        # The job's request is known only now: its id goes in the payload.
        session.add(
            new_job_row(
                JobRequest(job.kind, {**job.payload, "request_id": str(created_id)}, job.run_after),
                now,
            )
        )
    row = await session.get_one(DownloadRequestRow, created_id)
    return _to_request(row), True


async def _join(
    session: AsyncSession, request_id: int, live_key: str, waiter_id: int, now: datetime
) -> DownloadRequest:
    """Bump the revision if the request is still live (else `_LostRace`), then add the waiter."""
    row = (
        await session.scalars(
            update(DownloadRequestRow)
            .where(DownloadRequestRow.id == request_id, DownloadRequestRow.live_key == live_key)
            .values(revision=uuid.uuid4().hex)
            .returning(DownloadRequestRow)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        raise _LostRace  # it ended meanwhile: the next attempt creates a new one
    await _add_waiter(session, request_id, waiter_id, now)
    return _to_request(row)


async def _add_waiter(
    session: AsyncSession, request_id: int, account_id: int, now: datetime
) -> None:
    insert = dialect_insert(session)
    await session.execute(
        insert(DownloadRequestWaiterRow)
        .values(request_id=request_id, account_id=account_id, joined_at=now)
        # A waiter already: kept once, with the time it first joined.
        .on_conflict_do_nothing(index_elements=["request_id", "account_id"])
    )


async def _cancel_if_nobody_waits(
    session: AsyncSession, request_id: int, on_cancel: Sequence[JobRequest]
) -> Left:
    """Cancel the request if it is live and nobody waits; a join that came first keeps it."""
    for _ in range(_ATTEMPTS):
        waiting = await session.scalar(
            select(exists().where(DownloadRequestWaiterRow.request_id == request_id))
        )
        if waiting:
            return Left.LEFT
        read = (
            await session.execute(
                select(DownloadRequestRow.status, DownloadRequestRow.revision).where(
                    DownloadRequestRow.id == request_id
                )
            )
        ).one_or_none()
        if read is None or not RequestStatus(read.status).is_live:
            return Left.LEFT
        now = datetime.now(UTC)
        cancelled = await session.execute(
            update(DownloadRequestRow)
            .where(
                DownloadRequestRow.id == request_id,
                DownloadRequestRow.revision == read.revision,
                DownloadRequestRow.status.in_(_LIVE),
            )
            .values(
                status=RequestStatus.CANCELLED.value,
                live_key=None,
                revision=uuid.uuid4().hex,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if cancelled.rowcount == 1:  # type: ignore[attr-defined]
            for job in on_cancel:
                session.add(new_job_row(job, now))
            return Left.CANCELLED
        # A join (or a move) committed in between: under READ COMMITTED the next
        # statements see it, so read again and decide again.
    raise RuntimeError(f"download request {request_id} kept changing while its last waiter left")


def _to_request(row: DownloadRequestRow) -> DownloadRequest:
    return DownloadRequest(
        id=row.id,
        catalogue_item_id=row.catalogue_item_id,
        created_by_id=row.account_id,
        spec=dict(row.spec or {}),
        dedupe_key=row.dedupe_key,
        seed=row.seed,
        status=RequestStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        estimated_size=row.estimated_size,
        real_size=row.real_size,
        executor_job_id=row.executor_job_id,
        failure=row.failure,
        file_id=row.file_id,
        revision=row.revision,
    )
