"""Job leases on real SQLite and PostgreSQL: a short lease, kept by a heartbeat while the job
runs, taken over soon after its worker died, and never acted on by a worker that lost it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.core.worker import JobWorker
from filedock.db.job_queue import SqlJobQueue
from filedock.db.session import session_factory
from filedock.ports.jobs import Job, JobRequest

# Long enough that the heartbeat (every third of it) never beats inside these handlers:
# the takeover below is what a stall past the lease lets happen, not a renewal race.
LEASE = timedelta(seconds=30)


@pytest.fixture
def queue(migrated_engine: AsyncEngine) -> SqlJobQueue:
    return SqlJobQueue(session_factory(migrated_engine))


async def _take_over(queue: SqlJobQueue) -> Job:
    """Another worker claims the job, as it may once the first one stalled past its lease."""
    taken = await queue.claim(datetime.now(UTC) + LEASE + timedelta(seconds=1), LEASE)
    assert taken is not None and taken.attempts == 2
    return taken


async def test_only_the_claim_that_holds_a_job_can_complete_retry_or_fail_it(
    queue: SqlJobQueue,
) -> None:
    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    now = datetime.now(UTC) + timedelta(seconds=1)
    first = await queue.claim(now, timedelta(seconds=5))
    assert first is not None
    second = await queue.claim(now + timedelta(seconds=6), timedelta(seconds=5))
    assert second is not None and second.id == first.id
    assert await queue.complete(first) is False
    assert await queue.retry(first, now, "late") is False
    assert await queue.fail(first, "late") is False
    assert await queue.counts() == {"running": 1}
    assert await queue.complete(second) is True
    assert await queue.counts() == {}


async def test_a_stalled_worker_whose_job_was_taken_over_does_not_complete_it_a_second_time(
    queue: SqlJobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    taken: list[Job] = []

    async def stalls_past_its_lease(job: Job) -> None:
        taken.append(await _take_over(queue))  # then this run ends as if nothing happened

    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    await asyncio.sleep(0.01)
    worker = JobWorker(queue, {"process_file": stalls_past_its_lease}, lease=LEASE)
    assert await worker.run_due() == 1
    # The job is the second claim's: still running, not deleted as done under it.
    assert await queue.counts() == {"running": 1}
    assert "job lost its lease" in caplog.text and "job done" not in caplog.text
    assert await queue.complete(taken[0]) is True


async def test_a_stalled_worker_whose_job_was_taken_over_neither_retries_nor_gives_it_up(
    queue: SqlJobQueue,
) -> None:
    gave_up: list[str] = []

    async def stalls_then_fails(job: Job) -> None:
        await _take_over(queue)
        raise RuntimeError("the scan broke after the lease ran out")

    async def give_up(job: Job, reason: str) -> None:
        gave_up.append(reason)  # processing would mark the file failed under the new run

    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    await asyncio.sleep(0.01)
    for max_attempts in (10, 1):
        worker = JobWorker(
            queue,
            {"process_file": stalls_then_fails},
            give_up={"process_file": give_up},
            lease=LEASE,
            max_attempts=max_attempts,
        )
        await worker.run_due()
        # Still the newest claim's, running: not queued again, not failed.
        assert await queue.counts() == {"running": 1}
    assert gave_up == []


async def test_a_heartbeat_keeps_the_short_leases_of_several_long_jobs_run_at_once(
    queue: SqlJobQueue,
) -> None:
    runs: list[str] = []

    async def long_job(job: Job) -> None:
        runs.append(job.payload["n"])
        await asyncio.sleep(1.2)  # four leases of 0.3 s

    lease = timedelta(seconds=0.3)
    for n in range(3):
        await queue.enqueue(JobRequest("long", {"n": str(n)}))
    await asyncio.sleep(0.01)
    worker = JobWorker(queue, {"long": long_job}, lease=lease, concurrency=4)
    running = asyncio.create_task(worker.run_due())
    await asyncio.sleep(0.7)  # past two leases: only the heartbeat keeps them
    assert await queue.claim(datetime.now(UTC), lease) is None
    assert await running == 3
    assert sorted(runs) == ["0", "1", "2"]
    assert await queue.counts() == {}


async def test_a_dead_workers_job_is_taken_over_soon_after_its_short_lease_runs_out(
    queue: SqlJobQueue,
) -> None:
    lease = timedelta(seconds=1)
    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    await asyncio.sleep(0.01)
    # A worker claims it and dies: nothing renews its lease, nothing hands it back.
    died = time.monotonic()
    dead = await queue.claim(datetime.now(UTC), lease)
    assert dead is not None
    taken_after: list[float] = []

    async def process(job: Job) -> None:
        taken_after.append(time.monotonic() - died)
        assert job.attempts == 2

    worker = JobWorker(queue, {"process_file": process}, lease=lease, poll_seconds=0.1)
    working = asyncio.create_task(worker.run())
    try:
        for _ in range(100):
            if await queue.counts() == {}:
                break
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
        await asyncio.wait_for(working, 5)
    assert len(taken_after) == 1
    # Not before the lease ran out; within a poll or two after (generous: a shared machine).
    assert lease.total_seconds() <= taken_after[0] < lease.total_seconds() + 3
    assert await queue.counts() == {}


async def test_jobs_completed_together_each_learn_whether_their_own_claim_held(
    queue: SqlJobQueue,
) -> None:
    for n in range(3):
        await queue.enqueue(JobRequest("process_file", {"file_id": str(n)}))
    now = datetime.now(UTC) + timedelta(seconds=1)
    jobs = await queue.claim_batch(now, timedelta(seconds=5), None, 3)
    assert [job.payload["file_id"] for job in jobs] == ["0", "1", "2"]
    taken = await queue.claim(now + timedelta(seconds=6), timedelta(seconds=5))
    assert taken is not None and taken.id == jobs[0].id
    # One statement carries the three completions; the first one's claim is spent.
    assert await asyncio.gather(*(queue.complete(job) for job in jobs)) == [False, True, True]
    assert await queue.counts() == {"running": 1}
