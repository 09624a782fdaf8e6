"""A transaction run as one function (db/transactions.py), on real SQLite and PostgreSQL.

It commits when the function returns and leaves nothing when it raises, on both; on SQLite it
runs in the thread that owns aiosqlite's connection, in one hop (if an aiosqlite upgrade took
away the internal call it uses, the work would run on the event loop's thread and the hop
test fails, so the slowdown is noticed).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.db.models import JobRow
from filedock.db.transactions import Transactions

JOBS = JobRow.__table__


def _job(job_id: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return dict(
        id=job_id,
        kind="process",
        payload={"file_id": str(job_id)},
        status="queued",
        attempts=0,
        run_after=now,
        created_at=now,
        updated_at=now,
    )


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(JOBS)) or 0)


async def test_work_that_returns_is_committed_and_its_result_returned(
    migrated_engine: AsyncEngine,
) -> None:
    def write(connection: Connection) -> int:
        connection.execute(insert(JOBS), [_job(1), _job(2)])
        return int(connection.scalar(select(func.count()).select_from(JOBS)) or 0)

    assert await Transactions(migrated_engine).run(write) == 2
    assert await _count(migrated_engine) == 2  # seen from another connection: committed


async def test_work_that_raises_leaves_nothing_written(migrated_engine: AsyncEngine) -> None:
    def write_then_fail(connection: Connection) -> None:
        connection.execute(insert(JOBS), [_job(1)])
        raise RuntimeError("changed its mind")

    with pytest.raises(RuntimeError, match="changed its mind"):
        await Transactions(migrated_engine).run(write_then_fail)
    assert await _count(migrated_engine) == 0


async def test_a_broken_constraint_is_sqlalchemys_integrity_error_and_rolls_back_the_rest(
    migrated_engine: AsyncEngine,
) -> None:
    transactions = Transactions(migrated_engine)
    await transactions.run(lambda connection: connection.execute(insert(JOBS), [_job(1)]))

    def write_two(connection: Connection) -> None:
        connection.execute(insert(JOBS), [_job(2)])
        connection.execute(insert(JOBS), [_job(1)])  # taken

    with pytest.raises(IntegrityError):
        await transactions.run(write_two)
    assert await _count(migrated_engine) == 1


async def test_concurrent_transactions_never_interleave(migrated_engine: AsyncEngine) -> None:
    transactions = Transactions(migrated_engine)
    seen = await asyncio.gather(*(transactions.run(_insert_pair(n * 10)) for n in range(20)))
    # Each saw its own two rows and only whole pairs of the others: never half a transaction.
    assert all(count >= 2 and count % 2 == 0 for count in seen)
    if migrated_engine.dialect.name == "sqlite":  # one connection: one after another
        assert sorted(seen) == list(range(2, 41, 2))
    assert await _count(migrated_engine) == 40


def _insert_pair(first: int) -> Callable[[Connection], int]:
    def work(connection: Connection) -> int:
        connection.execute(insert(JOBS), [_job(first + 1), _job(first + 2)])
        return int(connection.scalar(select(func.count()).select_from(JOBS)) or 0)

    return work


async def test_sqlite_work_runs_in_its_connections_thread_postgresql_on_the_loop(
    migrated_engine: AsyncEngine,
) -> None:
    transactions = Transactions(migrated_engine)
    threads = {await transactions.run(lambda _: threading.get_ident()) for _ in range(3)}
    if migrated_engine.dialect.name == "sqlite":
        assert transactions.one_hop
        assert len(threads) == 1
        assert threads != {threading.get_ident()}  # aiosqlite's thread, one hop
    else:
        assert not transactions.one_hop
        assert threads == {threading.get_ident()}  # run_sync: asyncpg under a greenlet


async def test_a_failing_work_among_concurrent_ones_fails_alone(
    migrated_engine: AsyncEngine,
) -> None:
    transactions = Transactions(migrated_engine)
    await transactions.run(lambda connection: connection.execute(insert(JOBS), [_job(5)]))

    def insert_job(job_id: int) -> Callable[[Connection], int]:
        def work(connection: Connection) -> int:
            connection.execute(insert(JOBS), [_job(job_id)])
            return job_id

        return work

    outcomes = await asyncio.gather(
        *(transactions.run(insert_job(job_id)) for job_id in (1, 5, 3)), return_exceptions=True
    )
    assert outcomes[0] == 1 and outcomes[2] == 3
    assert isinstance(outcomes[1], IntegrityError)
    assert await _count(migrated_engine) == 3


async def test_a_caller_that_stops_waiting_leaves_the_others_work_committed(
    migrated_engine: AsyncEngine,
) -> None:
    transactions = Transactions(migrated_engine)
    callers = [
        asyncio.create_task(transactions.run(_insert_pair(first))) for first in (0, 10, 20)
    ]
    await asyncio.sleep(0)
    callers[1].cancel()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert all(isinstance(result, int) for result in (results[0], results[2]))
    # The cancelled caller's work may have run with the others: 4 or 6 rows, never a half.
    assert await _count(migrated_engine) in (4, 6)
