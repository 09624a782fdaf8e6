"""The reconciler on the in-memory ports: orphaned objects and records whose object is gone."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from filedock.core.errors import Unavailable
from filedock.core.model import File, FileStatus
from filedock.core.reconcile import (
    MISSING_IDS_REPORTED,
    MISSING_OBJECT_REASON,
    Reconciler,
    ReconcileReport,
)
from filedock.observability import record_reconcile
from filedock.ports.objectstore import ObjectInfo, ObjectNotFound
from tests.unit.memory_ports import MemoryRecords, MemoryStore

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
OLD = timedelta(hours=2)


def clock() -> datetime:
    return NOW


def put(store: MemoryStore, key: str, age: timedelta = OLD) -> None:
    store.objects[key] = b"bytes"
    store.modified[key] = NOW - age


def add_record(
    records: MemoryRecords,
    file_id: str,
    status: FileStatus,
    key: str | None = None,
    *,
    age: timedelta = OLD,
) -> File:
    file = File(
        id=file_id,
        owner_realm="bearer",
        owner_id="alice",
        owner_role="user",
        storage_key=key or f"files/{file_id}",
        content_type="text/plain",
        status=status,
        created_at=NOW - age,
        updated_at=NOW - age,
    )
    records.files[file_id] = file
    return file


def reconciler(records: MemoryRecords, store: MemoryStore, **options: int) -> Reconciler:
    return Reconciler(records, store, clock=clock, **options)


# Objects without a record ---------------------------------------------------------------


async def test_orphans_older_than_the_grace_period_are_deleted_from_both_prefixes() -> None:
    records, store = MemoryRecords(), MemoryStore()
    put(store, "files/crashed-copy")
    put(store, "uploads/abandoned")
    add_record(records, "kept", FileStatus.READY, "files/kept")
    put(store, "files/kept")

    report = await reconciler(records, store).run()

    assert sorted(store.objects) == ["files/kept"]
    assert (report.orphans_removed, report.orphans_young, report.checked_objects) == (2, 0, 3)


async def test_orphan_younger_than_the_grace_period_is_kept_for_a_later_round() -> None:
    records, store = MemoryRecords(), MemoryStore()
    put(store, "files/in-flight", age=timedelta(minutes=59))

    report = await reconciler(records, store).run()

    assert "files/in-flight" in store.objects
    assert (report.orphans_removed, report.orphans_young) == (0, 1)
    later = Reconciler(records, store, clock=lambda: NOW + timedelta(minutes=2))
    assert (await later.run()).orphans_removed == 1
    assert store.objects == {}


async def test_grace_period_is_configurable() -> None:
    records, store = MemoryRecords(), MemoryStore()
    put(store, "files/x", age=timedelta(minutes=10))

    report = await Reconciler(records, store, clock=clock, orphan_grace=timedelta(minutes=5)).run()

    assert report.orphans_removed == 1 and store.objects == {}


async def test_objects_outside_the_files_and_uploads_prefixes_are_left_alone() -> None:
    records, store = MemoryRecords(), MemoryStore()
    put(store, "exports/report.csv")
    put(store, "filesystem-backup")

    report = await reconciler(records, store).run()

    assert sorted(store.objects) == ["exports/report.csv", "filesystem-backup"]
    assert report.checked_objects == 0


@dataclass
class CommitDuringCheckStore(MemoryStore):
    """A copy's record commits while the reconciler looks at the copy's object."""

    records: MemoryRecords = field(default_factory=MemoryRecords)

    async def head(self, key: str) -> ObjectInfo:
        info = await super().head(key)
        add_record(self.records, "late", FileStatus.PROCESSING, key)
        return info


async def test_orphan_whose_record_commits_before_deletion_is_kept() -> None:
    records = MemoryRecords()
    store = CommitDuringCheckStore(records=records)
    put(store, "files/copy")

    report = await reconciler(records, store).run()

    assert "files/copy" in store.objects
    assert report.orphans_removed == 0


# Records whose object is gone -------------------------------------------------------------


async def test_ready_record_whose_object_is_gone_is_marked_failed_and_kept() -> None:
    records, store = MemoryRecords(), MemoryStore()
    add_record(records, "lost", FileStatus.READY)
    add_record(records, "fine", FileStatus.READY)
    put(store, "files/fine")

    report = await reconciler(records, store).run()

    lost = records.files["lost"]
    assert lost.status is FileStatus.FAILED
    assert lost.status_reason == MISSING_OBJECT_REASON == "the stored object is missing"
    assert lost.updated_at == NOW
    assert records.files["fine"].status is FileStatus.READY
    assert report.records_missing_object == 1 and report.missing_file_ids == ["lost"]
    assert report.checked_records == 2


async def test_pending_record_without_object_is_untouched() -> None:
    records, store = MemoryRecords(), MemoryStore()
    pending = add_record(records, "p", FileStatus.PENDING, "uploads/p")

    report = await reconciler(records, store).run()

    assert records.files["p"] == pending
    assert report.records_missing_object == 0


@pytest.mark.parametrize(
    "status",
    [FileStatus.REJECTED, FileStatus.INFECTED, FileStatus.DELETED, FileStatus.FAILED],
)
async def test_record_whose_object_was_removed_on_purpose_is_untouched(
    status: FileStatus,
) -> None:
    records, store = MemoryRecords(), MemoryStore()
    refused = add_record(records, "r", status)

    report = await reconciler(records, store).run()

    assert records.files["r"] == refused
    assert report.records_missing_object == 0


@pytest.mark.parametrize("status", [FileStatus.UPLOADED, FileStatus.PROCESSING])
async def test_stalled_upload_without_object_fails_but_one_in_progress_is_left(
    status: FileStatus,
) -> None:
    records, store = MemoryRecords(), MemoryStore()
    add_record(records, "stalled", status, age=timedelta(hours=3))
    # Processing deletes refused bytes a moment before it records the refusal.
    moving = add_record(records, "moving", status, age=timedelta(seconds=1))

    report = await reconciler(records, store).run()

    assert records.files["stalled"].status is FileStatus.FAILED
    assert records.files["moving"] == moving
    assert report.missing_file_ids == ["stalled"]


@dataclass
class ProcessedDuringCheckStore(MemoryStore):
    """Processing copies the landing object to its private key while the reconciler looks."""

    records: MemoryRecords = field(default_factory=MemoryRecords)

    async def head(self, key: str) -> ObjectInfo:
        if key.startswith("uploads/"):
            file = self.records.files["u"]
            self.records.files["u"] = replace(
                file,
                storage_key="files/private",
                status=FileStatus.PROCESSING,
                updated_at=NOW,
                revision="moved",
            )
            self.objects["files/private"] = self.objects.pop(key)
            raise ObjectNotFound(key)
        return await super().head(key)


async def test_record_that_moved_on_while_checked_is_not_marked() -> None:
    records = MemoryRecords()
    store = ProcessedDuringCheckStore(records=records)
    add_record(records, "u", FileStatus.UPLOADED, "uploads/u")
    put(store, "uploads/u")

    report = await reconciler(records, store).run()

    assert records.files["u"].status is FileStatus.PROCESSING
    assert records.files["u"].storage_key == "files/private"
    assert report.records_missing_object == 0


@dataclass
class PagedRecords(MemoryRecords):
    """Counts how records are read, to show the round never reads them all at once."""

    pages: list[int] = field(default_factory=list)

    async def page(self, *, after_id: str | None, limit: int) -> list[File]:
        found = await super().page(after_id=after_id, limit=limit)
        self.pages.append(len(found))
        return found


async def test_records_and_keys_are_walked_in_pages_past_the_first() -> None:
    records, store = PagedRecords(), MemoryStore()
    for n in range(10):
        add_record(records, f"f{n:02}", FileStatus.READY)
        if n % 3:
            put(store, f"files/f{n:02}")
    for n in range(7):
        put(store, f"files/orphan{n}")

    report = await reconciler(records, store, page_size=3).run()

    assert records.pages == [3, 3, 3, 1]
    failed = sorted(i for i, f in records.files.items() if f.status is FileStatus.FAILED)
    assert failed == ["f00", "f03", "f06", "f09"]
    assert report.missing_file_ids == failed and report.records_missing_object == 4
    assert report.checked_records == 10
    assert report.orphans_removed == 7 and report.checked_objects == 13
    assert not any(key.startswith("files/orphan") for key in store.objects)


async def test_report_lists_only_the_first_missing_ids_but_counts_them_all() -> None:
    records, store = MemoryRecords(), MemoryStore()
    for n in range(MISSING_IDS_REPORTED + 5):
        add_record(records, f"f{n:03}", FileStatus.READY)

    report = await reconciler(records, store).run()

    assert report.records_missing_object == MISSING_IDS_REPORTED + 5
    assert report.missing_file_ids == [f"f{n:03}" for n in range(MISSING_IDS_REPORTED)]


async def test_a_second_round_finds_nothing_left_to_repair() -> None:
    records, store = MemoryRecords(), MemoryStore()
    put(store, "files/orphan")
    add_record(records, "lost", FileStatus.READY)
    await reconciler(records, store).run()

    again = await reconciler(records, store).run()

    assert (again.orphans_removed, again.records_missing_object) == (0, 0)
    assert again.checked_records == 1


# Writes a crash left unfinished -------------------------------------------------------------


@dataclass
class LeftoversStore(MemoryStore):
    """A store holding `leftovers` unfinished writes; notes the idle time each clean-up asks."""

    leftovers: int = 0
    asked: list[timedelta] = field(default_factory=list)

    async def remove_unfinished_writes(self, idle_for: timedelta) -> int:
        self.asked.append(idle_for)
        removed, self.leftovers = self.leftovers, 0
        return removed


async def test_a_round_removes_writes_idle_for_an_hour_and_reports_how_many() -> None:
    records, store = MemoryRecords(), LeftoversStore(leftovers=3)
    put(store, "files/orphan")

    report = await reconciler(records, store).run()

    assert (report.unfinished_removed, store.asked) == (3, [timedelta(hours=1)])
    assert report.orphans_removed == 1
    assert (await reconciler(records, store).run()).unfinished_removed == 0


async def test_idle_time_of_unfinished_writes_is_configurable() -> None:
    store = LeftoversStore(leftovers=1)

    report = await Reconciler(
        MemoryRecords(), store, clock=clock, unfinished_idle=timedelta(minutes=5)
    ).run()

    assert (report.unfinished_removed, store.asked) == (1, [timedelta(minutes=5)])


async def test_clean_after_crash_removes_only_unfinished_writes() -> None:
    records, store = MemoryRecords(), LeftoversStore(leftovers=2)
    put(store, "files/orphan")
    lost = add_record(records, "lost", FileStatus.READY)

    assert await reconciler(records, store).clean_after_crash() == 2

    assert store.asked == [timedelta(hours=1)]
    assert "files/orphan" in store.objects
    assert records.files["lost"] == lost


# Outages and metrics ------------------------------------------------------------------------


async def test_store_outage_raises_storage_unavailable_and_changes_nothing() -> None:
    records, store = MemoryRecords(), MemoryStore()
    put(store, "files/orphan")
    add_record(records, "lost", FileStatus.READY)
    files_before, objects_before = dict(records.files), dict(store.objects)
    store.down = True

    with pytest.raises(Unavailable):
        await reconciler(records, store).run()

    assert records.files == files_before
    assert store.objects == objects_before


async def test_store_outage_during_record_checks_changes_no_record() -> None:
    records, store = MemoryRecords(), MemoryStore()
    add_record(records, "lost", FileStatus.READY)
    before = dict(records.files)

    # No objects under the prefixes: the outage first shows when records are checked.
    store.down = True
    with pytest.raises(Unavailable):
        await Reconciler(records, store, clock=clock, prefixes=()).run()

    assert records.files == before


def test_record_reconcile_publishes_the_last_round() -> None:
    before = time.time()

    record_reconcile(ReconcileReport(orphans_removed=3, records_missing_object=2))

    assert REGISTRY.get_sample_value("filedock_reconcile_orphans_removed") == 3
    assert REGISTRY.get_sample_value("filedock_reconcile_records_missing_object") == 2
    stamp = REGISTRY.get_sample_value("filedock_reconcile_last_run_timestamp_seconds")
    assert stamp is not None and before <= stamp <= time.time()

    record_reconcile(ReconcileReport())
    assert REGISTRY.get_sample_value("filedock_reconcile_orphans_removed") == 0


def test_record_reconcile_publishes_the_unfinished_writes_removed() -> None:
    record_reconcile(ReconcileReport(unfinished_removed=4))

    assert REGISTRY.get_sample_value("filedock_reconcile_unfinished_removed") == 4
