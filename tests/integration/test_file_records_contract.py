"""One contract for every `FileRecords` backend: SQL on SQLite and PostgreSQL, and the in-memory
double the unit tests use (tests/unit/memory_ports.py), so a unit test cannot pass on a fake
that behaves unlike the database.

Writes are compare-and-set on `File.revision` (core/lifecycle.py); `then` jobs go in with the
write that starts them or not at all. Jobs are read back from the `jobs` table on SQL and from
`MemoryRecords.jobs` on the double.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.core.model import File, FileStatus
from filedock.db.file_records import SqlFileRecords
from filedock.db.models import JobRow
from filedock.db.session import session_factory
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken, FileRecords
from tests.integration.conftest import migrated_database
from tests.unit.memory_ports import MemoryRecords

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@dataclass
class Backend:
    records: FileRecords
    # The jobs enqueued so far, oldest first.
    queued: Callable[[], Awaitable[list[JobRequest]]]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        memory = MemoryRecords()

        async def remembered() -> list[JobRequest]:
            return list(memory.jobs)

        yield Backend(memory, remembered)
        return
    async with migrated_database(request.param, request, tmp_path) as engine:
        yield Backend(SqlFileRecords(session_factory(engine)), lambda: _job_rows(engine))


async def _job_rows(engine: AsyncEngine) -> list[JobRequest]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(JobRow.kind, JobRow.payload, JobRow.run_after).order_by(JobRow.id)
        )
        return [JobRequest(row.kind, dict(row.payload), row.run_after) for row in rows]


def a_file(n: int, **changes: Any) -> File:
    """File number `n`: created `n` minutes after T0, so files are ordered by `n`."""
    created = T0 + timedelta(minutes=n)
    file = File(
        id=f"file-{n:04d}",
        owner_realm="acme",
        owner_id=f"user-{n}",
        owner_role="user",
        storage_key=f"files/{n:04d}",
        content_type="text/plain",
        status=FileStatus.PENDING,
        created_at=created,
        updated_at=created,
        revision=f"rev-{n}-1",
    )
    return replace(file, **changes)


def a_job(name: str) -> JobRequest:
    # An explicit run_after: the SQL backends default it to the write's time, the double not.
    return JobRequest("process_file", {"file_id": name}, run_after=T0 + timedelta(days=1))


async def insert_all(records: FileRecords, *files: File) -> None:
    for file in files:
        await records.insert(file)


# Insert and get -----------------------------------------------------------------------------


async def test_inserted_record_reads_back_equal_in_every_field(backend: Backend) -> None:
    file = a_file(
        1,
        owner_realm="cosphere",
        owner_role="admin",
        status=FileStatus.READY,
        size=12_345_678_901,
        sha256="ab" * 32,
        detected_type="application/pdf",
        status_reason="checked: clean",
        filename="Résumé (final) 📄.pdf",
        persist=False,
        expires_at=T0 + timedelta(days=30, microseconds=7),
        parent_kind="schedule",
        parent_id="sched-1",
        labels={"project": "apollo", "étape": "двa"},
        updated_at=T0 + timedelta(hours=5, microseconds=1),
        revision="0123456789abcdef0123456789abcdef",
    )

    await backend.records.insert(file)

    assert await backend.records.get(file.id) == file


async def test_optional_fields_left_empty_read_back_empty(backend: Backend) -> None:
    file = a_file(1)

    await backend.records.insert(file)

    assert await backend.records.get(file.id) == file


async def test_datetimes_read_back_as_the_same_instant_in_utc(backend: Backend) -> None:
    plus_two = timezone(timedelta(hours=2))
    file = a_file(
        1,
        created_at=datetime(2024, 5, 1, 14, 0, tzinfo=plus_two),
        updated_at=datetime(2024, 5, 1, 15, 30, tzinfo=plus_two),
        expires_at=datetime(2024, 6, 1, 2, 0, tzinfo=plus_two),
    )

    await backend.records.insert(file)

    got = await backend.records.get(file.id)
    assert got is not None
    for given, read in [
        (file.created_at, got.created_at),
        (file.updated_at, got.updated_at),
        (file.expires_at, got.expires_at),
    ]:
        assert read == given
        assert read is not None and read.tzinfo is not None and read.utcoffset() == timedelta(0)


@pytest.mark.parametrize("field", ["created_at", "updated_at", "expires_at"])
async def test_a_naive_datetime_is_refused_and_nothing_is_stored(
    backend: Backend, field: str
) -> None:
    file = a_file(1, **{field: datetime(2024, 5, 1, 12, 0)})

    # The SQL backends let SQLAlchemy's StatementError (around the column's ValueError) out.
    with pytest.raises((ValueError, StatementError)):
        await backend.records.insert(file, then=[a_job("naive")])

    assert await backend.records.get(file.id) is None
    assert await backend.queued() == []


async def test_get_of_an_unknown_id_is_none(backend: Backend) -> None:
    await backend.records.insert(a_file(1))

    assert await backend.records.get("file-9999") is None


async def test_a_stored_record_does_not_change_with_the_values_given_or_returned(
    backend: Backend,
) -> None:
    file = a_file(1, labels={"a": "1"})
    await backend.records.insert(file)

    file.labels["a"] = "changed after insert"
    got = await backend.records.get(file.id)
    assert got is not None and got.labels == {"a": "1"}
    got.labels["b"] = "changed after get"

    again = await backend.records.get(file.id)
    assert again is not None and again.labels == {"a": "1"}


@pytest.mark.parametrize("with_jobs", [False, True], ids=["alone", "with-jobs"])
async def test_inserting_an_existing_id_raises_file_id_taken_and_changes_nothing(
    backend: Backend, with_jobs: bool
) -> None:
    first = a_file(1)
    await backend.records.insert(first)
    second = a_file(2, id=first.id)

    with pytest.raises(FileIdTaken):
        await backend.records.insert(second, then=[a_job("second")] if with_jobs else [])

    assert await backend.records.get(first.id) == first
    assert await backend.records.find_by_key(second.storage_key) is None
    assert await backend.queued() == []


async def test_a_storage_key_belongs_to_one_record_only(backend: Backend) -> None:
    first = a_file(1)
    await backend.records.insert(first)
    # The SQL backends refuse it on their unique index, with FileIdTaken though the id is new.
    with pytest.raises(FileIdTaken):
        await backend.records.insert(a_file(2, storage_key=first.storage_key))

    assert await backend.records.get(a_file(2).id) is None
    assert await backend.records.find_by_key(first.storage_key) == first


async def test_insert_enqueues_its_then_jobs_and_only_those(backend: Backend) -> None:
    await backend.records.insert(a_file(1))
    assert await backend.queued() == []

    await backend.records.insert(a_file(2), then=[a_job("two"), a_job("two-again")])

    assert await backend.queued() == [a_job("two"), a_job("two-again")]


# Replace and remove -------------------------------------------------------------------------


async def test_replace_writes_and_enqueues_when_the_revision_matches(backend: Backend) -> None:
    stored = a_file(1, labels={"a": "1"})
    await backend.records.insert(stored)
    new = replace(
        stored,
        status=FileStatus.UPLOADED,
        storage_key="files/moved",
        size=5,
        sha256="cd" * 32,
        labels={"b": "2"},
        updated_at=stored.updated_at + timedelta(seconds=3),
        revision="rev-1-2",
    )

    assert await backend.records.replace(stored, new, then=[a_job("one")]) is True

    assert await backend.records.get(stored.id) == new
    assert await backend.records.find_by_key("files/moved") == new
    assert await backend.records.find_by_key(stored.storage_key) is None
    assert await backend.queued() == [a_job("one")]


async def test_replace_writes_nothing_when_someone_wrote_first(backend: Backend) -> None:
    read_by_us = a_file(1)
    await backend.records.insert(read_by_us)
    theirs = replace(read_by_us, status=FileStatus.UPLOADED, revision="rev-1-theirs")
    assert await backend.records.replace(read_by_us, theirs) is True
    ours = replace(read_by_us, status=FileStatus.FAILED, revision="rev-1-ours")

    assert await backend.records.replace(read_by_us, ours, then=[a_job("ours")]) is False

    assert await backend.records.get(read_by_us.id) == theirs
    assert await backend.queued() == []


async def test_replace_never_changes_a_records_id(backend: Backend) -> None:
    first, second = a_file(1), a_file(2)
    await backend.records.insert(first)
    moved = replace(first, id=second.id, revision="rev-moved")
    with pytest.raises(ValueError):
        await backend.records.replace(first, moved)
    assert await backend.records.get(first.id) == first
    assert await backend.records.get(second.id) is None


async def test_replace_of_a_removed_record_writes_nothing(backend: Backend) -> None:
    gone = a_file(1)
    await backend.records.insert(gone)
    assert await backend.records.remove(gone) is True
    new = replace(gone, status=FileStatus.UPLOADED, revision="rev-1-2")

    assert await backend.records.replace(gone, new, then=[a_job("gone")]) is False

    assert await backend.records.get(gone.id) is None
    assert await backend.records.find_by_key(gone.storage_key) is None
    assert await backend.queued() == []


async def test_replace_after_replace_needs_the_newest_revision(backend: Backend) -> None:
    first = a_file(1)
    await backend.records.insert(first)
    second = replace(first, status=FileStatus.UPLOADED, revision="rev-1-2")
    third = replace(second, status=FileStatus.PROCESSING, revision="rev-1-3")
    assert await backend.records.replace(first, second) is True

    assert await backend.records.replace(first, third) is False
    assert await backend.records.replace(second, third) is True

    assert await backend.records.get(first.id) == third


async def test_remove_deletes_when_the_revision_matches(backend: Backend) -> None:
    doomed, kept = a_file(1), a_file(2)
    await insert_all(backend.records, doomed, kept)

    assert await backend.records.remove(doomed) is True

    assert await backend.records.get(doomed.id) is None
    assert await backend.records.find_by_key(doomed.storage_key) is None
    assert await backend.records.get(kept.id) == kept


async def test_remove_keeps_the_record_when_the_revision_differs(backend: Backend) -> None:
    read_by_us = a_file(1)
    await backend.records.insert(read_by_us)
    theirs = replace(read_by_us, status=FileStatus.UPLOADED, revision="rev-1-theirs")
    assert await backend.records.replace(read_by_us, theirs) is True

    assert await backend.records.remove(read_by_us) is False

    assert await backend.records.get(read_by_us.id) == theirs


async def test_remove_of_a_missing_record_is_false(backend: Backend) -> None:
    gone = a_file(1)
    await backend.records.insert(gone)
    assert await backend.records.remove(gone) is True

    assert await backend.records.remove(gone) is False
    assert await backend.records.remove(a_file(2)) is False


# Queries ------------------------------------------------------------------------------------


async def test_find_without_filters_returns_oldest_first_up_to_the_limit(
    backend: Backend,
) -> None:
    # Inserted out of order, with ids that sort the other way round from their age.
    files = [a_file(n, id=f"file-{9 - n}") for n in (3, 1, 4, 0, 2)]
    await insert_all(backend.records, *files)
    by_age = sorted(files, key=lambda f: f.created_at)

    assert await backend.records.find() == by_age
    assert await backend.records.find(limit=2) == by_age[:2]
    assert await backend.records.find(limit=0) == []


async def test_find_returns_at_most_100_records_by_default(backend: Backend) -> None:
    files = [a_file(n) for n in range(101)]
    # Side by side, so the SQL backends may share commits among them.
    await asyncio.gather(*(backend.records.insert(file) for file in files))

    assert await backend.records.find() == files[:100]


async def test_find_by_status(backend: Backend) -> None:
    files = [
        a_file(1, status=FileStatus.READY),
        a_file(2, status=FileStatus.PENDING),
        a_file(3, status=FileStatus.READY),
        a_file(4, status=FileStatus.FAILED),
    ]
    await insert_all(backend.records, *reversed(files))

    assert await backend.records.find(status=FileStatus.READY) == [files[0], files[2]]
    assert await backend.records.find(status=FileStatus.READY, limit=1) == [files[0]]
    assert await backend.records.find(status=FileStatus.DELETED) == []


async def test_find_expires_before_is_strict_and_skips_files_that_never_expire(
    backend: Backend,
) -> None:
    cutoff = T0 + timedelta(days=1)
    files = [
        a_file(1, expires_at=cutoff - timedelta(microseconds=1)),
        a_file(2, expires_at=cutoff),
        a_file(3, expires_at=None),
        a_file(4, expires_at=cutoff - timedelta(days=10)),
        a_file(5, expires_at=cutoff + timedelta(seconds=1)),
    ]
    await insert_all(backend.records, *files)

    assert await backend.records.find(expires_before=cutoff) == [files[0], files[3]]


async def test_find_updated_before_is_strict(backend: Backend) -> None:
    cutoff = T0 + timedelta(hours=1)
    files = [
        a_file(1, updated_at=cutoff),
        a_file(2, updated_at=cutoff - timedelta(microseconds=1)),
        a_file(3, updated_at=cutoff + timedelta(hours=1)),
        a_file(4, updated_at=T0),
    ]
    await insert_all(backend.records, *files)

    assert await backend.records.find(updated_before=cutoff) == [files[1], files[3]]


async def test_find_with_several_filters_returns_what_matches_every_one(
    backend: Backend,
) -> None:
    cutoff = T0 + timedelta(days=1)
    expired = cutoff - timedelta(hours=1)
    files = [
        a_file(1, status=FileStatus.PENDING, expires_at=expired, updated_at=T0),
        a_file(2, status=FileStatus.READY, expires_at=expired, updated_at=T0),
        a_file(3, status=FileStatus.PENDING, expires_at=cutoff, updated_at=T0),
        a_file(4, status=FileStatus.PENDING, expires_at=expired, updated_at=cutoff),
        a_file(5, status=FileStatus.PENDING, expires_at=expired, updated_at=T0),
    ]
    await insert_all(backend.records, *files)

    found = await backend.records.find(
        status=FileStatus.PENDING, expires_before=cutoff, updated_before=cutoff
    )

    assert found == [files[0], files[4]]


async def test_find_by_key(backend: Backend) -> None:
    files = [a_file(1), a_file(2)]
    await insert_all(backend.records, *files)

    assert await backend.records.find_by_key(files[1].storage_key) == files[1]
    assert await backend.records.find_by_key("files/none") is None
    assert await backend.records.find_by_key("files/") is None


async def test_find_by_parent_returns_that_parents_files_oldest_first(backend: Backend) -> None:
    files = [
        a_file(3, id="file-a", parent_kind="schedule", parent_id="s1"),
        a_file(1, id="file-b", parent_kind="schedule", parent_id="s1"),
        a_file(2, id="file-c", parent_kind="schedule", parent_id="s2"),
        a_file(4, id="file-d", parent_kind="upload", parent_id="s1"),
        a_file(5, id="file-e"),
        a_file(0, id="file-f", parent_kind="schedule", parent_id="s1"),
    ]
    await insert_all(backend.records, *files)

    assert await backend.records.find_by_parent("schedule", "s1") == [files[5], files[1], files[0]]
    assert await backend.records.find_by_parent("upload", "s1") == [files[3]]
    assert await backend.records.find_by_parent("schedule", "none") == []


async def test_page_walks_every_record_once_in_id_order(backend: Backend) -> None:
    # Ages in the opposite order to ids, so a page by age would come out wrong.
    ids = ["a", "b0", "b1", "c", "c-9", "d"]
    files = [a_file(n, id=file_id) for n, file_id in zip(range(6, 0, -1), ids, strict=True)]
    await insert_all(backend.records, *reversed(files))

    first = await backend.records.page(after_id=None, limit=4)
    second = await backend.records.page(after_id=first[-1].id, limit=4)

    assert first == files[:4]
    assert second == files[4:]
    assert await backend.records.page(after_id=second[-1].id, limit=4) == []
    # after_id need not be a record's id: the page starts after where it would sort.
    assert await backend.records.page(after_id="b", limit=2) == files[1:3]
    assert await backend.records.page(after_id=None, limit=0) == []


async def test_owned_page_walks_one_owners_files_in_id_order(backend: Backend) -> None:
    # Ages in the opposite order to ids, so a page by age would come out wrong.
    ids = ["a", "b0", "b1", "c", "d"]
    mine = [
        a_file(n, id=file_id, owner_id="ann")
        for n, file_id in zip(range(5, 0, -1), ids, strict=True)
    ]
    await insert_all(backend.records, *reversed(mine))
    every = frozenset(FileStatus)

    first = await backend.records.owned_page(
        "acme", "ann", statuses=every, after_id=None, limit=3
    )
    rest = await backend.records.owned_page(
        "acme", "ann", statuses=every, after_id=first[-1].id, limit=3
    )

    assert first == mine[:3]
    assert rest == mine[3:]


async def test_owned_page_leaves_out_other_owners_realms_and_statuses(backend: Backend) -> None:
    ann = a_file(1, id="f1", owner_id="ann")
    deleted = a_file(2, id="f2", owner_id="ann", status=FileStatus.DELETED)
    ready = a_file(3, id="f3", owner_id="ann", status=FileStatus.READY)
    bob = a_file(4, id="f4", owner_id="bob")
    elsewhere = a_file(5, id="f5", owner_id="ann", owner_realm="cognito")
    await insert_all(backend.records, ann, deleted, ready, bob, elsewhere)
    listed = frozenset(FileStatus) - {FileStatus.DELETED}

    found = await backend.records.owned_page(
        "acme", "ann", statuses=listed, after_id=None, limit=10
    )

    assert found == [ann, ready]
    only_ready = await backend.records.owned_page(
        "acme", "ann", statuses={FileStatus.READY}, after_id=None, limit=10
    )
    assert only_ready == [ready]


async def test_existing_keys_are_those_some_record_has(backend: Backend) -> None:
    files = [a_file(1), a_file(2), a_file(3)]
    await insert_all(backend.records, *files)

    asked = [files[0].storage_key, "files/none", files[2].storage_key, files[0].storage_key]

    assert await backend.records.existing_keys(asked) == {
        files[0].storage_key,
        files[2].storage_key,
    }
    assert await backend.records.existing_keys([]) == set()
    assert await backend.records.existing_keys(["files/", "files/000"]) == set()


async def test_existing_keys_answers_for_more_keys_than_one_sql_statement_holds(
    backend: Backend,
) -> None:
    # The SQL backends ask at most 900 keys a statement; hits on both sides of each boundary.
    hits = [0, 899, 900, 1799, 1800, 2099]
    await insert_all(backend.records, *(a_file(n) for n in hits))
    asked = [f"files/{n:04d}" for n in range(2100)]

    assert await backend.records.existing_keys(asked) == {f"files/{n:04d}" for n in hits}


async def test_check_passes_on_a_working_backend(backend: Backend) -> None:
    await backend.records.check()
