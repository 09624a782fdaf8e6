"""Download requests and their waiters on real SQLite and PostgreSQL databases.

The races are run for real: `asyncio.gather` over one engine, which on PostgreSQL spreads
the callers over pooled connections (concurrent transactions on the server) and on SQLite
queues them on the one connection of the process. After every race the stored rows are held
to the invariants: a cancelled request has no waiter, a live one has at least one, and an
item with a live request is never deleted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.config import Settings
from filedock.core.account_model import AccountType
from filedock.core.catalogue_model import CatalogueItem, ExecutorType, NewCatalogueItem
from filedock.core.download_model import (
    CLEAR_EXTRACT_JOB,
    RUN_EXTRACT_JOB,
    DownloadRequest,
    Left,
    NewDownloadRequest,
    RequestStatus,
)
from filedock.core.extract_spec import ExtractSpec, dedupe_key, parse_spec, render_spec
from filedock.db.accounts import SqlAccountStore
from filedock.db.catalogue import SqlCatalogueItems
from filedock.db.downloads import SqlDownloadRequests
from filedock.db.migrate import alembic_config
from filedock.db.models import DownloadRequestRow, DownloadRequestWaiterRow, JobRow
from filedock.db.session import create_engine, session_factory
from filedock.ports.downloads import DownloadRequests, ItemGone
from filedock.ports.jobs import JobRequest

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "INTEGER", "is_nullable": False, "size": None, "distribution": None},
    {"name": "code", "type": "STRING", "is_nullable": True, "size": None, "distribution": None},
]
RUN = JobRequest(RUN_EXTRACT_JOB)
# Rounds of each race: with `stagger`, enough for each side to win some on PostgreSQL.
ROUNDS = 25
_emails = itertools.count()
T = TypeVar("T")


@dataclass
class World:
    engine: AsyncEngine
    requests: SqlDownloadRequests
    items: SqlCatalogueItems
    accounts: SqlAccountStore
    item: CatalogueItem
    # One entry per on_enqueue call.
    enqueued: list[None] = field(default_factory=list)

    async def account(self) -> int:
        email = f"user{next(_emails)}-{uuid.uuid4().hex[:6]}@example.org"
        return (await self.accounts.insert(email, AccountType.RESEARCHER, _now())).id

    async def new_item(self) -> CatalogueItem:
        return await self.items.insert(
            NewCatalogueItem(
                name=f"item-{uuid.uuid4().hex[:8]}",
                executor_type=ExecutorType.DUCKDB,
                spec=COLUMNS,
                sample=[],
                maintained_by_id=None,
                created_by_id=None,
                updated_by_id=None,
            )
        )


@pytest.fixture
async def world(migrated_engine: AsyncEngine) -> AsyncIterator[World]:
    sessions = session_factory(migrated_engine)
    enqueued: list[None] = []
    items = SqlCatalogueItems(sessions)
    world = World(
        engine=migrated_engine,
        requests=SqlDownloadRequests(sessions, on_enqueue=lambda: enqueued.append(None)),
        items=items,
        accounts=SqlAccountStore(sessions),
        item=await _insert_item(items),
        enqueued=enqueued,
    )
    yield world


def a_request(item_id: int, creator: int, body: dict[str, Any] | None = None) -> NewDownloadRequest:
    spec = parse_spec(body or {"columns": ["id", "code"]}, COLUMNS)
    return _new(item_id, creator, spec)


# The port ------------------------------------------------------------------------------------


def test_the_sql_adapter_implements_the_port(world: World) -> None:
    port: DownloadRequests = world.requests
    assert port is world.requests


async def test_a_new_request_reads_back_as_created_and_queues_its_job(world: World) -> None:
    creator = await world.account()
    new = a_request(world.item.id, creator)

    request, created = await world.requests.create_or_join(new, creator, then=[RUN])

    assert created
    assert request.status is RequestStatus.PENDING
    assert (request.catalogue_item_id, request.created_by_id) == (world.item.id, creator)
    assert (request.spec, request.dedupe_key, request.seed) == (new.spec, new.dedupe_key, new.seed)
    assert request.revision and request.created_at == request.updated_at
    assert await world.requests.get(request.id) == request
    assert await world.requests.is_waiter(request.id, creator)
    # The job learns its request's id, which nobody knew before the insert.
    assert await jobs(world) == [(RUN_EXTRACT_JOB, {"request_id": str(request.id)})]
    assert len(world.enqueued) == 1


async def test_a_second_account_joins_the_same_request_and_both_wait(world: World) -> None:
    first, second = await world.account(), await world.account()
    created, was_created = await world.requests.create_or_join(
        a_request(world.item.id, first), first, then=[RUN]
    )

    joined, second_created = await world.requests.create_or_join(
        a_request(world.item.id, second), second, then=[RUN]
    )

    assert was_created and not second_created
    assert joined.id == created.id and joined.created_by_id == first
    assert joined.revision != created.revision
    assert await world.requests.is_waiter(created.id, first)
    assert await world.requests.is_waiter(created.id, second)
    assert await waiters(world, created.id) == sorted([first, second])
    assert len(await jobs(world)) == 1 and len(world.enqueued) == 1


async def test_joining_twice_adds_the_waiter_once(world: World) -> None:
    creator = await world.account()
    request, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[RUN]
    )

    again, created = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[RUN]
    )

    assert not created and again.id == request.id
    assert await waiters(world, request.id) == [creator]


async def test_values_of_another_type_make_another_request(world: World) -> None:
    creator = await world.account()
    body = {"columns": ["id"], "filters": [{"name": "code", "operator": "=", "value": "1"}]}
    as_text = parse_spec(body, COLUMNS)
    as_number = replace(as_text, filters=(replace(as_text.filters[0], value=1),))
    as_boolean = replace(as_text, filters=(replace(as_text.filters[0], value=True),))
    keys = {dedupe_key(world.item.id, s) for s in (as_text, as_number, as_boolean)}
    assert len(keys) == 3

    ids = set()
    for spec in (as_text, as_number, as_boolean):
        request, created = await world.requests.create_or_join(
            _new(world.item.id, creator, spec), creator, then=[RUN]
        )
        assert created
        ids.add(request.id)

    assert len(ids) == 3
    assert len(await world.requests.waiting_for(creator)) == 3


async def test_a_request_for_a_missing_item_is_refused(world: World) -> None:
    creator = await world.account()

    with pytest.raises(ItemGone):
        await world.requests.create_or_join(
            a_request(world.item.id + 1000, creator), creator, then=[RUN]
        )

    assert await all_requests(world) == []
    assert await jobs(world) == []


async def test_missing_requests_read_as_none(world: World) -> None:
    account = await world.account()
    assert await world.requests.get(12345) is None
    assert not await world.requests.is_waiter(12345, account)
    assert await world.requests.waiting_for(account) == []


async def test_waiting_for_lists_the_accounts_requests_oldest_first(world: World) -> None:
    one, other = await world.account(), await world.account()
    first, _ = await world.requests.create_or_join(
        a_request(world.item.id, one, {"columns": ["id"]}), one, then=[]
    )
    second, _ = await world.requests.create_or_join(
        a_request(world.item.id, other, {"columns": ["code"]}), other, then=[]
    )
    await world.requests.create_or_join(
        a_request(world.item.id, other, {"columns": ["id", "code"]}), other, then=[]
    )
    await world.requests.create_or_join(
        a_request(world.item.id, one, {"columns": ["code"]}), one, then=[]
    )

    assert [r.id for r in await world.requests.waiting_for(one)] == [first.id, second.id]
    assert len(world.enqueued) == 0


# Races on creation ---------------------------------------------------------------------------


async def test_concurrent_identical_requests_end_in_one_request_with_every_caller_waiting(
    world: World,
) -> None:
    accounts = [await world.account() for _ in range(20)]

    results = await asyncio.gather(
        *(
            world.requests.create_or_join(a_request(world.item.id, a), a, then=[RUN])
            for a in accounts
        )
    )

    assert len({request.id for request, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    request_id = results[0][0].id
    assert await waiters(world, request_id) == sorted(accounts)
    assert await jobs(world) == [(RUN_EXTRACT_JOB, {"request_id": str(request_id)})]
    assert len(world.enqueued) == 1
    assert len(await all_requests(world)) == 1
    await assert_invariants(world)


async def test_a_create_racing_a_failing_request_joins_it_or_makes_a_new_one(
    world: World,
) -> None:
    for turn in range(ROUNDS):
        first, second = await world.account(), await world.account()
        body = {"columns": ["id"], "randomize_ratio": 0.5}
        existing, _ = await world.requests.create_or_join(
            a_request(world.item.id, first, body), first, then=[]
        )

        first_delay, second_delay = stagger(turn)
        failed, (joined, created) = await asyncio.gather(
            after(first_delay, world.requests.move(existing, RequestStatus.FAILED, failure="no")),
            after(
                second_delay,
                world.requests.create_or_join(
                    a_request(world.item.id, second, body), second, then=[]
                ),
            ),
        )

        assert failed is not None and failed.status is RequestStatus.FAILED
        assert await world.requests.is_waiter(joined.id, second)
        if created:
            assert joined.id != existing.id and joined.status is RequestStatus.PENDING
        else:
            # It joined before the failure: it waits for the failed request and sees why.
            assert joined.id == existing.id
        await assert_invariants(world)
        # Whatever happened, the next identical request finds exactly one live request.
        again, _ = await world.requests.create_or_join(
            a_request(world.item.id, second, body), second, then=[]
        )
        assert again.status.is_live
        await world.requests.move(again, RequestStatus.FAILED, failure="cleared")


# Leaving -------------------------------------------------------------------------------------


async def test_leaving_a_request_one_does_not_wait_for_changes_nothing(world: World) -> None:
    creator, stranger = await world.account(), await world.account()
    request, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[RUN]
    )
    before = await jobs(world)

    clear = JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request.id)})
    assert await world.requests.leave(request.id, stranger, on_cancel=[clear]) is None
    assert await world.requests.leave(request.id + 1000, creator, on_cancel=[clear]) is None

    assert await world.requests.get(request.id) == request
    assert await waiters(world, request.id) == [creator]
    assert await jobs(world) == before


async def test_the_last_waiter_leaving_cancels_the_request_and_frees_its_key(
    world: World,
) -> None:
    first, second = await world.account(), await world.account()
    request, _ = await world.requests.create_or_join(
        a_request(world.item.id, first), first, then=[RUN]
    )
    await world.requests.create_or_join(a_request(world.item.id, second), second, then=[RUN])
    clear = JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request.id)})

    assert await world.requests.leave(request.id, first, on_cancel=[clear]) is Left.LEFT
    assert (await world.requests.get(request.id)).status is RequestStatus.PENDING  # type: ignore[union-attr]
    assert len(await jobs(world)) == 1
    enqueued = len(world.enqueued)

    assert await world.requests.leave(request.id, second, on_cancel=[clear]) is Left.CANCELLED

    cancelled = await world.requests.get(request.id)
    assert cancelled is not None and cancelled.status is RequestStatus.CANCELLED
    assert cancelled.revision != request.revision
    assert await waiters(world, request.id) == []
    assert (await jobs(world))[-1] == (CLEAR_EXTRACT_JOB, {"request_id": str(request.id)})
    assert len(world.enqueued) == enqueued + 1
    assert await world.requests.leave(request.id, second, on_cancel=[clear]) is None
    # The live key is free: the same spec makes a new request.
    again, created = await world.requests.create_or_join(
        a_request(world.item.id, first), first, then=[RUN]
    )
    assert created and again.id != request.id
    await assert_invariants(world)


async def test_a_join_racing_the_last_leave_never_strands_a_waiter_or_a_request(
    world: World,
) -> None:
    for turn in range(ROUNDS):
        leaver, joiner = await world.account(), await world.account()
        body = {"columns": ["code"], "randomize_ratio": 0.25}
        request, _ = await world.requests.create_or_join(
            a_request(world.item.id, leaver, body), leaver, then=[]
        )
        clear = JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request.id)})
        jobs_before = len(await jobs(world))

        first_delay, second_delay = stagger(turn)
        left, (joined, created) = await asyncio.gather(
            after(first_delay, world.requests.leave(request.id, leaver, on_cancel=[clear])),
            after(
                second_delay,
                world.requests.create_or_join(
                    a_request(world.item.id, joiner, body), joiner, then=[]
                ),
            ),
        )

        await assert_invariants(world)
        assert joined.status is RequestStatus.PENDING
        assert await world.requests.is_waiter(joined.id, joiner)
        stored = await world.requests.get(request.id)
        assert stored is not None
        if left is Left.CANCELLED:
            # The leave came first: the join found no live request and made a new one.
            assert created and joined.id != request.id
            assert stored.status is RequestStatus.CANCELLED
            assert len(await jobs(world)) == jobs_before + 1
        else:
            assert left is Left.LEFT
            assert not created and joined.id == request.id
            assert stored.status is RequestStatus.PENDING
            assert len(await jobs(world)) == jobs_before
        # Clear the way for the next round.
        assert await world.requests.leave(joined.id, joiner, on_cancel=[]) is Left.CANCELLED


async def test_concurrent_leaves_of_the_last_two_waiters_cancel_once(world: World) -> None:
    for turn in range(ROUNDS):
        first, second = await world.account(), await world.account()
        body = {"columns": ["id", "code"], "randomize_ratio": 0.75}
        request, _ = await world.requests.create_or_join(
            a_request(world.item.id, first, body), first, then=[]
        )
        await world.requests.create_or_join(a_request(world.item.id, second, body), second, then=[])
        clear = JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request.id)})
        jobs_before = len(await jobs(world))

        first_delay, second_delay = stagger(turn)
        outcomes = await asyncio.gather(
            after(first_delay, world.requests.leave(request.id, first, on_cancel=[clear])),
            after(second_delay, world.requests.leave(request.id, second, on_cancel=[clear])),
        )

        assert sorted(str(o) for o in outcomes) == [Left.CANCELLED, Left.LEFT]
        assert len(await jobs(world)) == jobs_before + 1
        await assert_invariants(world)


# Moves ---------------------------------------------------------------------------------------


async def test_a_move_writes_only_against_the_status_it_read(world: World) -> None:
    creator = await world.account()
    pending, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[]
    )

    running = await world.requests.move(pending, RequestStatus.RUNNING, estimated_size=1234)

    assert running is not None and running.status is RequestStatus.RUNNING
    assert running.estimated_size == 1234 and running.updated_at >= pending.updated_at
    assert await world.requests.get(pending.id) == running
    # A second worker that read `pending` too writes nothing.
    assert await world.requests.move(pending, RequestStatus.RUNNING, executor_job_id="x") is None
    assert await world.requests.move(pending, RequestStatus.FAILED, failure="late") is None
    assert await world.requests.get(pending.id) == running

    done = await world.requests.move(
        running, RequestStatus.DONE, real_size=99, file_id=running.result_file_id
    )
    assert done is not None and done.status is RequestStatus.DONE
    assert (done.real_size, done.file_id, done.estimated_size) == (99, "extract-1", 1234)
    # Done is live: an identical request still joins it.
    joined, created = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[]
    )
    assert not created and joined.id == done.id


async def test_concurrent_moves_from_one_status_write_once(world: World) -> None:
    creator = await world.account()
    pending, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[]
    )

    moved = await asyncio.gather(
        *(world.requests.move(pending, RequestStatus.RUNNING) for _ in range(10))
    )

    assert sum(m is not None for m in moved) == 1


async def test_a_move_refuses_fields_a_request_does_not_have(world: World) -> None:
    creator = await world.account()
    pending, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[]
    )

    with pytest.raises(TypeError):
        await world.requests.move(pending, RequestStatus.RUNNING, status="done")
    with pytest.raises(TypeError):
        await world.requests.move(pending, RequestStatus.RUNNING, live_key=None)

    assert await world.requests.get(pending.id) == pending


async def test_a_failed_request_frees_its_live_key_and_keeps_its_waiters(world: World) -> None:
    creator = await world.account()
    request, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[RUN]
    )

    failed = await world.requests.move(request, RequestStatus.FAILED, failure="unreadable")

    assert failed is not None and failed.failure == "unreadable"
    assert await world.requests.is_waiter(request.id, creator)
    again, created = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[RUN]
    )
    assert created and again.id != request.id
    assert [r.id for r in await world.requests.waiting_for(creator)] == [request.id, again.id]
    # Leaving a failed request cancels nothing and queues nothing.
    before = await jobs(world)
    clear = JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request.id)})
    assert await world.requests.leave(request.id, creator, on_cancel=[clear]) is Left.LEFT
    assert await jobs(world) == before
    assert (await world.requests.get(request.id)).status is RequestStatus.FAILED  # type: ignore[union-attr]
    # An ended request never comes back to life: its live key is gone.
    with pytest.raises(ValueError):
        await world.requests.move(failed, RequestStatus.PENDING)


# The catalogue item a request holds ----------------------------------------------------------


async def test_an_item_with_a_live_request_is_kept_until_the_request_is_cancelled(
    world: World,
) -> None:
    creator = await world.account()
    request, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[]
    )

    assert await world.items.delete(world.item.id) == 1
    assert await world.items.get(world.item.id) is not None
    assert await world.items.live_download_requests(world.item.id) == 1

    assert await world.requests.leave(request.id, creator, on_cancel=[]) is Left.CANCELLED
    assert await world.items.live_download_requests(world.item.id) == 0
    assert await world.items.delete(world.item.id) == 0

    assert await world.items.get(world.item.id) is None
    assert await world.requests.get(request.id) is None  # ended requests go with their item
    assert await world.items.delete(world.item.id) == 0  # deleting it again: nothing to do


async def test_a_failed_request_does_not_keep_its_item(world: World) -> None:
    creator = await world.account()
    request, _ = await world.requests.create_or_join(
        a_request(world.item.id, creator), creator, then=[]
    )
    await world.requests.move(request, RequestStatus.FAILED, failure="no")

    assert await world.items.delete(world.item.id) == 0
    assert await world.items.get(world.item.id) is None
    assert await waiters(world, request.id) == []


async def test_a_create_racing_the_items_deletion_never_loses_a_live_request(
    world: World,
) -> None:
    for turn in range(ROUNDS):
        creator = await world.account()
        item = await world.new_item()

        async def create(item_id: int = item.id, account: int = creator) -> DownloadRequest | None:
            try:
                request, _ = await world.requests.create_or_join(
                    a_request(item_id, account), account, then=[RUN]
                )
            except ItemGone:
                return None
            return request

        first_delay, second_delay = stagger(turn)
        created, kept_by = await asyncio.gather(
            after(first_delay, create()), after(second_delay, world.items.delete(item.id))
        )

        if created is None:
            assert kept_by == 0
            assert await world.items.get(item.id) is None
        else:
            assert kept_by == 1
            assert await world.items.get(item.id) is not None
            stored = await world.requests.get(created.id)
            assert stored is not None and stored.status is RequestStatus.PENDING
        await assert_invariants(world)


# Migration 0008 on a database with requests in it --------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return Settings(database_url=request.getfixturevalue("postgres_url")).resolved_database_url
    return f"sqlite+aiosqlite:///{tmp_path / 'filedock.db'}"


async def test_migration_0008_ends_the_requests_made_before_the_downloader(
    database_url: str,
) -> None:
    await asyncio.to_thread(_upgrade, database_url, "0007")
    engine = create_engine(database_url)
    try:
        item_id, account_id = await _old_item_and_account(engine)
        old = {
            status: await _old_request(engine, item_id, account_id, status)
            for status in ("CANCELLED", "cancelled", "PENDING", "Done", "weird")
        }
        await engine.dispose()

        await asyncio.to_thread(_upgrade, database_url, "head")

        requests = SqlDownloadRequests(session_factory(engine))
        for status, request_id in old.items():
            request = await requests.get(request_id)
            assert request is not None and request.created_by_id == account_id
            assert (request.spec, request.dedupe_key, request.estimated_size) == ({}, "", None)
            assert request.updated_at == request.created_at and request.revision
            if status.lower() == "cancelled":
                assert (request.status, request.failure) == (RequestStatus.CANCELLED, None)
            else:
                assert request.status is RequestStatus.FAILED
                assert request.failure == "created before the downloader existed"
        async with engine.connect() as connection:
            live_keys = await connection.scalars(select(DownloadRequestRow.live_key))
            assert set(live_keys) == {None}
        items = SqlCatalogueItems(session_factory(engine))
        item = await items.get(item_id)
        assert item is not None and item.key_columns == ()
        # The old requests are ended: they do not keep their item.
        assert await items.live_download_requests(item_id) == 0
        await engine.dispose()

        await asyncio.to_thread(_downgrade, database_url, "0007")

        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id, status FROM download_requests"))
            statuses = {request_id: status for request_id, status in rows}
            items_left = await connection.scalar(text("SELECT count(*) FROM catalogue_items"))
        assert statuses == {request_id: "CANCELLED" for request_id in old.values()}
        assert items_left == 1
        await engine.dispose()

        await asyncio.to_thread(_upgrade, database_url, "head")
        assert await SqlDownloadRequests(session_factory(engine)).get(old["PENDING"]) is not None
    finally:
        await engine.dispose()


async def test_migration_0008_downgrade_keeps_live_requests_live(database_url: str) -> None:
    await asyncio.to_thread(_upgrade, database_url, "head")
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        accounts, items = SqlAccountStore(sessions), SqlCatalogueItems(sessions)
        requests = SqlDownloadRequests(sessions)
        creator = (await accounts.insert("a@example.org", AccountType.RESEARCHER, _now())).id
        item = await _insert_item(items)
        live, _ = await requests.create_or_join(a_request(item.id, creator), creator, then=[])
        await engine.dispose()

        await asyncio.to_thread(_downgrade, database_url, "0007")

        async with engine.connect() as connection:
            status = await connection.scalar(
                text("SELECT status FROM download_requests WHERE id = :id"), {"id": live.id}
            )
        assert status == "PENDING"
    finally:
        await engine.dispose()


# Helpers -------------------------------------------------------------------------------------


def stagger(turn: int) -> tuple[float, float]:
    """Start delays for the two sides of a race: each side goes first every other round, the
    other a random part of a few milliseconds later, so the two transactions overlap at every
    step (started together, the first one started nearly always wins)."""
    delay = random.random() * 0.004
    return (0.0, delay) if turn % 2 else (delay, 0.0)


async def after(delay: float, awaitable: Awaitable[T]) -> T:
    await asyncio.sleep(delay)
    return await awaitable


def _now() -> datetime:
    return datetime.now(UTC)


def _new(item_id: int, creator: int, spec: ExtractSpec) -> NewDownloadRequest:
    return NewDownloadRequest(
        catalogue_item_id=item_id,
        created_by_id=creator,
        spec=render_spec(spec),
        dedupe_key=dedupe_key(item_id, spec),
    )


async def _insert_item(items: SqlCatalogueItems) -> CatalogueItem:
    return await items.insert(
        NewCatalogueItem(
            name=f"item-{uuid.uuid4().hex[:8]}",
            executor_type=ExecutorType.DUCKDB,
            spec=COLUMNS,
            sample=[],
            maintained_by_id=None,
            created_by_id=None,
            updated_by_id=None,
        )
    )


async def jobs(world: World) -> list[tuple[str, dict[str, str]]]:
    async with world.engine.connect() as connection:
        rows = await connection.execute(select(JobRow.kind, JobRow.payload).order_by(JobRow.id))
        return [(kind, dict(payload)) for kind, payload in rows]


async def waiters(world: World, request_id: int) -> list[int]:
    async with world.engine.connect() as connection:
        rows = await connection.scalars(
            select(DownloadRequestWaiterRow.account_id)
            .where(DownloadRequestWaiterRow.request_id == request_id)
            .order_by(DownloadRequestWaiterRow.account_id)
        )
        return list(rows)


async def all_requests(world: World) -> list[tuple[int, str, str | None]]:
    async with world.engine.connect() as connection:
        rows = await connection.execute(
            select(
                DownloadRequestRow.id, DownloadRequestRow.status, DownloadRequestRow.live_key
            ).order_by(DownloadRequestRow.id)
        )
        return [(r.id, r.status, r.live_key) for r in rows]


async def assert_invariants(world: World) -> None:
    """Cancelled requests have no waiter, live ones at least one and their live key."""
    async with world.engine.connect() as connection:
        counts: dict[int, int] = dict(
            (
                await connection.execute(
                    text(
                        "SELECT request_id, count(*) FROM download_request_waiters"
                        " GROUP BY request_id"
                    )
                )
            ).all()
        )
    for request_id, status, live_key in await all_requests(world):
        waiting = counts.get(request_id, 0)
        if status == RequestStatus.CANCELLED:
            assert waiting == 0 and live_key is None, (request_id, waiting)
        elif RequestStatus(status).is_live:
            assert waiting >= 1 and live_key is not None, (request_id, status, waiting)
        else:
            assert live_key is None, (request_id, status)


def _upgrade(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def _old_item_and_account(engine: AsyncEngine) -> tuple[int, int]:
    now = _now()
    async with engine.begin() as connection:
        account_id = (
            await connection.execute(
                text(
                    "INSERT INTO accounts (email, type, created_at, updated_at)"
                    " VALUES ('old@example.org', 'RESEARCHER', :now, :now) RETURNING id"
                ),
                {"now": now},
            )
        ).scalar_one()
        item_id = (
            await connection.execute(
                text(
                    "INSERT INTO catalogue_items (name, executor_type, spec, sample,"
                    " created_at, updated_at, revision)"
                    " VALUES ('old', 'DUCKDB', :spec, '[]', :now, :now, 'r0') RETURNING id"
                ),
                {"spec": json.dumps(COLUMNS), "now": now},
            )
        ).scalar_one()
    return int(item_id), int(account_id)


async def _old_request(engine: AsyncEngine, item_id: int, account_id: int, status: str) -> int:
    async with engine.begin() as connection:
        request_id = (
            await connection.execute(
                text(
                    "INSERT INTO download_requests (catalogue_item_id, account_id, status,"
                    " created_at) VALUES (:item, :account, :status, :now) RETURNING id"
                ),
                {"item": item_id, "account": account_id, "status": status, "now": _now()},
            )
        ).scalar_one()
    return int(request_id)


async def test_a_request_whose_waiters_accounts_were_removed_is_cancelled_by_the_sweep(
    world: World,
) -> None:
    gone, staying = await world.account(), await world.account()
    orphan, _ = await world.requests.create_or_join(
        a_request(world.item.id, gone), gone, then=[RUN]
    )
    other_spec = {"columns": ["code"], "filters": [], "randomize_ratio": 0.5}
    kept, _ = await world.requests.create_or_join(
        a_request(world.item.id, staying, other_spec), staying, then=[RUN]
    )

    def clear(request_id: int) -> list[JobRequest]:
        return [JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request_id)})]

    assert await world.requests.cancel_unwaited(clear) == []
    assert await world.accounts.delete(gone)
    assert await world.requests.cancel_unwaited(clear) == [orphan.id]
    ended = await world.requests.get(orphan.id)
    assert ended is not None and ended.status is RequestStatus.CANCELLED
    assert (await jobs(world))[-1] == (CLEAR_EXTRACT_JOB, {"request_id": str(orphan.id)})
    still = await world.requests.get(kept.id)
    assert still is not None and still.status is RequestStatus.PENDING
    assert await world.requests.cancel_unwaited(clear) == []
    await assert_invariants(world)
