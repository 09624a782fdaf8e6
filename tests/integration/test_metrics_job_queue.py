"""What the job metrics read from the queue, on real SQLite and PostgreSQL: the backlog of
due jobs by kind, and when a claimed job became due (its wait)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.db.job_queue import SqlJobQueue
from filedock.db.session import session_factory
from filedock.ports.jobs import JobRequest


@pytest.fixture
def queue(migrated_engine: AsyncEngine) -> SqlJobQueue:
    return SqlJobQueue(session_factory(migrated_engine))


async def test_queue_depth_counts_due_queued_jobs_by_kind(queue: SqlJobQueue) -> None:
    now = datetime.now(UTC)
    for kind in ("process_file", "process_file", "run_extract"):
        await queue.enqueue(JobRequest(kind, run_after=now - timedelta(seconds=5)))
    # Not yet due (a retry's backoff): waiting on purpose, not backlog.
    await queue.enqueue(JobRequest("process_file", run_after=now + timedelta(minutes=5)))
    assert await queue.due_counts(now) == {"process_file": 2, "run_extract": 1}
    running = await queue.claim(now, timedelta(minutes=5), ["run_extract"])
    assert running is not None
    failed = await queue.claim(now, timedelta(minutes=5), ["process_file"])
    assert failed is not None
    await queue.fail(failed, "poisoned")
    assert await queue.due_counts(now) == {"process_file": 1}


async def test_a_claimed_job_says_when_it_became_due(queue: SqlJobQueue) -> None:
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    await queue.enqueue(JobRequest("process_file", run_after=due))
    job = await queue.claim(datetime.now(UTC), timedelta(minutes=5))
    assert job is not None and job.due_at == due
    await queue.retry(job, due + timedelta(seconds=20), "clamd down")
    again = await queue.claim(datetime.now(UTC), timedelta(minutes=5))
    assert again is not None and again.due_at == due + timedelta(seconds=20)
