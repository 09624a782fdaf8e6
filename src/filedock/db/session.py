"""The async engine, configured per backend once."""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from filedock.config import SettingsError
from filedock.ports.extras import installed, needs_extra


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("postgresql") and not installed("postgres"):
        # Before SQLAlchemy's own ModuleNotFoundError, which names no setting and no extra.
        raise SettingsError(
            needs_extra("FILEDOCK_DATABASE_URL: a postgresql:// database", "postgres")
        )
    if url.startswith("sqlite"):
        # One connection per process: SQLite takes one writer at a time, and writers on
        # separate connections wait in its busy handler, which sleeps in steps of up to
        # 100 ms (measured: p99 of signed-URL requests near 1 s at 16 clients). Queued on one
        # connection they wait microseconds. Transactions here are short and never nest.
        # Returned, the connection is rolled back only if it holds a transaction: SQLAlchemy's
        # default rolls back every time, a hop to aiosqlite's thread and back even with
        # nothing to undo (a 1 KB upload served alone: two hops → one; docs/benchmarks.md).
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_reset_on_return=None,
        )
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        event.listen(engine.sync_engine.pool, "reset", _roll_back_if_in_transaction)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(session: AsyncSession) -> Any:
    """The `insert` of the session's own dialect: both SQLite's and PostgreSQL's spell
    insert-if-absent (`on_conflict_do_nothing`), the generic one has no such clause.

    Imported on first use: PostgreSQL's dialect module is 2 MB of a server on SQLite that
    never needs it (on PostgreSQL the engine has loaded it already).
    """
    dialect = session.get_bind().dialect.name
    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; the busy timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _roll_back_if_in_transaction(dbapi_connection: Any, _record: Any, state: Any) -> None:
    """The pool's reset of a returned SQLite connection (`pool_reset_on_return=None` leaves it
    to this): a rollback when a transaction is open, nothing otherwise."""
    if not state.asyncio_safe or state.transaction_was_reset:
        # As SQLAlchemy's own reset: no I/O from the garbage collector (the connection is
        # discarded instead), and none after the `Connection` already rolled back.
        return
    try:
        # aiosqlite reads sqlite3's `in_transaction`, the library's autocommit flag: no I/O.
        idle = not dbapi_connection.driver_connection.in_transaction
    except ValueError:
        idle = False  # already closed: the rollback reports it, as SQLAlchemy's own reset does
    if not idle:
        dbapi_connection.rollback()
