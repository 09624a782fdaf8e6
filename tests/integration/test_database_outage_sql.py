"""A database outage is `MetadataUnavailable`, whatever shape it takes; other errors are not.

The outages are real: PostgreSQL is reached through `pg_proxy`, which drops every connection
(`cut`) or answers as a server that is starting up does (FATAL 57P03), and the pool really
runs dry. Only the table of driver errors is built by hand, the way SQLAlchemy's asyncpg
adapter wraps them, for the shutdown codes a test cannot make the shared server send.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    PGDialect_asyncpg,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_raw_engine

from filedock.config import Settings
from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.file_records import SqlFileRecords
from filedock.db.migrate import upgrade
from filedock.db.session import create_engine, session_factory
from filedock.ports.metadata import MetadataUnavailable
from tests.fixtures.pg_proxy import PgProxy

SLEEP = "SELECT pg_sleep(2)"
_WAIT_FOR_QUERY = 5.0
_WAIT_FOR_THREAD = 5.0


@dataclass
class BehindProxy:
    """`SqlFileRecords` on a migrated PostgreSQL database reached through `proxy`."""

    proxy: PgProxy
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    records: SqlFileRecords
    direct_url: str


@pytest.fixture
async def db(pg_proxy: PgProxy, postgres_url: str) -> AsyncIterator[BehindProxy]:
    direct_url = Settings(database_url=postgres_url).resolved_database_url
    await asyncio.to_thread(upgrade, direct_url)
    engine = create_engine(pg_proxy.url_for(direct_url))
    sessions = session_factory(engine)
    yield BehindProxy(pg_proxy, engine, sessions, SqlFileRecords(sessions), direct_url)
    await engine.dispose()


async def test_every_call_while_the_database_is_cut_off_is_metadata_unavailable(
    db: BehindProxy,
) -> None:
    await db.records.check()  # a pooled connection that the cut will kill
    db.proxy.cut()
    # The first call finds its pooled connection dead; the next has no connection to reuse.
    for _ in range(2):
        with pytest.raises(MetadataUnavailable):
            await db.records.get("x")


async def test_a_connection_dropped_in_the_middle_of_a_query_is_metadata_unavailable(
    db: BehindProxy,
) -> None:
    query = asyncio.create_task(_sleep_on_the_database(db.sessions))
    await _until_running_on_the_server(db.direct_url, SLEEP)
    assert not query.done()
    db.proxy.cut()

    with pytest.raises(MetadataUnavailable) as raised:
        await query
    dropped = raised.value.__cause__
    assert isinstance(dropped, DBAPIError) and dropped.connection_invalidated


async def test_the_same_records_answer_again_once_the_database_is_back(db: BehindProxy) -> None:
    await db.records.check()
    db.proxy.cut()
    with pytest.raises(MetadataUnavailable):
        await db.records.get("x")
    db.proxy.restore()

    await db.records.check()
    assert await db.records.get("x") is None
    assert await db.records.existing_keys(["uploads/none"]) == set()


async def test_the_pool_recovers_after_a_connection_dies_mid_query(db: BehindProxy) -> None:
    query = asyncio.create_task(_sleep_on_the_database(db.sessions))
    await _until_running_on_the_server(db.direct_url, SLEEP)
    db.proxy.cut()
    with pytest.raises(MetadataUnavailable):
        await query
    db.proxy.restore()

    await db.records.check()
    async with db.sessions() as session:
        assert await session.scalar(text("SELECT 41 + 1")) == 42


async def test_a_server_that_is_starting_up_is_metadata_unavailable(db: BehindProxy) -> None:
    await db.records.check()
    db.proxy.answer_starting_up()

    with pytest.raises(MetadataUnavailable) as raised:
        await db.records.get("x")
    refused = raised.value.__cause__
    assert isinstance(refused, DBAPIError)
    assert getattr(refused.orig, "sqlstate", None) == "57P03"  # not just any failure

    db.proxy.restore()
    await db.records.check()


# How the asyncpg adapter hands SQLAlchemy each driver error: outages first, then errors that
# retrying would not fix.
OUTAGES = [
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CrashShutdownError("terminating connection due to crash of another"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    ),
    asyncpg.exceptions.ConnectionFailureError("could not receive data from client"),
    asyncpg.exceptions.ClientCannotConnectError("could not connect"),
]
NOT_OUTAGES = [
    asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.exceptions.UndefinedColumnError("column files.nope does not exist"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress"),
]


@pytest.mark.parametrize("driver_error", OUTAGES, ids=lambda e: type(e).__name__)
def test_driver_errors_that_mean_the_server_is_unreachable_are_metadata_unavailable(
    driver_error: Exception,
) -> None:
    wrapped = as_sqlalchemy_raises_it(driver_error)
    assert not wrapped.connection_invalidated  # classified by the driver's error alone
    with pytest.raises(MetadataUnavailable), unavailable_on_connection_errors():
        raise wrapped


@pytest.mark.parametrize("driver_error", NOT_OUTAGES, ids=lambda e: type(e).__name__)
def test_other_driver_errors_pass_through_unchanged(driver_error: Exception) -> None:
    wrapped = as_sqlalchemy_raises_it(driver_error)
    with pytest.raises(DBAPIError) as raised, unavailable_on_connection_errors():
        raise wrapped
    assert raised.value is wrapped


async def test_a_broken_constraint_is_an_integrity_error_not_an_outage(
    db: BehindProxy,
) -> None:
    with pytest.raises(IntegrityError), unavailable_on_connection_errors():
        async with db.sessions.begin() as session:
            await session.execute(text("CREATE TEMPORARY TABLE once (id int PRIMARY KEY)"))
            await session.execute(text("INSERT INTO once VALUES (1)"))
            await session.execute(text("INSERT INTO once VALUES (1)"))


async def test_a_bad_statement_is_a_programming_error_not_an_outage(db: BehindProxy) -> None:
    with pytest.raises(ProgrammingError), unavailable_on_connection_errors():
        async with db.sessions() as session:
            await session.execute(text("SELECT no_such_column FROM files"))


async def test_a_pool_that_stays_busy_past_its_timeout_is_metadata_unavailable(
    postgres_url: str,
) -> None:
    url = Settings(database_url=postgres_url).resolved_database_url
    engine = create_raw_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with engine.connect():
            with pytest.raises(MetadataUnavailable), unavailable_on_connection_errors():
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()


async def test_a_sqlite_file_that_cannot_be_opened_is_metadata_unavailable(
    tmp_path: Path,
) -> None:
    threads_before = set(threading.enumerate())
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'filedock.db'}")
    try:
        with pytest.raises(MetadataUnavailable), unavailable_on_connection_errors():
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
        # aiosqlite (0.22) stops the thread of a connection that failed to open without
        # waiting for it; were this test's loop closed first, the thread would die on it.
        for thread in set(threading.enumerate()) - threads_before:
            await asyncio.to_thread(thread.join, _WAIT_FOR_THREAD)


async def test_a_missing_sqlite_table_is_not_an_outage(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'filedock.db'}")
    try:
        with pytest.raises(OperationalError), unavailable_on_connection_errors():
            async with engine.connect() as connection:
                await connection.execute(text("SELECT * FROM no_such_table"))
    finally:
        await engine.dispose()


def test_a_sqlite_disk_io_error_is_metadata_unavailable() -> None:
    # SQLite cannot be made to fail its disk here; this is the error it raises when it does.
    driver_error = sqlite3.OperationalError("disk I/O error")
    driver_error.sqlite_errorcode = 10 | (2 << 8)  # SQLITE_IOERR_SHORT_READ
    with pytest.raises(MetadataUnavailable), unavailable_on_connection_errors():
        raise OperationalError("SELECT 1", None, driver_error)


def as_sqlalchemy_raises_it(driver_error: Exception) -> DBAPIError:
    """`driver_error` as the asyncpg adapter translates it and SQLAlchemy then wraps it."""
    dbapi = PGDialect_asyncpg.import_dbapi()
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, driver_error)
    except dbapi.Error as adapted:
        return DBAPIError.instance(None, None, adapted, dbapi.Error)
    raise AssertionError(f"the adapter did not translate {driver_error!r}")


async def _sleep_on_the_database(sessions: async_sessionmaker[AsyncSession]) -> None:
    with unavailable_on_connection_errors():
        async with sessions() as session:
            await session.execute(text(SLEEP))


async def _until_running_on_the_server(direct_url: str, statement: str) -> None:
    """Wait until `statement` is executing on the server (seen past the proxy)."""
    connection = await asyncpg.connect(direct_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        deadline = time.monotonic() + _WAIT_FOR_QUERY
        while time.monotonic() < deadline:
            running = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1",
                statement,
            )
            if running:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{statement!r} did not start within {_WAIT_FOR_QUERY} s")
    finally:
        await connection.close()
