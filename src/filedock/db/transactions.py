"""One transaction as one function, run beside the database connection.

Through SQLAlchemy's async layer over aiosqlite every step of a transaction (execute, fetch,
commit, the pool's rollback on return) is a hop from the event loop to the thread that owns
SQLite's connection and back; a file record's compare-and-set move took four of them, about
550 µs of CPU, most of it waking threads (measured; docs/benchmarks.md). `Transactions.run`
takes `work`, plain SQLAlchemy Core on a synchronous `Connection`, and on SQLite runs it
inside that thread. SQLite has one connection per process (db/session.py), so the works of
concurrent callers run one after another anyway: those waiting meanwhile run together, in
one hop and one transaction (group commit, as db/group_insert.py does for rows). Each caller
still gets its own work's result or error: when a batch fails, its works run again one by
one, each in a transaction of its own, so only the failing work's caller sees the error.

On PostgreSQL each `work` runs in its own transaction under `AsyncConnection.run_sync`: its
statements go through asyncpg as before, on as many pooled connections as there are callers.

aiosqlite has no public way to run a function in its thread: `Connection._execute` and
`Connection._conn` are its internal API (unchanged from 0.17 to 0.22, the version pinned in
constraints.txt). Where they are missing, work runs under `run_sync` as on PostgreSQL
(slower, the same result), and tests/integration/test_transactions.py fails, so an upgrade
that removed them is noticed rather than silently slower.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from filedock.db.group_commit import GroupCommit

T = TypeVar("T")
# Works one SQLite transaction carries at most, so that one batch never holds the writer long.
MAX_BATCH = 64


class Transactions:
    """Runs functions of a `Connection` as transactions (committed when the function returns,
    rolled back when it raises); on SQLite, concurrent ones share a hop and a commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._beside_sqlite = engine.dialect.driver == "aiosqlite"
        # The synchronous engine over the connection aiosqlite holds: built once per connection
        # (the pool keeps one; a new one only after it was invalidated).
        self._sync: tuple[sqlite3.Connection, Engine] | None = None
        self._batches: GroupCommit[Callable[[Connection], Any], Any] = GroupCommit(
            self._run_together, max_batch=MAX_BATCH, name="filedock-transactions"
        )

    async def run(self, work: Callable[[Connection], T]) -> T:
        if not self._beside_sqlite:
            async with self._engine.begin() as connection:
                return await connection.run_sync(work)
        result: T = await self._batches.run(work)
        return result

    @property
    def one_hop(self) -> bool:
        """True when work runs in SQLite's thread (for tests and diagnostics)."""
        return self._beside_sqlite

    async def _run_together(self, works: Sequence[Callable[[Connection], Any]]) -> list[Any]:
        return await self._in_one_transaction(lambda c: [work(c) for work in works])

    async def _in_one_transaction(self, work: Callable[[Connection], T]) -> T:
        async with self._engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            run_in_its_thread = getattr(driver, "_execute", None)
            if run_in_its_thread is not None and hasattr(driver, "_conn"):
                result: T = await run_in_its_thread(self._in_sqlite_thread, driver, work)
                return result
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    def _in_sqlite_thread(self, driver: Any, work: Callable[[Connection], T]) -> T:
        raw: sqlite3.Connection = driver._conn
        if self._sync is None or self._sync[0] is not raw:
            # The aiosqlite engine's connect hook already tuned this connection (WAL, busy
            # timeout, foreign keys); this engine only wraps it, never opens another.
            engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
            self._sync = (raw, engine)
        with self._sync[1].begin() as connection:
            return work(connection)

