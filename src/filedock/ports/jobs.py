"""The job queue port: durable job rows, claimed with a lease, retried with backoff.

A claim is a token: `Job.attempts` as claimed. Every later change a worker makes to the job
(renew, release, complete, retry, fail) is a compare-and-set on it, so a worker whose lease
ran out while it stalled, and whose job another worker has taken since, changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class JobRequest:
    kind: str
    payload: Mapping[str, str] = field(default_factory=dict)
    run_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: Mapping[str, str]
    attempts: int
    # When it became due (queued, or retried, for then): how long it waited, for metrics.
    due_at: datetime | None = None


class JobQueue(Protocol):
    async def enqueue(self, request: JobRequest) -> None: ...

    async def claim(
        self, now: datetime, lease: timedelta, kinds: Collection[str] | None = None
    ) -> Job | None:
        """Take the oldest due job (queued, or running with an expired lease) of one of
        `kinds` (any kind: None), or None."""
        ...

    async def claim_batch(
        self, now: datetime, lease: timedelta, kinds: Collection[str] | None, limit: int
    ) -> Sequence[Job]:
        """Take up to `limit` due jobs at once, oldest first, as `claim` takes one: one
        round trip for a worker with room for several."""
        ...

    async def renew(self, job: Job, until: datetime) -> bool:
        """Extend the lease of `job` as claimed (its `attempts`) to `until`; False when it is
        no longer this claim's: another worker took it after the lease ran out."""
        ...

    async def release(self, job: Job) -> bool:
        """Hand `job` as claimed back to the queue, due at once and in its old place, for a
        worker that stops mid-job; False when the claim was no longer this one's. The
        claim still counts in `attempts`, which stays each claim's own token (`renew`)."""
        ...

    async def complete(self, job: Job) -> bool:
        """Remove `job` as done; False, changing nothing, when the claim is no longer this
        one's (another worker took the job after the lease ran out)."""
        ...

    async def retry(self, job: Job, run_after: datetime, error: str) -> bool:
        """Queue `job` again for `run_after`; False, changing nothing, as for `complete`."""
        ...

    async def fail(self, job: Job, error: str) -> bool:
        """Mark `job` failed for good; False, changing nothing, as for `complete`."""
        ...

    async def counts(self) -> Mapping[str, int]:
        """Jobs by status, for metrics."""
        ...
