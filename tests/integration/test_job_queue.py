"""The durable job queue on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.core.worker import JobWorker
from filedock.db.job_queue import SqlJobQueue
from filedock.db.session import session_factory
from filedock.ports.jobs import Job, JobRequest


@pytest.fixture
def queue(migrated_engine: AsyncEngine) -> SqlJobQueue:
    return SqlJobQueue(session_factory(migrated_engine))


async def test_concurrent_workers_claim_each_job_exactly_once(queue: SqlJobQueue) -> None:
    for n in range(30):
        await queue.enqueue(JobRequest("process_file", {"file_id": str(n)}))
    now = datetime.now(UTC) + timedelta(seconds=1)
    claimed: list[str] = []

    async def work() -> None:
        while (job := await queue.claim(now, timedelta(minutes=5))) is not None:
            claimed.append(job.payload["file_id"])
            await queue.complete(job)

    await asyncio.gather(*(work() for _ in range(5)))
    assert sorted(claimed, key=int) == [str(n) for n in range(30)]
    assert await queue.counts() == {}


async def test_job_of_a_dead_worker_is_claimed_again_after_its_lease(queue: SqlJobQueue) -> None:
    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    now = datetime.now(UTC) + timedelta(seconds=1)
    first = await queue.claim(now, timedelta(seconds=60))
    assert first is not None and first.attempts == 1
    assert await queue.claim(now + timedelta(seconds=30), timedelta(seconds=60)) is None
    again = await queue.claim(now + timedelta(seconds=61), timedelta(seconds=60))
    assert again is not None and again.id == first.id and again.attempts == 2


async def test_a_job_handed_back_is_claimed_again_at_once_and_only_by_its_own_claim(
    queue: SqlJobQueue,
) -> None:
    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    now = datetime.now(UTC) + timedelta(seconds=1)
    first = await queue.claim(now, timedelta(minutes=5))
    assert first is not None
    assert await queue.release(first) is True
    # Long before the lease would have run out.
    again = await queue.claim(now, timedelta(minutes=5))
    assert again is not None and again.id == first.id and again.attempts == 2
    # The first claim is spent: it can neither hand the job back again nor renew it.
    assert await queue.release(first) is False
    assert await queue.renew(first, now + timedelta(minutes=5)) is False
    assert await queue.counts() == {"running": 1}


async def test_retried_job_waits_until_its_time(queue: SqlJobQueue) -> None:
    await queue.enqueue(JobRequest("scan"))
    now = datetime.now(UTC) + timedelta(seconds=1)
    job = await queue.claim(now, timedelta(minutes=5))
    assert job is not None
    await queue.retry(job, now + timedelta(seconds=10), "clamd down")
    assert await queue.claim(now + timedelta(seconds=5), timedelta(minutes=5)) is None
    assert await queue.claim(now + timedelta(seconds=11), timedelta(minutes=5)) is not None


async def test_failed_job_stays_as_a_row_and_is_not_claimed(queue: SqlJobQueue) -> None:
    await queue.enqueue(JobRequest("scan"))
    now = datetime.now(UTC) + timedelta(seconds=1)
    job = await queue.claim(now, timedelta(minutes=5))
    assert job is not None
    await queue.fail(job, "gave up")
    assert await queue.claim(now + timedelta(days=1), timedelta(minutes=5)) is None
    assert await queue.counts() == {"failed": 1}


async def test_a_lane_claims_only_its_kinds_and_leaves_the_rest(queue: SqlJobQueue) -> None:
    await queue.enqueue(JobRequest("run_extract", {"request_id": "1"}))
    await queue.enqueue(JobRequest("process_file", {"file_id": "f"}))
    now = datetime.now(UTC) + timedelta(seconds=1)
    lease = timedelta(minutes=5)
    processing = await queue.claim(now, lease, {"process_file", "clear_extract"})
    assert processing is not None and processing.kind == "process_file"
    assert await queue.claim(now, lease, {"process_file"}) is None
    extract = await queue.claim(now, lease, {"run_extract"})
    assert extract is not None and extract.kind == "run_extract"


async def test_a_job_longer_than_its_lease_keeps_it_and_runs_once(queue: SqlJobQueue) -> None:
    """The worker renews the lease while the job runs: another worker never takes it."""
    runs: list[str] = []

    async def slow(job: Job) -> None:
        runs.append("start")
        await asyncio.sleep(1.0)  # three leases of 0.3 s
        runs.append("end")

    lease = timedelta(seconds=0.3)
    first = JobWorker(queue, {"slow": slow}, lease=lease)
    second = JobWorker(queue, {"slow": slow}, lease=lease)
    await queue.enqueue(JobRequest("slow"))
    await asyncio.sleep(0.01)

    async def second_keeps_trying() -> int:
        ran = 0
        for _ in range(10):
            await asyncio.sleep(0.1)
            ran += await second.run_due()
        return ran

    ran_first, ran_second = await asyncio.gather(first.run_due(), second_keeps_trying())
    assert (ran_first, ran_second) == (1, 0)
    assert runs == ["start", "end"]
    assert await queue.counts() == {}


async def test_a_worker_that_lost_its_lease_stops_its_job(queue: SqlJobQueue) -> None:
    """Once another worker took the job (the lease ran out: a stalled worker), the first
    one's work is stopped, not finished beside the second's."""
    stopped = asyncio.Event()

    async def endless(job: Job) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    worker = JobWorker(queue, {"endless": endless}, lease=timedelta(seconds=0.3))
    await queue.enqueue(JobRequest("endless"))
    await asyncio.sleep(0.01)
    running = asyncio.create_task(worker.run_due())
    await asyncio.sleep(0.05)
    # Another worker claims it as if the lease had run out.
    taken = await queue.claim(datetime.now(UTC) + timedelta(seconds=5), timedelta(minutes=5))
    assert taken is not None and taken.attempts == 2
    await asyncio.wait_for(stopped.wait(), timeout=2)
    assert await asyncio.wait_for(running, timeout=2) == 1
    # The job is the second claim's: still running, not completed nor retried by the first.
    assert await queue.counts() == {"running": 1}


async def test_concurrent_batch_claims_take_each_job_exactly_once(queue: SqlJobQueue) -> None:
    for n in range(30):
        await queue.enqueue(JobRequest("process_file", {"file_id": str(n)}))
    now = datetime.now(UTC) + timedelta(seconds=1)
    claimed: list[str] = []

    async def work() -> None:
        while batch := await queue.claim_batch(now, timedelta(minutes=5), None, 4):
            assert len(batch) <= 4
            claimed.extend(job.payload["file_id"] for job in batch)
            for job in batch:
                assert await queue.complete(job) is True

    await asyncio.gather(*(work() for _ in range(3)))
    assert sorted(claimed, key=int) == [str(n) for n in range(30)]
    assert await queue.counts() == {}


async def test_a_batch_claim_takes_the_oldest_due_jobs_of_its_kinds_only(
    queue: SqlJobQueue,
) -> None:
    for n in range(3):
        await queue.enqueue(JobRequest("process_file", {"file_id": str(n)}))
    await queue.enqueue(JobRequest("run_extract", {"request_id": "1"}))
    later = datetime.now(UTC) + timedelta(hours=1)
    await queue.enqueue(JobRequest("process_file", {"file_id": "later"}, run_after=later))
    now = datetime.now(UTC) + timedelta(seconds=1)
    batch = await queue.claim_batch(now, timedelta(minutes=5), {"process_file"}, 10)
    assert [job.payload["file_id"] for job in batch] == ["0", "1", "2"]
    assert {job.attempts for job in batch} == {1}
    assert await queue.counts() == {"running": 3, "queued": 2}


async def test_a_batch_claim_takes_expired_and_queued_jobs_together_oldest_first(
    queue: SqlJobQueue,
) -> None:
    start = datetime.now(UTC)
    for n in range(4):  # due one second apart: 0 is the oldest
        due = start + timedelta(seconds=n)
        await queue.enqueue(JobRequest("process_file", {"file_id": str(n)}, run_after=due))
    lease = timedelta(seconds=30)
    taken = await queue.claim_batch(start + timedelta(seconds=1.5), lease, None, 2)
    assert [job.payload["file_id"] for job in taken] == ["0", "1"]
    # Their worker died: after the lease they are due again, older than the queued 2 and 3.
    after_lease = start + timedelta(seconds=40)
    again = await queue.claim_batch(after_lease, lease, None, 3)
    assert [job.payload["file_id"] for job in again] == ["0", "1", "2"]
    assert [job.attempts for job in again] == [2, 2, 1]
    rest = await queue.claim_batch(after_lease, lease, None, 3)
    assert [job.payload["file_id"] for job in rest] == ["3"]


async def test_a_worker_runs_as_many_jobs_at_once_as_its_concurrency_and_each_once(
    queue: SqlJobQueue,
) -> None:
    in_flight, most, runs = 0, 0, list[str]()

    async def process(job: Job) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        runs.append(job.payload["file_id"])
        await asyncio.sleep(0.05)  # a scan waiting on clamd
        in_flight -= 1

    for n in range(20):
        await queue.enqueue(JobRequest("process_file", {"file_id": str(n)}))
    await asyncio.sleep(0.01)
    worker = JobWorker(queue, {"process_file": process}, concurrency=4)
    assert await worker.run_due() == 20
    assert most == 4
    assert sorted(runs, key=int) == [str(n) for n in range(20)]
    assert await queue.counts() == {}
