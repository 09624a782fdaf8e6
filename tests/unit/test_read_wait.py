"""A read of a file still being processed waits for the outcome (core/read_wait.py `settled`).

Seeds 000, 001 and 004 read right after an upload. Time here is `FakeTime`: sleeping moves
its clock at once, and `on_sleep` plays what the worker does meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from filedock.core.errors import NotReady, ProcessingRefused
from filedock.core.files import FileService
from filedock.core.model import FileStatus
from filedock.core.principal import COGNITO_REALM, Principal
from filedock.core.processing import FileProcessor
from filedock.core.read_wait import Decisions, ReadWait
from filedock.core.schedules import ScheduleDocuments, ScheduleRules
from filedock.core.upload_policy import SIGNED_URL_POLICY, UploadPolicy
from filedock.core.uploads import UploadService
from tests.unit.fake_time import FakeTime
from tests.unit.memory_ports import MemoryRecords, MemoryScanner, MemoryStore
from tests.unit.memory_schedules import MemoryScheduleOwners, MemoryScheduleParticipants

ALICE = Principal("bearer", "alice", "user")
OWNER = Principal(COGNITO_REALM, "owner", "user")
SCHEDULE = "7e06b0da-5959-40bc-b583-464b721b3f77"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SCHEDULES = UploadPolicy(
    name="schedules",
    allowed_types=("application/pdf",),
    max_bytes=10_000,
    key_prefix="schedules/",
    url_expiry=timedelta(seconds=20),
    temporary_lifetime=timedelta(hours=24),
)
POLICIES = {policy.name: policy for policy in (SIGNED_URL_POLICY, SCHEDULES)}


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


class World:
    def __init__(self, wait_seconds: float = 10) -> None:
        self.records, self.store, self.time = MemoryRecords(), MemoryStore(), FakeTime()
        self.processor = FileProcessor(self.records, self.store, MemoryScanner(), POLICIES)
        self.uploads = UploadService(self.records, self.store, POLICIES)
        wait = self.time.read_wait(wait_seconds)
        self.files = FileService(
            self.records,
            self.store,
            max_upload_bytes=10**6,
            read_wait=wait,
            notice=self.uploads.notice_upload,
        )
        self.schedules = ScheduleDocuments(
            self.records,
            self.store,
            MemoryScheduleOwners(),
            SCHEDULES,
            ScheduleRules(("pdf",), 5),
            participants=MemoryScheduleParticipants(),
            read_wait=wait,
            notice=self.uploads.notice_upload,
        )

    def processing_finishes_on_poll(self, poll: int, file_id: str) -> None:
        async def worker() -> None:
            if len(self.time.sleeps) == poll:
                await self.processor.process(file_id)

        self.time.on_sleep = worker


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize("reads", ["download", "download url"])
async def test_a_read_while_processing_runs_waits_for_the_outcome_and_serves_it(
    world: World, reads: str
) -> None:
    await world.files.upload(ALICE, "f", "text/plain", body(b"hello"))
    world.processing_finishes_on_poll(3, "f")
    if reads == "download":
        download = await world.files.open_download(ALICE, "f")
        assert b"".join([chunk async for chunk in await download.open()]) == b"hello"
    else:
        assert (await world.files.issue_download_url(ALICE, "f")).method == "GET"
    assert len(world.time.sleeps) == 3


async def test_a_file_still_unprocessed_when_the_wait_ends_is_not_ready(world: World) -> None:
    await world.files.upload(ALICE, "f", "text/plain", body(b"x"))
    with pytest.raises(NotReady) as refused:
        await world.files.open_download(ALICE, "f")
    assert type(refused.value) is NotReady  # waiting longer could help: not a refusal
    assert sum(world.time.sleeps) == pytest.approx(10)
    # Short polls that grow, each poll its own query: no connection is held while waiting.
    assert world.time.sleeps[:3] == pytest.approx([0.1, 0.2, 0.25])
    assert max(world.time.sleeps) <= 0.25


async def test_a_file_processing_refused_is_refused_at_once(world: World) -> None:
    uploaded = await world.files.upload(ALICE, "f", "text/plain", body(b"x"))
    del world.store.objects[uploaded.storage_key]  # lost: processing fails the file
    assert await world.processor.process("f") is FileStatus.FAILED
    with pytest.raises(ProcessingRefused):
        await world.files.issue_download_url(ALICE, "f")
    assert world.time.sleeps == []


async def test_with_no_read_wait_a_file_on_its_way_is_refused_at_once() -> None:
    world = World(wait_seconds=0)
    await world.files.upload(ALICE, "f", "text/plain", body(b"x"))
    with pytest.raises(NotReady):
        await world.files.issue_download_url(ALICE, "f")
    assert world.time.sleeps == []


async def test_a_pending_upload_whose_bytes_arrived_is_noticed_then_waited_for(
    world: World,
) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "notes.csv", True, SIGNED_URL_POLICY)
    world.store.objects[ticket.file.storage_key] = b"a,b\n1,2\n"  # the PUT, straight to S3
    world.processing_finishes_on_poll(1, ticket.file.id)
    await world.files.issue_download_url(ALICE, ticket.file.id)
    assert world.records.files[ticket.file.id].status is FileStatus.READY


async def test_a_pending_upload_with_no_bytes_is_refused_at_once(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "notes.csv", True, SIGNED_URL_POLICY)
    with pytest.raises(NotReady):
        await world.files.issue_download_url(ALICE, ticket.file.id)
    assert world.time.sleeps == []  # nothing is on its way, so nothing is waited for


async def test_a_schedule_document_posted_but_not_noticed_is_read_once_processed(
    world: World,
) -> None:
    attached = await world.schedules.attach(OWNER, SCHEDULE, "file.pdf")
    world.store.objects[attached.file.storage_key] = PDF  # the form post, straight to S3
    world.processing_finishes_on_poll(2, attached.file.id)
    signed = await world.schedules.read_url(OWNER, attached.file.id)
    assert signed.method == "GET" and len(world.time.sleeps) == 2


async def test_a_schedule_document_never_processed_is_not_ready_after_the_wait(
    world: World,
) -> None:
    attached = await world.schedules.attach(OWNER, SCHEDULE, "file.pdf")
    world.store.objects[attached.file.storage_key] = PDF
    with pytest.raises(NotReady):
        await world.schedules.read_url(OWNER, attached.file.id)
    assert sum(world.time.sleeps) == pytest.approx(10)


async def test_a_waiting_read_is_answered_when_processing_here_decides_not_at_next_poll() -> None:
    # Real time here: the read's polls are a minute apart, so only the decision can end its
    # wait within the test's few seconds.
    decisions = Decisions()
    files, processor = await uploaded_with_decisions(60, reads=decisions, processing=decisions)

    read = asyncio.create_task(files.open_download(ALICE, "f"))
    await asyncio.sleep(0.05)  # the read has seen `uploaded` and sleeps towards its next poll
    assert not read.done()
    assert await processor.process("f") is FileStatus.READY
    download = await asyncio.wait_for(read, timeout=5)
    assert download.file.status is FileStatus.READY
    assert decisions.waiting_for() == set()  # the read left nothing behind


async def test_a_decision_made_elsewhere_is_still_found_by_the_poll() -> None:
    # Another process's worker (`filedock worker`) decides: nothing wakes the read here, its
    # next poll finds the outcome.
    files, elsewhere = await uploaded_with_decisions(0.2, reads=Decisions(), processing=Decisions())

    read = asyncio.create_task(files.open_download(ALICE, "f"))
    await asyncio.sleep(0.05)
    assert await elsewhere.process("f") is FileStatus.READY
    assert not read.done()  # not woken: the decision was made by another Decisions
    download = await asyncio.wait_for(read, timeout=5)
    assert download.file.status is FileStatus.READY


async def test_two_reads_waiting_for_one_file_are_both_answered_by_its_decision() -> None:
    decisions = Decisions()
    files, processor = await uploaded_with_decisions(60, reads=decisions, processing=decisions)

    reads = [asyncio.create_task(files.open_download(ALICE, "f")) for _ in range(2)]
    await asyncio.sleep(0.05)
    assert decisions.waiting_for() == {"f"}
    assert await processor.process("f") is FileStatus.READY
    downloads = await asyncio.wait_for(asyncio.gather(*reads), timeout=5)
    assert [d.file.status for d in downloads] == [FileStatus.READY, FileStatus.READY]
    assert decisions.waiting_for() == set()


async def uploaded_with_decisions(
    poll_seconds: float, *, reads: Decisions, processing: Decisions
) -> tuple[FileService, FileProcessor]:
    """A file `f` uploaded, its reads waking on `reads`, its processor telling `processing`;
    the reads poll every `poll_seconds` (real time)."""
    records, store = MemoryRecords(), MemoryStore()
    processor = FileProcessor(records, store, MemoryScanner(), POLICIES, decisions=processing)
    wait = ReadWait(
        limit=timedelta(minutes=5), first_poll=poll_seconds, max_poll=poll_seconds, decisions=reads
    )
    files = FileService(records, store, max_upload_bytes=10**6, read_wait=wait)
    await files.upload(ALICE, "f", "application/pdf", body(PDF))
    return files, processor
