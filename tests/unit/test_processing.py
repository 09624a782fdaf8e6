from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import replace

import pytest

from filedock.core.arriving_body import ARRIVAL_DECISION_BYTES
from filedock.core.errors import Unavailable
from filedock.core.files import FileService
from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.core.processing import FileProcessor
from filedock.core.upload_policy import FORM_COMMAND_POLICY, SIGNED_URL_POLICY, UploadPolicy
from filedock.ports.scanner import ScanVerdict
from tests.unit.memory_ports import MemoryRecords, MemoryScanner, MemoryStore
from tests.unit.upload_world import new_world

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


class SmallChunkStore(MemoryStore):
    """Streams objects in 100 kB pieces, as a store whose chunks are smaller than a hash batch."""

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in super().read(key, start, end):
            for offset in range(0, len(chunk), 100_000):
                yield chunk[offset : offset + 100_000]


class FirstChunksScanner:
    """Decides after three chunks and stops reading, as clamd may."""

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanVerdict:
        seen = 0
        async for _ in chunks:
            seen += 1
            if seen == 3:
                break
        return ScanVerdict(clean=True, signature=None, scanned_bytes=300_000)


async def test_a_scanner_that_stops_early_still_leaves_the_checksum_of_every_byte() -> None:
    # The hash is taken a MiB at a time: the pieces the scanner read before it stopped are
    # hashed with the rest, not lost between the scan and the drain after it.
    records, store = MemoryRecords(), SmallChunkStore()
    data = random.Random(7).randbytes(2_500_000)
    await FileService(records, store, max_upload_bytes=len(data)).upload(
        ALICE, "f", "application/octet-stream", body(data)
    )
    status = await FileProcessor(records, store, FirstChunksScanner()).process("f")
    assert status is FileStatus.READY, records.files["f"].status_reason
    assert records.files["f"].sha256 == hashlib.sha256(data).hexdigest()
    assert records.files["f"].size == len(data)


async def test_files_processed_at_once_are_sniffed_one_after_another_on_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # libmagic serialises its calls on one instance: jobs processed at once must queue on one
    # thread, not park a pool thread each on that lock (as asyncio.to_thread did).
    from filedock.core import processing

    records, store = MemoryRecords(), MemoryStore()
    service = FileService(records, store, max_upload_bytes=100)
    for n in range(12):
        await service.upload(ALICE, f"f{n}", "text/plain", body(b"plain text %d\n" % n))
    threads: set[str] = set()
    sniff = processing.detect_type

    def recorded_sniff(head: bytes, filename: str | None) -> str:
        threads.add(threading.current_thread().name)
        return sniff(head, filename)

    monkeypatch.setattr(processing, "detect_type", recorded_sniff)
    processor = FileProcessor(records, store, MemoryScanner())
    statuses = await asyncio.gather(*(processor.process(f"f{n}") for n in range(12)))
    assert statuses == [FileStatus.READY] * 12
    assert len(threads) == 1 and threads.pop().startswith("filedock-sniffing")


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


# Empty files: S3 takes a 0-byte direct upload; processing refuses it unless its policy allows


@pytest.mark.parametrize("policy", [SIGNED_URL_POLICY, FORM_COMMAND_POLICY])
async def test_an_empty_direct_upload_is_rejected_with_its_reason(policy: UploadPolicy) -> None:
    world = new_world()
    ticket = await world.uploads.issue_upload_url(ALICE, "notes.txt", True, policy)
    world.store.objects[ticket.file.storage_key] = b""  # the client's PUT, straight to S3
    await world.uploads.status(ALICE, ticket.file.id)
    assert await world.processor.process(ticket.file.id) is FileStatus.REJECTED
    file = world.records.files[ticket.file.id]
    assert file.status_reason == "the file is empty, and this upload does not take empty files"
    assert world.store.objects == {}


async def test_an_empty_direct_upload_is_ready_where_its_policy_allows_empty_files() -> None:
    policy = replace(SIGNED_URL_POLICY, allow_empty=True)
    world = new_world(policy)
    file_id = await world.signed_upload("notes.txt", b"")
    assert await world.processor.process(file_id) is FileStatus.READY
    assert world.records.files[file_id].size == 0


# Executables: refused by signature, without a policy too; data libmagic misnames is served --


async def processed(ports: tuple[MemoryRecords, MemoryStore], declared: str, data: bytes) -> str:
    records, store = ports
    files = FileService(records, store, max_upload_bytes=len(data))
    await files.upload(ALICE, "f", declared, body(data))
    status = await FileProcessor(records, store, MemoryScanner()).process("f")
    assert status is not None
    return status.value


async def test_random_bytes_libmagic_takes_for_a_dos_program_are_served(
    ports: tuple[MemoryRecords, MemoryStore],
) -> None:
    # Encrypted backups begin so about once in a hundred; libmagic calls this one "COM".
    data = b"\xb8" + random.Random(1).randbytes(64 * 1024)
    assert await processed(ports, "application/octet-stream", data) == "ready"


async def test_the_running_python_interpreter_uploaded_as_a_pdf_is_rejected(
    ports: tuple[MemoryRecords, MemoryStore],
) -> None:
    with open(sys.executable, "rb") as program:
        data = program.read(256 * 1024)
    assert await processed(ports, "application/pdf", data) == "rejected"
    assert "not the declared application/pdf" in (ports[0].files["f"].status_reason or "")


async def test_a_script_declared_as_plain_text_is_rejected_under_a_policy_for_text() -> None:
    world = new_world()
    file_id = await world.signed_upload("notes.txt", b"#!/opt/tools/bin/runner\nstep one\n")
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    assert "text/x-script" in (world.records.files[file_id].status_reason or "")


class SwitchedOffScanner(MemoryScanner):
    """The switched-off scanner's promise: every file clean, nothing read."""

    def verdict_without_reading(self) -> ScanVerdict | None:
        return ScanVerdict(clean=True, signature=None, scanned_bytes=0)


async def arrived(data: bytes, scanner: MemoryScanner, content_type: str = "text/plain") -> File:
    """A file uploaded through a FileService that decides small bodies on arrival."""
    records, store = MemoryRecords(), MemoryStore()
    processor = FileProcessor(records, store, scanner)
    service = FileService(records, store, max_upload_bytes=1 << 20, processor=processor)
    file = await service.upload(ALICE, "f", content_type, body(data))
    assert records.files["f"] == file
    return file


async def test_a_small_clean_body_is_recorded_ready_with_its_measurements_and_no_job() -> None:
    file = await arrived(b"plain text\n", SwitchedOffScanner())
    assert file.status is FileStatus.READY
    assert (file.size, file.sha256) == (11, hashlib.sha256(b"plain text\n").hexdigest())
    assert file.detected_type == "text/plain"


async def test_a_body_the_rules_refuse_is_recorded_uploaded_for_the_job_to_decide() -> None:
    elf = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 400
    file = await arrived(elf, SwitchedOffScanner(), "text/plain")
    assert file.status is FileStatus.UPLOADED


async def test_a_scanner_that_must_read_the_bytes_leaves_the_file_to_the_job() -> None:
    file = await arrived(b"plain text\n", MemoryScanner())
    assert file.status is FileStatus.UPLOADED


async def test_a_body_over_the_arrival_limit_is_left_to_the_job() -> None:
    data = b"a" * (ARRIVAL_DECISION_BYTES + 1)
    file = await arrived(data, SwitchedOffScanner())
    assert file.status is FileStatus.UPLOADED
