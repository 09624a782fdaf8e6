from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from filedock.core import worker as worker_module
from filedock.core.worker import JobWorker, backoff
from filedock.ports.jobs import Job, JobRequest
from tests.unit.memory_ports import MemoryQueue

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_successful_job_is_completed_and_leaves_no_row() -> None:
    queue = MemoryQueue()
    seen: list[str] = []

    async def handler(job: Job) -> None:
        seen.append(job.payload["file_id"])

    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    assert await JobWorker(queue, {"process_file": handler}, clock=lambda: NOW).run_due() == 1
    assert seen == ["f"] and queue.rows == {}


async def test_failing_job_is_retried_later_with_backoff() -> None:
    queue = MemoryQueue()

    async def handler(job: Job) -> None:
        raise RuntimeError("clamd is down")

    await queue.enqueue(JobRequest("scan"))
    worker = JobWorker(queue, {"scan": handler}, clock=lambda: NOW)
    await worker.run_due()
    (row,) = queue.rows.values()
    assert row["status"] == "queued"
    assert row["run_after"] == NOW + timedelta(seconds=1)
    assert "clamd is down" in str(row["error"])
    assert await worker.run_due() == 0  # not due yet


async def test_job_gives_up_after_max_attempts() -> None:
    queue = MemoryQueue()
    clock = [NOW]

    async def handler(job: Job) -> None:
        raise RuntimeError("broken")

    await queue.enqueue(JobRequest("scan"))
    worker = JobWorker(queue, {"scan": handler}, max_attempts=3, clock=lambda: clock[0])
    for _ in range(3):
        await worker.run_due()
        clock[0] += timedelta(minutes=10)
    (row,) = queue.rows.values()
    assert row["status"] == "failed" and row["attempts"] == 3


async def test_unknown_job_kind_fails_without_crashing_the_worker() -> None:
    queue = MemoryQueue()
    await queue.enqueue(JobRequest("mystery"))
    assert await JobWorker(queue, {}, clock=lambda: NOW).run_due() == 1
    (row,) = queue.rows.values()
    assert row["status"] == "failed"


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30) == timedelta(minutes=5)


async def test_a_finished_job_is_logged_once_with_how_many_times_it_was_claimed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = MemoryQueue()

    async def handler(job: Job) -> None:
        return None

    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    with caplog.at_level(logging.INFO, logger="filedock.worker"):
        await JobWorker(queue, {"process_file": handler}, clock=lambda: NOW).run_due()
    (line,) = [r for r in caplog.records if r.getMessage() == "job done"]
    fields = {name: getattr(line, name) for name in ("kind", "attempts", "payload")}
    assert fields == {"kind": "process_file", "attempts": 1, "payload": {"file_id": "f"}}


async def test_a_worker_stopped_mid_job_stops_the_work_and_hands_the_job_back_due_at_once() -> None:
    queue = MemoryQueue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def endless(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    await queue.enqueue(JobRequest("endless"))
    running = asyncio.create_task(JobWorker(queue, {"endless": endless}, clock=lambda: NOW).run())
    await asyncio.wait_for(started.wait(), 2)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 2)
    assert stopped.is_set()
    (row,) = queue.rows.values()
    assert (row["status"], row["attempts"]) == ("queued", 1)
    # Due now: another worker takes it at once, not when the lease would have run out.
    again = await queue.claim(NOW, timedelta(minutes=5))
    assert again is not None and again.attempts == 2


async def test_a_job_whose_work_will_not_stop_is_left_to_its_lease_not_handed_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Handing it back while its work still runs would let a second worker run it beside."""
    monkeypatch.setattr(worker_module, "HAND_BACK_SECONDS", 0.2)
    queue = MemoryQueue()
    started, release = asyncio.Event(), asyncio.Event()

    async def stubborn(job: Job) -> None:
        started.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # ignores being stopped, as blocking work in a thread would

    await queue.enqueue(JobRequest("stubborn"))
    running = asyncio.create_task(
        JobWorker(queue, {"stubborn": stubborn}, clock=lambda: NOW).run()
    )
    await asyncio.wait_for(started.wait(), 2)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 2)
    (row,) = queue.rows.values()
    assert (row["status"], row["attempts"]) == ("running", 1)
    release.set()
    await asyncio.sleep(0)  # lets the stubborn work end before the test's loop closes


async def test_a_worker_stopped_with_several_jobs_in_flight_hands_each_one_back() -> None:
    queue = MemoryQueue()
    started: list[str] = []

    async def endless(job: Job) -> None:
        started.append(job.payload["n"])
        await asyncio.sleep(60)

    for n in range(5):
        await queue.enqueue(JobRequest("endless", {"n": str(n)}))
    worker = JobWorker(queue, {"endless": endless}, clock=lambda: NOW, concurrency=3)
    running = asyncio.create_task(worker.run())
    for _ in range(100):
        if len(started) == 3:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert sorted(started) == ["0", "1", "2"]  # its concurrency, not the whole queue
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 2)
    assert [(row["status"], row["attempts"]) for row in queue.rows.values()] == [
        ("queued", 1),
        ("queued", 1),
        ("queued", 1),
        ("queued", 0),
        ("queued", 0),
    ]


async def test_a_worker_told_to_stop_lets_its_jobs_in_flight_finish_and_claims_no_more() -> None:
    queue = MemoryQueue()
    release = asyncio.Event()
    started: list[str] = []

    async def waits(job: Job) -> None:
        started.append(job.payload["n"])
        await release.wait()

    for n in range(4):
        await queue.enqueue(JobRequest("waits", {"n": str(n)}))
    worker = JobWorker(queue, {"waits": waits}, clock=lambda: NOW, concurrency=2)
    running = asyncio.create_task(worker.run())
    for _ in range(100):
        if len(started) == 2:
            break
        await asyncio.sleep(0.01)
    worker.stop()
    release.set()
    await asyncio.wait_for(running, 2)
    assert sorted(started) == ["0", "1"]
    assert sorted(str(row["payload"]) for row in queue.rows.values()) == [
        "{'n': '2'}",
        "{'n': '3'}",
    ]


async def test_a_job_finished_after_another_worker_took_it_is_not_completed() -> None:
    queue = MemoryQueue()

    async def taken_meanwhile(job: Job) -> None:
        queue.rows[job.id]["attempts"] = job.attempts + 1  # another claim, after the lease

    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    await JobWorker(queue, {"process_file": taken_meanwhile}, clock=lambda: NOW).run_due()
    (row,) = queue.rows.values()
    assert (row["status"], row["attempts"]) == ("running", 2)
