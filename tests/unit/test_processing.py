from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from filedock.core.errors import Unavailable
from filedock.core.files import FileService
from filedock.core.model import FileStatus
from filedock.core.principal import Principal
from filedock.core.processing import FileProcessor
from tests.unit.memory_ports import MemoryRecords, MemoryScanner, MemoryStore

ALICE = Principal("bearer", "alice", "user")


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
def ports() -> tuple[MemoryRecords, MemoryStore]:
    return MemoryRecords(), MemoryStore()


async def uploaded(ports: tuple[MemoryRecords, MemoryStore], data: bytes = b"abc") -> str:
    records, store = ports
    file = await FileService(records, store, max_upload_bytes=100).upload(
        ALICE, "f", "text/plain", body(data)
    )
    return file.id


async def test_processing_marks_an_intact_upload_ready(
    ports: tuple[MemoryRecords, MemoryStore],
) -> None:
    records, store = ports
    await uploaded(ports)
    assert await FileProcessor(records, store, MemoryScanner()).process("f") is FileStatus.READY
    assert records.files["f"].status is FileStatus.READY


async def test_processing_twice_is_harmless(ports: tuple[MemoryRecords, MemoryStore]) -> None:
    records, store = ports
    await uploaded(ports)
    processor = FileProcessor(records, store, MemoryScanner())
    await processor.process("f")
    before = records.files["f"]
    assert await processor.process("f") is None
    assert records.files["f"] == before


async def test_missing_object_fails_the_file(ports: tuple[MemoryRecords, MemoryStore]) -> None:
    records, store = ports
    await uploaded(ports)
    store.objects.clear()
    assert await FileProcessor(records, store, MemoryScanner()).process("f") is FileStatus.FAILED
    assert records.files["f"].status_reason == "the stored object is missing"


async def test_object_that_changed_since_upload_fails_the_file(
    ports: tuple[MemoryRecords, MemoryStore],
) -> None:
    records, store = ports
    await uploaded(ports)
    key = records.files["f"].storage_key
    store.objects[key] = b"abd"
    assert await FileProcessor(records, store, MemoryScanner()).process("f") is FileStatus.FAILED


async def test_store_outage_leaves_file_processing_for_a_retry(
    ports: tuple[MemoryRecords, MemoryStore],
) -> None:
    records, store = ports
    await uploaded(ports)
    store.down = True
    with pytest.raises(Unavailable):
        await FileProcessor(records, store, MemoryScanner()).process("f")
    assert records.files["f"].status is FileStatus.PROCESSING
    store.down = False
    assert await FileProcessor(records, store, MemoryScanner()).process("f") is FileStatus.READY


async def test_pending_and_unknown_files_are_left_alone(
    ports: tuple[MemoryRecords, MemoryStore],
) -> None:
    records, store = ports
    await uploaded(ports)
    records.files["f"] = replace(records.files["f"], status=FileStatus.PENDING)
    assert await FileProcessor(records, store, MemoryScanner()).process("f") is None
    assert await FileProcessor(records, store, MemoryScanner()).process("nope") is None
