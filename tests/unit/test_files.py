from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from filedock.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    NotReady,
    TooLarge,
    Unavailable,
)
from filedock.core.files import (
    EARLY_ID_CHECK_BYTES,
    PROCESS_FILE_JOB,
    FileService,
    is_active_content,
)
from filedock.core.model import FileStatus
from filedock.core.principal import Principal
from filedock.core.processing import FileProcessor
from filedock.ports.metadata import MetadataUnavailable
from tests.unit.fake_time import FakeTime
from tests.unit.memory_ports import MemoryRecords, MemoryScanner, MemoryStore

ALICE = Principal("bearer", "alice", "user")
BOB = Principal("bearer", "bob", "user")
ADMIN = Principal("bearer", "root", "admin")


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def files(records: MemoryRecords, store: MemoryStore) -> FileService:
    # A read of a file on its way waits on a fake clock: it costs no real time here.
    return FileService(records, store, max_upload_bytes=10, read_wait=FakeTime().read_wait())


async def test_upload_records_size_and_sha256_and_queues_processing(
    files: FileService, records: MemoryRecords, store: MemoryStore
) -> None:
    file = await files.upload(ALICE, "a1", "image/png", body(b"png", b"data"))
    assert file.status is FileStatus.UPLOADED
    assert (file.size, file.sha256) == (7, hashlib.sha256(b"pngdata").hexdigest())
    assert store.objects[file.storage_key] == b"pngdata"
    assert [(job.kind, dict(job.payload)) for job in records.jobs] == [
        (PROCESS_FILE_JOB, {"file_id": "a1"})
    ]


async def test_storage_key_never_comes_from_the_client_id(files: FileService) -> None:
    file = await files.upload(ALICE, "report.pdf", "application/pdf", body(b"x"))
    assert "report" not in file.storage_key
    assert file.storage_key.startswith("files/")


@pytest.mark.parametrize(
    "file_id", ["", "..", "a..b", "a/b", "/etc", ".hidden", "a\\b", "a b", "x" * 129, "é"]
)
async def test_unsafe_ids_are_refused_and_store_nothing(
    files: FileService, store: MemoryStore, records: MemoryRecords, file_id: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await files.upload(ALICE, file_id, "text/plain", body(b"x"))
    assert refused.value.first_field == "file_id"
    assert store.objects == {} and records.files == {}


@pytest.mark.parametrize("content_type", [None, "", "   ", "png", "image/", "a/b; =x", "x/y\r\nz"])
async def test_missing_or_malformed_content_type_is_refused(
    files: FileService, store: MemoryStore, content_type: str | None
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await files.upload(ALICE, "f", content_type, body(b"x"))
    assert refused.value.first_field == "content-type"
    assert store.objects == {}


async def test_empty_body_is_refused_and_stores_nothing(
    files: FileService, store: MemoryStore, records: MemoryRecords
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await files.upload(ALICE, "f", "text/plain", body(b"", b""))
    assert refused.value.first_field == "body"
    assert store.objects == {} and records.files == {}


async def test_body_over_limit_is_refused_and_leaves_no_record(
    files: FileService, store: MemoryStore, records: MemoryRecords
) -> None:
    with pytest.raises(TooLarge):
        await files.upload(ALICE, "f", "text/plain", body(b"123456", b"78901"))
    assert store.objects == {} and records.files == {}


async def test_declared_length_over_limit_is_refused_before_reading(files: FileService) -> None:
    async def never_read() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""

    with pytest.raises(TooLarge):
        await files.upload(ALICE, "f", "text/plain", never_read(), declared_length=11)


async def test_existing_id_is_a_conflict_and_keeps_the_first_file(
    files: FileService, store: MemoryStore
) -> None:
    first = await files.upload(ALICE, "f", "text/plain", body(b"first"))
    with pytest.raises(Conflict):
        await files.upload(BOB, "f", "text/plain", body(b"second"))
    assert store.objects == {first.storage_key: b"first"}


async def test_a_small_upload_to_a_taken_id_is_refused_by_the_insert_and_leaves_no_object(
    files: FileService, store: MemoryStore, records: MemoryRecords
) -> None:
    first = await files.upload(ALICE, "f", "text/plain", body(b"first"), declared_length=5)
    reads: list[str] = []
    get = records.get

    async def counted_get(file_id: str) -> Any:
        reads.append(file_id)
        return await get(file_id)

    records.get = counted_get  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        await files.upload(BOB, "f", "text/plain", body(b"second"), declared_length=6)
    # No read of the record first: the insert alone decides, one round trip less.
    assert reads == []
    assert store.objects == {first.storage_key: b"first"}


async def test_a_large_upload_to_a_taken_id_is_refused_before_its_body_is_read(
    records: MemoryRecords, store: MemoryStore
) -> None:
    files = FileService(records, store, max_upload_bytes=10 * EARLY_ID_CHECK_BYTES)
    await files.upload(ALICE, "f", "text/plain", body(b"first"))

    async def never_read() -> AsyncIterator[bytes]:
        yield b"x"  # the first chunk is read to refuse an empty body; no more may be
        raise AssertionError("a large body for a taken id must not be stored")

    with pytest.raises(Conflict):
        await files.upload(
            BOB, "f", "text/plain", never_read(), declared_length=EARLY_ID_CHECK_BYTES + 1
        )


async def test_an_upload_cancelled_while_its_record_is_inserted_keeps_its_object(
    files: FileService, store: MemoryStore, records: MemoryRecords
) -> None:
    # Concurrent inserts commit in a transaction of their own, which a cancel does not stop:
    # the object must stay, or the record could name bytes that are gone. One that no record
    # names is the reconciler's to remove.
    inserting, release = asyncio.Event(), asyncio.Event()
    insert = records.insert

    async def slow_insert(*args: Any, **kwargs: Any) -> None:
        inserting.set()
        await release.wait()
        await insert(*args, **kwargs)

    records.insert = slow_insert  # type: ignore[method-assign]
    upload = asyncio.create_task(files.upload(ALICE, "f", "text/plain", body(b"bytes")))
    await inserting.wait()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    assert list(store.objects.values()) == [b"bytes"]


async def test_an_upload_whose_commit_outcome_is_unknown_keeps_its_object(
    files: FileService, store: MemoryStore, records: MemoryRecords
) -> None:
    # The record committed, then the connection broke before the answer: the caller sees an
    # outage, and the bytes the record names must still be there.
    insert = records.insert

    async def committed_then_lost(*args: Any, **kwargs: Any) -> None:
        await insert(*args, **kwargs)
        raise MetadataUnavailable("connection lost after COMMIT")

    records.insert = committed_then_lost  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        await files.upload(ALICE, "f", "text/plain", body(b"bytes"))
    recorded = await records.get("f")
    assert recorded is not None
    assert store.objects == {recorded.storage_key: b"bytes"}


async def test_only_owner_or_admin_may_read_or_delete(files: FileService) -> None:
    await files.upload(ALICE, "f", "text/plain", body(b"x"))
    with pytest.raises(Forbidden):
        await files.describe(BOB, "f")
    with pytest.raises(Forbidden):
        await files.delete(BOB, "f")
    assert (await files.describe(ADMIN, "f")).owner_id == "alice"


async def test_file_that_is_not_ready_is_not_served(files: FileService) -> None:
    await files.upload(ALICE, "f", "text/plain", body(b"x"))
    with pytest.raises(NotReady):
        await files.open_download(ALICE, "f")


async def test_processed_file_is_served(
    files: FileService, records: MemoryRecords, store: MemoryStore
) -> None:
    await files.upload(ALICE, "f", "text/plain", body(b"hello"))
    assert await FileProcessor(records, store, MemoryScanner()).process("f") is FileStatus.READY
    download = await files.open_download(ALICE, "f")
    assert b"".join([chunk async for chunk in await download.open(1, 3)]) == b"el"


async def test_a_download_whose_object_vanished_is_not_found_when_opened(
    files: FileService, records: MemoryRecords, store: MemoryStore
) -> None:
    await files.upload(ALICE, "f", "text/plain", body(b"hello"))
    await FileProcessor(records, store, MemoryScanner()).process("f")
    download = await files.open_download(ALICE, "f")
    store.objects.clear()
    with pytest.raises(NotFound):
        await download.open()
    with pytest.raises(NotFound):
        await download.verify()


async def test_a_download_raises_a_store_outage_when_opened_not_at_its_first_byte(
    files: FileService, records: MemoryRecords, store: MemoryStore
) -> None:
    await files.upload(ALICE, "f", "text/plain", body(b"hello"))
    await FileProcessor(records, store, MemoryScanner()).process("f")
    download = await files.open_download(ALICE, "f")
    store.down = True
    with pytest.raises(Unavailable):
        await download.open(0, 2)


async def test_opening_an_empty_range_of_a_download_gives_no_bytes(
    files: FileService, records: MemoryRecords, store: MemoryStore
) -> None:
    await files.upload(ALICE, "f", "text/plain", body(b"hello"))
    await FileProcessor(records, store, MemoryScanner()).process("f")
    download = await files.open_download(ALICE, "f")
    assert [chunk async for chunk in await download.open(2, 2)] == []


async def test_delete_removes_object_and_record_and_returns_the_metadata(
    files: FileService, records: MemoryRecords, store: MemoryStore
) -> None:
    uploaded = await files.upload(ALICE, "f", "text/plain", body(b"x"))
    deleted = await files.delete(ALICE, "f")
    assert deleted.id == uploaded.id and deleted.size == 1
    assert store.objects == {} and records.files == {}
    with pytest.raises(NotFound):
        await files.describe(ALICE, "f")


@pytest.mark.parametrize(
    ("content_type", "active"),
    [
        ("text/html; charset=utf-8", True),
        ("image/svg+xml", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("text/javascript", True),
        ("image/png", False),
        ("text/plain", False),
        ("application/pdf", False),
    ],
)
def test_active_content_is_recognised(content_type: str, active: bool) -> None:
    assert is_active_content(content_type) is active
