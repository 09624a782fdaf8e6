"""The file lifecycle: allowed moves, compare-and-set writes, the access rule, and the races
they settle (delete while processing, a job that gives up), on in-memory ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from filedock.core.errors import Forbidden, NotFound
from filedock.core.lifecycle import (
    MOVES,
    FileLifecycle,
    IllegalMove,
    LostRace,
    reachable,
)
from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.core.upload_policy import SIGNED_URL_POLICY
from filedock.core.worker import JobWorker
from filedock.ports.jobs import Job, JobRequest
from filedock.ports.scanner import ScanVerdict
from tests.unit.memory_ports import MemoryQueue, MemoryScanner
from tests.unit.upload_world import ALICE, BOB, World, new_world

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world() -> World:
    return new_world()


def lifecycle(world: World) -> FileLifecycle:
    return FileLifecycle(world.records, world.clock)


async def test_nothing_moves_out_of_deleted(world: World) -> None:
    assert MOVES[FileStatus.DELETED] == frozenset()
    file_id = await world.signed_upload("a.pdf", PDF)
    gone = await lifecycle(world).delete(world.records.files[file_id], reason="test")
    for status in FileStatus:
        with pytest.raises(IllegalMove):
            await lifecycle(world).move(gone, status)


async def test_a_ready_file_cannot_go_back_to_processing(world: World) -> None:
    file_id = await world.signed_upload("a.pdf", PDF)
    await world.processor.process(file_id)
    ready = world.records.files[file_id]
    assert ready.status is FileStatus.READY
    with pytest.raises(IllegalMove):
        await lifecycle(world).move(ready, FileStatus.PROCESSING)


async def test_a_write_against_an_old_read_loses_and_changes_nothing(world: World) -> None:
    file_id = await world.signed_upload("a.pdf", PDF)
    read_twice = world.records.files[file_id]
    winner = await lifecycle(world).move(read_twice, FileStatus.PROCESSING)
    with pytest.raises(LostRace):
        await lifecycle(world).move(read_twice, FileStatus.FAILED, reason="stale")
    assert world.records.files[file_id] == winner


def test_the_access_rule_keeps_realms_apart() -> None:
    file = replace(
        _any_file(), owner_realm="api-key:k1", owner_id="u1", status=FileStatus.READY
    )
    assert reachable(Principal("api-key:k1", "u1", "user"), file, missing="x") is file
    assert reachable(Principal("api-key:k1", "root", "admin"), file, missing="x") is file
    with pytest.raises(Forbidden):
        reachable(Principal("api-key:k1", "u2", "user"), file, missing="x")
    # The same subject, or an admin, of another realm does not even learn the file exists.
    for stranger in (
        Principal("api-key:k2", "u1", "user"),
        Principal("bearer", "u1", "user"),
        Principal("bearer", "root", "admin"),
        Principal("cognito", "u1", "admin"),
    ):
        with pytest.raises(NotFound):
            reachable(stranger, file, missing="x")
    with pytest.raises(NotFound):
        reachable(Principal("api-key:k1", "u1", "user"), None, missing="x")


async def test_a_delete_while_processing_runs_stays_deleted_and_leaves_no_bytes() -> None:
    world = new_world()
    gate = asyncio.Event()
    world.processor._scanner = GatedScanner(gate)  # type: ignore[assignment]
    file_id = await world.signed_upload("a.pdf", PDF)
    processing = asyncio.create_task(world.processor.process(file_id))
    while world.records.files[file_id].status is not FileStatus.PROCESSING:
        await asyncio.sleep(0)
    while not any(key.startswith("files/") for key in world.store.objects):
        await asyncio.sleep(0)  # the private copy is written: the scan is waiting
    await world.files.delete(ALICE, file_id)
    gate.set()
    assert await processing is None
    assert file_id not in world.records.files
    assert world.store.objects == {}
    with pytest.raises(NotFound):
        await world.files.describe(ALICE, file_id)


async def test_a_delete_racing_processing_wins_even_when_processing_moves_first(
    world: World,
) -> None:
    file_id = await world.signed_upload("a.pdf", PDF)
    read_by_delete = world.records.files[file_id]
    await world.processor.process(file_id)  # moves the file twice after the delete read it
    gone = await lifecycle(world).delete(read_by_delete, reason="owner")
    assert gone.status is FileStatus.DELETED
    assert world.records.files[file_id].status is FileStatus.DELETED


async def test_a_job_that_gives_up_moves_its_file_to_failed_with_the_reason(
    world: World,
) -> None:
    file_id = await world.signed_upload("a.pdf", PDF)
    queue = MemoryQueue()
    await queue.enqueue(JobRequest("process_file", {"file_id": file_id}))

    async def broken(job: Job) -> None:
        await world.processor.process(job.payload["file_id"])
        raise RuntimeError("a bug")

    async def give_up(job: Job, reason: str) -> None:
        await world.processor.give_up(job.payload["file_id"], reason)

    worker = JobWorker(
        queue, {"process_file": broken}, give_up={"process_file": give_up}, max_attempts=1
    )
    world.records.files[file_id] = replace(
        world.records.files[file_id], status=FileStatus.PROCESSING
    )
    world.processor._scanner = MemoryScanner(down=False)  # type: ignore[assignment]
    await worker.run_due()
    file = world.records.files[file_id]
    # process() decided first here, so give_up leaves the decision alone ...
    assert file.status is FileStatus.READY
    # ... but a file still undecided when the job gives up is failed, with the reason.
    stuck = await world.signed_upload("b.pdf", PDF)
    world.records.files[stuck] = replace(
        world.records.files[stuck], status=FileStatus.PROCESSING
    )

    async def always_broken(job: Job) -> None:
        raise RuntimeError("a bug")

    await queue.enqueue(JobRequest("process_file", {"file_id": stuck}))
    worker = JobWorker(
        queue,
        {"process_file": always_broken},
        give_up={"process_file": give_up},
        max_attempts=1,
    )
    await worker.run_due()
    failed = world.records.files[stuck]
    assert failed.status is FileStatus.FAILED
    assert failed.status_reason is not None and "a bug" in failed.status_reason


async def test_an_outage_is_retried_and_never_gives_the_file_up(world: World) -> None:
    file_id = await world.signed_upload("a.pdf", PDF)
    world.processor._scanner = MemoryScanner(down=True)  # type: ignore[assignment]
    queue = MemoryQueue()
    await queue.enqueue(JobRequest("process_file", {"file_id": file_id}))

    async def process(job: Job) -> None:
        await world.processor.process(job.payload["file_id"])

    async def give_up(job: Job, reason: str) -> None:
        await world.processor.give_up(job.payload["file_id"], reason)

    worker = JobWorker(
        queue, {"process_file": process}, give_up={"process_file": give_up}, max_attempts=1
    )
    await worker.run_due()
    assert world.records.files[file_id].status is FileStatus.PROCESSING
    assert [row["status"] for row in queue.rows.values()] == ["queued"]


async def test_bob_cannot_reach_alices_upload_and_another_realm_cannot_see_it(
    world: World,
) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.pdf", True, SIGNED_URL_POLICY)
    with pytest.raises(Forbidden):
        await world.uploads.status(BOB, ticket.file.id)
    with pytest.raises(NotFound):
        await world.uploads.status(Principal("api-key:other", "alice", "user"), ticket.file.id)


@dataclass
class GatedScanner:
    """A scanner that waits for `gate` before reading, so a test can act mid-processing."""

    gate: asyncio.Event
    seen: list[int] = field(default_factory=list)

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanVerdict:
        await self.gate.wait()
        size = 0
        async for chunk in chunks:
            size += len(chunk)
        self.seen.append(size)
        return ScanVerdict(clean=True, signature=None, scanned_bytes=size)

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _any_file() -> File:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    return File(
        id="f",
        owner_realm="bearer",
        owner_id="alice",
        owner_role="user",
        storage_key="files/f",
        content_type="text/plain",
        status=FileStatus.PENDING,
        created_at=now,
        updated_at=now,
    )


async def test_a_delete_while_the_store_is_down_hides_the_file_and_the_sweeper_finishes_it(
    world: World,
) -> None:
    file_id = await world.signed_upload("a.pdf", PDF)
    await world.processor.process(file_id)
    world.store.down = True
    await world.files.delete(ALICE, file_id)
    with pytest.raises(NotFound):
        await world.files.describe(ALICE, file_id)
    assert world.records.files[file_id].status is FileStatus.DELETED
    world.store.down = False
    assert world.store.objects  # the bytes wait for the store
    world.clock.now += timedelta(minutes=20)
    assert (await world.uploads.sweep()).purged == 1
    assert world.store.objects == {} and world.records.files == {}
