"""The durable job queue on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.db.job_queue import SqlJobQueue
from filedock.db.session import session_factory
from filedock.ports.jobs import JobRequest


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
            await queue.complete(job.id)

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


async def test_retried_job_waits_until_its_time(queue: SqlJobQueue) -> None:
    await queue.enqueue(JobRequest("scan"))
    now = datetime.now(UTC) + timedelta(seconds=1)
    job = await queue.claim(now, timedelta(minutes=5))
    assert job is not None
    await queue.retry(job.id, now + timedelta(seconds=10), "clamd down")
    assert await queue.claim(now + timedelta(seconds=5), timedelta(minutes=5)) is None
    assert await queue.claim(now + timedelta(seconds=11), timedelta(minutes=5)) is not None


async def test_failed_job_stays_as_a_row_and_is_not_claimed(queue: SqlJobQueue) -> None:
    await queue.enqueue(JobRequest("scan"))
    now = datetime.now(UTC) + timedelta(seconds=1)
    job = await queue.claim(now, timedelta(minutes=5))
    assert job is not None
    await queue.fail(job.id, "gave up")
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
