"""Alembic, driven from code: `upgrade(url)` brings any database to the newest schema.

Every `serve` migrates, so replicas that start together (a rollout, a cluster restart) would
all run Alembic at once on one PostgreSQL database: each sees the same old schema, and all
but one fail creating what another just created. On PostgreSQL the upgrade therefore runs
under a session advisory lock: one replica migrates, the others wait for it, then find the
schema at head and do nothing. SQLite races the same way when processes of one host start
together (`serve` beside an operator's `filedock apikey create`, which migrates too), since
Alembic's DDL there is not one transaction; its database is a file of one host, so a file
lock beside it (`flock`) serialises them.
"""

from __future__ import annotations

import asyncio
import fcntl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url, text

from filedock.db.session import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"

MIGRATION_LOCK_KEY: Final = 0x66696C65646F636B
"""The advisory lock the upgrade holds on PostgreSQL ("filedock" in ASCII): a fixed key, so
every version of filedock on the database takes the same lock."""


def upgrade(database_url: str) -> None:
    """Migrate to head; safe to call on every start (a no-op when up to date), and from
    several processes at once."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _upgrade(database_url)
        return
    # Called from async code: the migration environment runs its own event loop, which
    # cannot nest in this thread's, so it gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_upgrade, database_url).result()


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def _upgrade(database_url: str) -> None:
    config = alembic_config(database_url)
    if database_url.startswith("postgresql"):
        asyncio.run(_upgrade_under_lock(database_url, config))
        return
    database = make_url(database_url).database
    if not database or database == ":memory:":
        command.upgrade(config, "head")
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        # Held until the file is closed, released by the kernel if this process dies.
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(config, "head")


async def _upgrade_under_lock(database_url: str, config: Config) -> None:
    engine = create_engine(database_url)
    try:
        # A connection of its own, outside any transaction: the lock is the session's, and
        # the connection must not sit idle in a transaction while it waits or holds it.
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            try:
                # Alembic's environment runs its own event loop: in a thread, as above.
                await asyncio.to_thread(command.upgrade, config, "head")
            finally:
                # A connection back in the pool keeps its session, and so the lock, until
                # `dispose`; released here, the next replica goes on at once.
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
    finally:
        await engine.dispose()
