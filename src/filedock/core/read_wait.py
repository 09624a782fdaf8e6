"""How a read of a file still being processed waits for processing's outcome.

Every read that serves bytes waits here first (hasura GET, signed-url download-url,
schedules get_s3_object): the record is polled until processing decides or the wait ends,
and a decision made in this process wakes the read at once (`Decisions`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import timedelta

from filedock.core.model import File, FileStatus

# How long a read of a file still being processed waits for the outcome (seeds 000, 001 and
# 004 read right after an upload, and know no 409 there); FILEDOCK_READ_WAIT_SECONDS.
DEFAULT_READ_WAIT = timedelta(seconds=10)


class Decisions:
    """Wakes the reads waiting in this process for a file when processing here decides it.

    Without it a read learns of the outcome at its next poll, up to `ReadWait.max_poll`
    later; a decision made by another process (`filedock worker`) is still found that way.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def waiting_for(self) -> set[str]:
        """The ids some read is waiting on now."""
        return set(self._waiting)

    def decided(self, file_id: str) -> None:
        for event in self._waiting.get(file_id, ()):
            event.set()

    @contextmanager
    def awaited(self, file_id: str) -> Iterator[asyncio.Event]:
        """An event set when `file_id` is decided, for as long as the block runs."""
        event = asyncio.Event()
        waiting = self._waiting.setdefault(file_id, set())
        waiting.add(event)
        try:
            yield event
        finally:
            waiting.discard(event)
            if not waiting:
                del self._waiting[file_id]


@dataclass(frozen=True, slots=True)
class ReadWait:
    """How long a read of a file still being processed waits for the outcome.

    The record is polled with short sleeps growing from `first_poll` to `max_poll` seconds;
    each poll borrows a pooled connection for its one query only, so a waiting read holds
    none. With `decisions`, a decision made in this process ends a sleep at once. The clock
    and the sleep are injectable, for tests.
    """

    limit: timedelta = DEFAULT_READ_WAIT
    first_poll: float = 0.1
    max_poll: float = 0.25
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    decisions: Decisions | None = None


# What processing has still to decide. A `pending` file waits for bytes nobody may be
# sending: it is answered at once, after its reader checked the store for them.
_ON_ITS_WAY = frozenset({FileStatus.UPLOADED, FileStatus.PROCESSING})


async def settled(read: Callable[[], Awaitable[File]], wait: ReadWait) -> File:
    """The file `read` returns once processing has decided, or as it is when `wait` ends.

    Every read that serves bytes comes here first (hasura GET, signed-url download-url,
    schedules get_s3_object); `servable` then serves or refuses what it returns.
    """
    file = await read()
    if file.status not in _ON_ITS_WAY:
        return file
    deadline = wait.monotonic() + wait.limit.total_seconds()
    pause = wait.first_poll
    # Watched from the first read on: a decision in between is found by the next poll.
    with nullcontext() if wait.decisions is None else wait.decisions.awaited(file.id) as decided:
        while file.status in _ON_ITS_WAY:
            remaining = deadline - wait.monotonic()
            if remaining <= 0:
                break
            await _pause(wait, decided, min(pause, remaining))
            pause = min(pause * 2, wait.max_poll)
            file = await read()
    return file


async def _pause(wait: ReadWait, decided: asyncio.Event | None, seconds: float) -> None:
    """Sleep `seconds`, or less if the file is decided in this process meanwhile."""
    if decided is None:
        await wait.sleep(seconds)
        return
    with suppress(TimeoutError):
        await asyncio.wait_for(decided.wait(), seconds)
    decided.clear()
