"""Processes that start together on one fresh database all migrate it, one at a time.

`serve` migrates before it serves, so replicas started together (a deployment's rollout, a
cluster restart) run Alembic at once. Without a lock each one sees an empty database and
creates the same tables; all but one fail on PostgreSQL's catalogue (`duplicate key value
violates unique constraint "pg_type_typname_nsp_index"`, or `relation … already exists`).
SQLite fails the same way (`table files already exists`, `duplicate column name`) when
processes of one host migrate one database file at once. Real `filedock migrate` processes
are started at the same moment; every one must succeed and leave the whole schema.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from filedock.db.migrate import alembic_config
from filedock.db.models import Base
from tests.fixtures.postgres import run_in_own_loop

# Enough processes that several are inside Alembic at once (measured on 2 cores without a
# lock: 3 to 5 of 6 failed, in each of 3 runs on PostgreSQL and 3 on SQLite).
REPLICAS = 6


def test_replicas_migrating_one_fresh_postgresql_database_at_once_all_succeed(
    postgres_url: str, tmp_path: Path
) -> None:
    failures = migrate_at_once(tmp_path, postgres_url)
    assert not failures, f"{len(failures)} of {REPLICAS} failed:\n{failures[0][-3000:]}"
    assert postgresql_schema(postgres_url) == (expected_head(), expected_tables())


def test_processes_migrating_one_fresh_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    # SQLite's database is a file of one host, but on that host `serve` and an operator's
    # `filedock apikey create` (which migrates too) may well start at the same moment.
    database = tmp_path / "shared.db"
    failures = migrate_at_once(tmp_path, f"sqlite:///{database}")
    assert not failures, f"{len(failures)} of {REPLICAS} failed:\n{failures[0][-3000:]}"
    assert sqlite_schema(database) == (expected_head(), expected_tables())


def migrate_at_once(tmp_path: Path, database_url: str) -> list[str]:
    """Start REPLICAS `filedock migrate` processes together; the stderr of each that failed."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    # A file that appears when every process has been started: each waits for it before it
    # imports filedock, so their migrations begin together, not one interpreter start apart.
    go = tmp_path / "go"
    wait_then_migrate = (
        "import os, sys, time\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.005)\n"
        "sys.argv = ['filedock', 'migrate']\n"
        "from filedock.cli import main\n"
        "main()\n"
    )
    processes = []
    for replica in range(REPLICAS):
        env = {
            **base,
            # Each in a data folder of its own, as on a host of its own.
            "FILEDOCK_DATA_DIR": str(tmp_path / f"replica-{replica}"),
            "FILEDOCK_DATABASE_URL": database_url,
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", wait_then_migrate, str(go)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    go.touch()
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in processes]
    return [stderr for code, stderr in results if code != 0]


def expected_head() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()
    assert head is not None
    return head


def expected_tables() -> set[str]:
    return {*Base.metadata.tables, "alembic_version"}


def sqlite_schema(path: Path) -> tuple[str, set[str]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    assert len(versions) == 1, versions
    return versions[0][0], {row[0] for row in tables}


def postgresql_schema(url: str) -> tuple[str, set[str]]:
    import asyncpg

    async def read() -> tuple[str, set[str]]:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            versions = await connection.fetch("SELECT version_num FROM alembic_version")
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        finally:
            await connection.close()
        assert len(versions) == 1, versions
        return versions[0]["version_num"], {row["tablename"] for row in tables}

    return run_in_own_loop(read())
