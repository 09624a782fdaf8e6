"""Works the durable job queue: claim, run the handler for its kind, complete or retry.

Jobs survive restarts because they are rows; a claim carries a lease, so a job whose worker
died is taken again once the lease runs out. Two kinds of failure are told apart:
- an outage (`Unavailable`: database, store or scanner down) decided nothing, so the job is
  retried with exponential backoff for as long as it takes, and never given up for it;
- anything else is a bug or a poisoned input: retried with backoff, and after `max_attempts`
  the job is marked failed, the reason logged, and the kind's `give_up` hook told, so the
  thing the job was for (a file in `processing`) does not wait for ever.

A worker stopped mid-job (its task cancelled: a server or `filedock worker` shutting down)
stops the job's work and hands the job back to the queue, so another worker takes it at once
instead of when the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from filedock.core.errors import Unavailable
from filedock.core.files import Clock, utc_now
from filedock.ports.jobs import Job, JobQueue

Handler = Callable[[Job], Awaitable[None]]
GiveUp = Callable[[Job, str], Awaitable[None]]

log = logging.getLogger("filedock.worker")

# How long a stopping worker waits for a cancelled job's work to unwind, and then for the
# database to take the job back; past either, the job is left to its lease running out.
HAND_BACK_SECONDS = 5.0


class JobWorker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(minutes=5),
        max_attempts: int = 10,
        give_up: Mapping[str, GiveUp] | None = None,
        clock: Clock = utc_now,
        only_its_kinds: bool = False,
    ) -> None:
        """With `only_its_kinds`, this worker claims only jobs it has a handler for: a lane
        of its own, so long jobs (extracts) never hold up short ones (processing)."""
        self._queue = queue
        self._handlers = dict(handlers)
        self._kinds = frozenset(self._handlers) if only_its_kinds else None
        self._give_up = dict(give_up or {})
        self._poll_seconds = poll_seconds
        self._lease = lease
        self._max_attempts = max_attempts
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Run due jobs now rather than at the next poll (called after an enqueue commits)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Work until `stop()`; a failing database only delays the next poll."""
        while not self._stopping:
            try:
                worked = await self.run_due()
            except Exception:
                log.exception("job queue unavailable")
                worked = 0
            if worked == 0 and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def run_due(self, limit: int = 100) -> int:
        """Run up to `limit` due jobs; returns how many ran."""
        ran = 0
        while ran < limit and not self._stopping:
            job = await self._queue.claim(self._clock(), self._lease, self._kinds)
            if job is None:
                break
            await self._run_one(job)
            ran += 1
        return ran

    async def _run_one(self, job: Job) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            await self._queue.fail(job.id, f"no handler for job kind {job.kind!r}")
            log.error("job failed", extra={"job_id": job.id, "kind": job.kind})
            return
        started = time.perf_counter()
        work: asyncio.Future[None] = asyncio.ensure_future(handler(job))
        try:
            ours = await self._hold_lease(job, work)
        except asyncio.CancelledError:
            await self._hand_back(job, work, started)
            raise
        if not ours:
            log.warning("job lost its lease", extra={"job_id": job.id, "kind": job.kind})
            return
        try:
            work.result()
        except Exception as exc:
            await self._after_failure(job, exc)
        else:
            await self._complete(job, started)

    async def _complete(self, job: Job, started: float) -> None:
        await self._queue.complete(job.id)
        # One line a job: what a worker without HTTP has instead of an access log. Its
        # `attempts` counts claims, so 1 means no other worker ever held this job.
        log.info(
            "job done",
            extra={
                "job_id": job.id,
                "kind": job.kind,
                "attempts": job.attempts,
                "payload": dict(job.payload),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    async def _hand_back(self, job: Job, work: asyncio.Future[None], started: float) -> None:
        """Stopping mid-job: stop its work, then return the job to the queue, due at once.

        Runs while the worker's own task is being cancelled, so every wait here is bounded;
        a job that cannot be handed back keeps its claim until the lease runs out, as if
        the process had been killed.
        """
        work.cancel()
        await asyncio.wait({work}, timeout=HAND_BACK_SECONDS)
        where = {"job_id": job.id, "kind": job.kind}
        if not work.done():
            # Handing it back now could let another worker run it beside this work.
            log.warning("job did not stop; left to its lease", extra=where)
            return
        try:
            async with asyncio.timeout(HAND_BACK_SECONDS):
                if not work.cancelled() and work.exception() is None:
                    # It finished before the cancel reached it: done, not handed back.
                    await self._complete(job, started)
                    return
                handed_back = await self._queue.release(job)
        except Exception:
            log.warning("could not hand the job back; left to its lease", extra=where)
            return
        if handed_back:
            log.info("job handed back", extra=where)

    async def _hold_lease(self, job: Job, work: asyncio.Future[None]) -> bool:
        """Renew the job's lease while `work` runs (a job may run longer than one lease, an
        extract for hours); False if the lease was lost meanwhile: then another worker has
        the job, and this one's work is stopped rather than run twice side by side."""
        every = self._lease.total_seconds() / 3
        while True:
            done, _ = await asyncio.wait({work}, timeout=every)
            if done:
                return True
            try:
                ours = await self._queue.renew(job, self._clock() + self._lease)
            except Unavailable:
                continue  # the database is down: nobody can take the job meanwhile either
            if not ours:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                return False

    async def _after_failure(self, job: Job, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        outage = isinstance(exc, Unavailable)
        if not outage and job.attempts >= self._max_attempts:
            give_up = self._give_up.get(job.kind)
            if give_up is not None:
                await give_up(job, reason)
            await self._queue.fail(job.id, reason)
            log.error("job gave up", extra={"job_id": job.id, "kind": job.kind, "error": reason})
            return
        if not outage:
            log.warning("job failed", exc_info=exc, extra={"job_id": job.id, "kind": job.kind})
        delay = backoff(job.attempts)
        await self._queue.retry(job.id, self._clock() + delay, reason)
        log.warning(
            "job will retry",
            extra={"job_id": job.id, "kind": job.kind, "error": reason, "in_s": delay.seconds},
        )


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))
