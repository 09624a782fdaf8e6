"""One transaction as one function, run beside the database connection.

Through SQLAlchemy's async layer over aiosqlite every step of a transaction (execute, fetch,
commit, the pool's rollback on return) is a hop from the event loop to the thread that owns
SQLite's connection and back; a file record's compare-and-set move took four of them, about
550 µs of CPU, most of it waking threads (measured; docs/benchmarks.md). `Transactions.run`
checks the one connection out, then runs `work`, plain SQLAlchemy Core on a synchronous
`Connection`, inside that thread in one hop, begin to commit: about 350 µs.

On PostgreSQL `work` runs under `AsyncConnection.run_sync`: its statements go through asyncpg
as before, and the transaction is the same.

aiosqlite has no public way to run a function in its thread: `Connection._execute` and
`Connection._conn` are its internal API (unchanged from 0.17 to 0.22, the version pinned in
constraints.txt). Where they are missing, `work` runs under `run_sync` as on PostgreSQL
(slower, the same result), and tests/integration/test_transactions.py fails, so an upgrade
that removed them is noticed rather than silently slower.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

T = TypeVar("T")


class Transactions:
    """Runs functions of a `Connection` as one transaction each (committed when the function
    returns, rolled back when it raises)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._beside_sqlite = engine.dialect.driver == "aiosqlite"
        # The synchronous engine over the connection aiosqlite holds: built once per connection
        # (the pool keeps one; a new one only after it was invalidated).
        self._sync: tuple[sqlite3.Connection, Engine] | None = None

    async def run(self, work: Callable[[Connection], T]) -> T:
        if self._beside_sqlite:
            async with self._engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                run_in_its_thread = getattr(driver, "_execute", None)
                if run_in_its_thread is not None and hasattr(driver, "_conn"):
                    result: T = await run_in_its_thread(self._in_sqlite_thread, driver, work)
                    return result
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    @property
    def one_hop(self) -> bool:
        """True when work runs in SQLite's thread in one hop (for tests and diagnostics)."""
        return self._beside_sqlite

    def _in_sqlite_thread(self, driver: Any, work: Callable[[Connection], T]) -> T:
        raw: sqlite3.Connection = driver._conn
        if self._sync is None or self._sync[0] is not raw:
            # The aiosqlite engine's connect hook already tuned this connection (WAL, busy
            # timeout, foreign keys); this engine only wraps it, never opens another.
            engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
            self._sync = (raw, engine)
        with self._sync[1].begin() as connection:
            return work(connection)
