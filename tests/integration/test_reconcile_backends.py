"""The reconciler on real backends: SQLite and PostgreSQL records, local disk and S3 (moto).

Objects cannot be back-dated on S3, so "older than the grace period" is reached by running
the reconciler with a clock two hours ahead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.core.model import File, FileStatus
from filedock.core.reconcile import Reconciler
from filedock.db.file_records import SqlFileRecords
from filedock.db.session import create_engine, session_factory
from filedock.ports.metadata import MetadataUnavailable
from filedock.ports.objectstore import ObjectStore
from filedock.ports.objectstore_local import LocalObjectStore
from tests.integration.object_store_support import S3_PREFIX, Backstage, chunks, unused_port


@pytest.fixture
def records(migrated_engine: AsyncEngine) -> SqlFileRecords:
    return SqlFileRecords(session_factory(migrated_engine))


def two_hours_ahead() -> datetime:
    return datetime.now(UTC) + timedelta(hours=2)


def a_file(file_id: str, status: FileStatus, key: str) -> File:
    now = datetime.now(UTC) - timedelta(hours=3)
    return File(
        id=file_id,
        owner_realm="bearer",
        owner_id="alice",
        owner_role="user",
        storage_key=key,
        content_type="text/plain",
        status=status,
        created_at=now,
        updated_at=now,
    )


async def keys(store: ObjectStore) -> list[str]:
    return sorted([key async for key in store.list_keys()])


async def test_old_orphans_are_deleted_and_recorded_objects_kept(
    records: SqlFileRecords, store: ObjectStore, backstage: Backstage
) -> None:
    for key in ("files/crashed-copy", "uploads/abandoned", "files/kept"):
        await store.write(key, chunks(b"bytes"))
    await records.insert(a_file("kept", FileStatus.READY, "files/kept"))

    report = await Reconciler(records, store, clock=two_hours_ahead).run()

    assert await keys(store) == ["files/kept"]
    # Behind the store's back too: the folder on disk, or the bucket under the store's prefix.
    assert [name.removeprefix(f"{S3_PREFIX}/") for name in backstage.objects()] == ["files/kept"]
    assert (report.orphans_removed, report.checked_objects) == (2, 3)


async def test_young_orphan_is_kept(records: SqlFileRecords, store: ObjectStore) -> None:
    await store.write("files/in-flight", chunks(b"bytes"))

    report = await Reconciler(records, store).run()

    assert await keys(store) == ["files/in-flight"]
    assert (report.orphans_removed, report.orphans_young) == (0, 1)


async def test_ready_record_whose_object_is_gone_is_marked_failed(
    records: SqlFileRecords, store: ObjectStore
) -> None:
    await records.insert(a_file("lost", FileStatus.READY, "files/lost"))
    await records.insert(a_file("fine", FileStatus.READY, "files/fine"))
    await store.write("files/fine", chunks(b"bytes"))

    report = await Reconciler(records, store).run()

    lost = await records.get("lost")
    assert lost is not None and lost.status is FileStatus.FAILED
    assert lost.status_reason == "the stored object is missing"
    fine = await records.get("fine")
    assert fine is not None and fine.status is FileStatus.READY
    assert report.missing_file_ids == ["lost"] and report.checked_records == 2


async def test_records_whose_object_may_be_absent_are_untouched(
    records: SqlFileRecords, store: ObjectStore
) -> None:
    pending = a_file("pending", FileStatus.PENDING, "uploads/pending")
    rejected = a_file("rejected", FileStatus.REJECTED, "files/rejected")
    for file in (pending, rejected):
        await records.insert(file)

    report = await Reconciler(records, store, clock=two_hours_ahead).run()

    assert await records.get("pending") == pending
    assert await records.get("rejected") == rejected
    assert report.records_missing_object == 0


async def test_records_are_paged_in_id_order_after_the_last_id(records: SqlFileRecords) -> None:
    ids = ["a1", "a2", "b1", "b2", "c1", "c2", "d1"]
    for file_id in reversed(ids):
        await records.insert(a_file(file_id, FileStatus.READY, f"files/{file_id}"))

    first = await records.page(after_id=None, limit=3)
    second = await records.page(after_id=first[-1].id, limit=3)
    last = await records.page(after_id=second[-1].id, limit=3)

    assert [[f.id for f in page] for page in (first, second, last)] == [
        ["a1", "a2", "b1"],
        ["b2", "c1", "c2"],
        ["d1"],
    ]
    assert await records.page(after_id="d1", limit=3) == []
    assert first[0] == await records.get("a1")


async def test_existing_keys_answers_for_more_keys_than_one_statement_holds(
    records: SqlFileRecords,
) -> None:
    for n in range(3):
        await records.insert(a_file(f"f{n}", FileStatus.READY, f"files/{n}"))
    asked = [f"files/{n}" for n in range(2000)]

    assert await records.existing_keys(asked) == {"files/0", "files/1", "files/2"}
    assert await records.existing_keys([]) == set()


async def test_database_outage_raises_and_deletes_no_object(tmp_path: Path) -> None:
    # A real connection refused: nothing listens on this port.
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/none")
    store = LocalObjectStore(tmp_path / "objects")
    await store.write("files/orphan", chunks(b"bytes"))
    try:
        reconciler = Reconciler(
            SqlFileRecords(session_factory(engine)), store, clock=two_hours_ahead
        )
        with pytest.raises(MetadataUnavailable):
            await reconciler.run()
    finally:
        await engine.dispose()

    assert (await store.head("files/orphan")).size == 5
