"""Concurrent inserts share a commit (group insert), on real SQLite and PostgreSQL.

Each caller still gets its own answer: a duplicate id fails only its own insert, a caller that
stops waiting does not take the others' rows with it, and an unreachable database is
`MetadataUnavailable` for every caller.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.core.model import File, FileStatus
from filedock.db.file_records import SqlFileRecords
from filedock.db.models import FileRow, JobRow
from filedock.db.session import create_engine, session_factory
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken, MetadataUnavailable
from tests.integration.object_store_support import unused_port


@dataclass
class Database:
    records: SqlFileRecords
    engine: AsyncEngine

    async def count_rows(self) -> int:
        async with self.engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(FileRow)) or 0)


@pytest.fixture
def database(migrated_engine: AsyncEngine) -> Database:
    return Database(SqlFileRecords(session_factory(migrated_engine)), migrated_engine)


def pending(file_id: str) -> File:
    now = datetime.now(UTC)
    return File(
        id=file_id,
        owner_realm="bearer",
        owner_id="alice",
        owner_role="user",
        storage_key=f"uploads/{file_id}",
        content_type="text/csv",
        status=FileStatus.PENDING,
        created_at=now,
        updated_at=now,
        labels={"upload_policy": "signed-url"},
    )


async def test_many_concurrent_inserts_are_all_committed_and_readable(
    database: Database,
) -> None:
    records = database.records
    ids = [f"file-{n:03}" for n in range(150)]  # more than one batch
    await asyncio.gather(*(records.insert(pending(file_id)) for file_id in ids))
    assert await database.count_rows() == 150
    stored = await records.get("file-149")
    assert stored is not None and stored.labels == {"upload_policy": "signed-url"}
    assert stored.status is FileStatus.PENDING and stored.storage_key == "uploads/file-149"


async def test_a_duplicate_in_a_batch_fails_only_its_own_insert(database: Database) -> None:
    records = database.records
    await records.insert(pending("taken"))
    attempts = [pending(f"new-{n}") for n in range(10)]
    attempts.insert(5, pending("taken"))
    outcomes = await asyncio.gather(*(records.insert(f) for f in attempts), return_exceptions=True)
    failed = [f.id for f, outcome in zip(attempts, outcomes, strict=True) if outcome is not None]
    assert failed == ["taken"]
    assert isinstance(outcomes[5], FileIdTaken)
    assert await database.count_rows() == 11


async def test_a_caller_that_stops_waiting_leaves_the_others_rows_committed(
    database: Database,
) -> None:
    records = database.records
    tasks = [asyncio.create_task(records.insert(pending(f"row-{n}"))) for n in range(20)]
    await asyncio.sleep(0)  # every insert is queued
    tasks[3].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(outcome is None for n, outcome in enumerate(outcomes) if n != 3)
    assert await records.get("row-19") is not None
    # The cancelled caller's row was already in a transaction or is written after; either
    # way nothing else was lost and the table holds no partial batch.
    assert await database.count_rows() in (19, 20)


async def test_an_unreachable_database_fails_every_waiting_insert_cleanly() -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/none")
    records = SqlFileRecords(session_factory(engine))
    try:
        outcomes = await asyncio.gather(
            *(records.insert(pending(f"lost-{n}")) for n in range(5)), return_exceptions=True
        )
    finally:
        await engine.dispose()
    assert all(isinstance(outcome, MetadataUnavailable) for outcome in outcomes)


def job(file_id: str) -> JobRequest:
    return JobRequest("process_file", {"file_id": file_id})


async def test_an_uploaded_files_job_commits_with_it_and_a_refused_rows_job_never_does(
    database: Database,
) -> None:
    # Uploads insert their record and its processing job through the shared commit.
    records = database.records
    await records.insert(pending("taken"))
    attempts = [pending(f"up-{n}") for n in range(6)] + [pending("taken")]
    inserts = [records.insert(f, then=[job(f.id)]) for f in attempts]
    outcomes = await asyncio.gather(*inserts, return_exceptions=True)
    assert isinstance(outcomes[-1], FileIdTaken) and outcomes[:-1] == [None] * 6
    async with database.engine.connect() as connection:
        jobs = (await connection.execute(select(JobRow.kind, JobRow.payload, JobRow.status))).all()
    assert sorted(payload["file_id"] for _, payload, _ in jobs) == [f"up-{n}" for n in range(6)]
    assert {(kind, status) for kind, _, status in jobs} == {("process_file", "queued")}
