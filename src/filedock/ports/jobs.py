"""The job queue port: durable job rows, claimed with a lease, retried with backoff."""

from __future__ import annotations

from collections.abc import Collection, Mapping
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

    async def renew(self, job: Job, until: datetime) -> bool:
        """Extend the lease of `job` as claimed (its `attempts`) to `until`; False when it is
        no longer this claim's: another worker took it after the lease ran out."""
        ...

    async def release(self, job: Job) -> bool:
        """Hand `job` as claimed back to the queue, due at once and in its old place, for a
        worker that stops mid-job; False when the claim was no longer this one's. The
        claim still counts in `attempts`, which stays each claim's own token (`renew`)."""
        ...

    async def complete(self, job_id: int) -> None: ...

    async def retry(self, job_id: int, run_after: datetime, error: str) -> None: ...

    async def fail(self, job_id: int, error: str) -> None: ...

    async def counts(self) -> Mapping[str, int]:
        """Jobs by status, for metrics."""
        ...
