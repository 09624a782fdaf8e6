"""Works the durable job queue: claim, run the handler for its kind, complete or retry.

Jobs survive restarts because they are rows; a claim carries a lease, so a job whose worker
died is taken again once the lease runs out. The lease can be short (seconds) because a
heartbeat renews it while the job runs; a worker that finds its job taken (it stalled past
the lease) stops the job's work, and every change it makes to the job afterwards (complete,
retry, fail) is a compare-and-set on its claim, so a job is never recorded done twice.

A worker runs up to `concurrency` jobs at once, claimed together when it has room for
several: processing a small file is mostly waiting (on clamd, the store, the database), so
one job at a time leaves a process idle while uploads pile up. Two kinds of failure are told
apart:
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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

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
        concurrency: int = 1,
    ) -> None:
        """With `only_its_kinds`, this worker claims only jobs it has a handler for: a lane
        of its own, so long jobs (extracts) never hold up short ones (processing)."""
        if concurrency < 1:
            raise ValueError("a worker runs at least one job at a time")
        self._queue = queue
        self._handlers = dict(handlers)
        self._kinds = frozenset(self._handlers) if only_its_kinds else None
        self._give_up = dict(give_up or {})
        self._poll_seconds = poll_seconds
        self._lease = lease
        self._max_attempts = max_attempts
        self._clock = clock
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Run due jobs now rather than at the next poll (called after an enqueue commits)."""
        self._wake.set()

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the jobs in flight have finished."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Work until `stop()`; a failing database only delays the next poll."""
        await self._work(limit=None)

    async def run_due(self, limit: int = 100) -> int:
        """Run up to `limit` due jobs, `concurrency` at a time; returns how many ran."""
        return await self._work(limit=limit)

    async def _work(self, limit: int | None) -> int:
        """Keep up to `concurrency` jobs in flight; with a `limit`, end when that many ran
        or none is due, else poll until stopped. Cancelled, every job in flight is stopped
        and handed back (`_hand_back`)."""
        in_flight: set[asyncio.Task[None]] = set()
        claimed = 0
        try:
            while not self._stopping and (limit is None or claimed < limit):
                room = self._concurrency - len(in_flight)
                if limit is not None:
                    room = min(room, limit - claimed)
                jobs: Sequence[Job] = []
                if room > 0:
                    # Cleared before the claim: an enqueue committed after it wakes the wait.
                    self._wake.clear()
                    jobs = await self._claim(room, outage_is_logged=limit is None)
                for job in jobs:
                    in_flight.add(asyncio.create_task(self._run_logged(job)))
                claimed += len(jobs)
                if len(jobs) == room:
                    if in_flight and room == 0:
                        await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                elif limit is not None and not in_flight:
                    break  # nothing due, nothing running
                else:
                    await self._until_room_or_wake(in_flight, poll=limit is None)
                in_flight = {task for task in in_flight if not task.done()}
            if in_flight:
                await asyncio.wait(in_flight)
        except asyncio.CancelledError:
            for task in in_flight:
                task.cancel()  # each hands its job back, within bounded waits
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        return claimed

    async def _claim(self, room: int, *, outage_is_logged: bool) -> Sequence[Job]:
        try:
            return await self._queue.claim_batch(self._clock(), self._lease, self._kinds, room)
        except Exception:
            if not outage_is_logged:
                raise
            log.exception("job queue unavailable")
            return []

    async def _until_room_or_wake(
        self, in_flight: set[asyncio.Task[None]], *, poll: bool
    ) -> None:
        """Nothing more is due: wait for a job to finish (room, and maybe due work), or,
        polling, for an enqueue's wake-up or the next poll."""
        if not poll:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            return
        woken = asyncio.ensure_future(self._wake.wait())
        waits: set[asyncio.Future[Any]] = {woken, *in_flight}
        try:
            await asyncio.wait(
                waits, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()

    async def _run_logged(self, job: Job) -> None:
        try:
            await self._run_one(job)
        except Exception:
            # Its outcome could not be recorded (the database went away under it): the claim
            # stands until its lease runs out, then the job runs again.
            log.exception("job outcome not recorded", extra={"job_id": job.id, "kind": job.kind})

    async def _run_one(self, job: Job) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            await self._queue.fail(job, f"no handler for job kind {job.kind!r}")
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
            _lost_lease(job)
            return
        try:
            work.result()
        except Exception as exc:
            await self._after_failure(job, exc)
        else:
            await self._complete(job, started)

    async def _complete(self, job: Job, started: float) -> None:
        if not await self._queue.complete(job):
            _lost_lease(job)  # stalled past its lease; the job is another claim's now
            return
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
            # Renewed first: the hook acts on the job's subject (processing marks the file
            # failed), which must not happen under a run that took the job over meanwhile;
            # once renewed, no other worker can take it for a whole lease.
            if not await self._queue.renew(job, self._clock() + self._lease):
                _lost_lease(job)
                return
            if give_up is not None:
                await give_up(job, reason)
            if await self._queue.fail(job, reason):
                where = {"job_id": job.id, "kind": job.kind, "error": reason}
                log.error("job gave up", extra=where)
            return
        if not outage:
            log.warning("job failed", exc_info=exc, extra={"job_id": job.id, "kind": job.kind})
        delay = backoff(job.attempts)
        if not await self._queue.retry(job, self._clock() + delay, reason):
            _lost_lease(job)
            return
        log.warning(
            "job will retry",
            extra={"job_id": job.id, "kind": job.kind, "error": reason, "in_s": delay.seconds},
        )


def _lost_lease(job: Job) -> None:
    log.warning("job lost its lease", extra={"job_id": job.id, "kind": job.kind})


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))
