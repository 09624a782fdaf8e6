"""SQLite's one pooled connection is rolled back on its return only when it holds a transaction
(db/session.py).

SQLAlchemy's default rolls back every connection checked in; on aiosqlite that is a hop to the
connection's thread and back each time, even with nothing to roll back (counted: a 1 KB
upload served alone made two hops, now one). What must stay true is what the
reset is for: whatever a returned connection left uncommitted never reaches the next user.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.db.session import create_engine


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'filedock.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (note TEXT)"))
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_connection_returned_inside_a_transaction_is_rolled_back(
    sqlite_engine: AsyncEngine,
) -> None:
    async with sqlite_engine.connect() as connection:
        # Written through the driver, below SQLAlchemy's own transaction bookkeeping: only the
        # pool's reset on return can undo it.
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.execute("INSERT INTO notes (note) VALUES ('uncommitted')")
        assert driver.in_transaction
    async with sqlite_engine.connect() as connection:
        notes = await connection.scalar(text("SELECT count(*) FROM notes"))
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        assert not driver.in_transaction
    assert notes == 0


async def test_a_connection_returned_outside_a_transaction_goes_back_without_a_hop(
    sqlite_engine: AsyncEngine,
) -> None:
    async with sqlite_engine.connect() as connection:
        await connection.scalar(text("SELECT 1"))
        await connection.commit()
        driver = (await connection.get_raw_connection()).driver_connection
        hops = _count_hops(driver)
    assert hops == []  # nothing was sent to the connection's thread on the way back


async def test_a_session_that_wrote_and_failed_leaves_nothing_for_the_next(
    sqlite_engine: AsyncEngine,
) -> None:
    with pytest.raises(RuntimeError):
        async with sqlite_engine.connect() as connection:
            await connection.execute(text("INSERT INTO notes (note) VALUES ('half')"))
            raise RuntimeError("the request failed before its commit")
    async with sqlite_engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM notes")) == 0


def _count_hops(driver: Any) -> list[str]:
    """Record, from now on, each function aiosqlite sends to its thread."""
    hops: list[str] = []
    send: Callable[..., Any] = driver._execute

    async def counted(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(function, "__name__", repr(function)))
        return await send(function, *args, **kwargs)

    driver._execute = counted
    return hops
