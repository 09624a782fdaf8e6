from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
