"""Rules of processing and sweeping whose removal no other test would notice: each of the
three size checks, and the sweeper leaving uploads in flight alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

from filedock.core.model import FileStatus
from filedock.core.upload_policy import POLICY_LABEL, SIGNED_URL_POLICY
from tests.unit.memory_ports import MemoryStore
from tests.unit.upload_world import ALICE, World, new_world

LIMIT = SIGNED_URL_POLICY.max_bytes
CSV_LINE = b"name,size\n"


@dataclass
class CountingStore(MemoryStore):
    """Serves objects in 64 KiB chunks and counts the bytes read, like a real store streams."""

    bytes_read: int = 0

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async for whole in super().read(key, start, end):
            for offset in range(0, len(whole), 65536):
                chunk = whole[offset : offset + 65536]
                self.bytes_read += len(chunk)
                yield chunk


def counting_world() -> tuple[World, CountingStore]:
    world = new_world()
    store = CountingStore()
    for service in (world.uploads, world.processor, world.files):
        service._store = store  # type: ignore[attr-defined]
    world.processor._lifecycle._records = world.records  # type: ignore[attr-defined]
    world.store = store
    return world, store


def oversized() -> bytes:
    return CSV_LINE * (LIMIT // len(CSV_LINE) + 1000)


async def test_an_upload_noticed_over_the_limit_is_rejected_without_reading_a_byte() -> None:
    world, store = counting_world()
    file_id = await world.signed_upload("a.csv", oversized())  # noticed with the object's size
    assert world.records.files[file_id].size == len(oversized())
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    assert store.bytes_read == 0
    assert world.scanner.scans == 0
    assert store.objects == {}  # the landing object is removed


async def test_an_object_that_grew_after_it_was_noticed_stops_the_copy_at_the_limit() -> None:
    world, store = counting_world()
    file_id = await world.signed_upload("a.csv", CSV_LINE * 10)
    landing = world.records.files[file_id].storage_key
    store.objects[landing] = oversized()  # a second PUT to the URL, after the notice
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    assert store.bytes_read <= LIMIT + 2 * 65536  # the copy stopped at the limit
    assert world.scanner.scans == 0
    assert store.objects == {}
    assert "limit" in (world.records.files[file_id].status_reason or "")


async def test_a_private_copy_over_the_limit_is_rejected_when_processing_resumes() -> None:
    world, store = counting_world()
    file_id = await world.signed_upload("a.csv", CSV_LINE * 10)
    file = world.records.files[file_id]
    # A run copied the upload to its private key and died before deciding; the copy it left
    # is over the limit (it was written before limits were enforced while copying).
    private = f"files/{file.storage_key}"
    store.objects = {private: oversized()}
    world.records.files[file_id] = replace(
        file, storage_key=private, status=FileStatus.PROCESSING, size=None
    )
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    assert store.objects == {}
    assert world.records.files[file_id].labels[POLICY_LABEL] == "signed-url"


async def test_an_expired_temporary_file_still_in_flight_is_not_swept() -> None:
    world = new_world()
    file_id = await world.signed_upload("a.csv", CSV_LINE * 10, persist=False)
    file = world.records.files[file_id]
    assert file.expires_at is not None
    for status in (FileStatus.UPLOADED, FileStatus.PROCESSING):
        world.records.files[file_id] = replace(file, status=status)
        world.clock.now = file.expires_at + timedelta(hours=1)
        report = await world.uploads.sweep()
        assert report.expired == 0
        assert world.records.files[file_id].status is status
        assert file.storage_key in world.store.objects
    # Once it settles, it goes.
    world.records.files[file_id] = replace(file, status=FileStatus.READY)
    assert (await world.uploads.sweep()).expired == 1
    assert file_id not in world.records.files
    assert world.store.objects == {}
    assert ALICE.realm == file.owner_realm
