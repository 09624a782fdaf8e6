"""A direct upload's body kept in memory on its way to the store, to be decided on arrival.

A body of at most `ARRIVAL_DECISION_BYTES` is whole in memory by the time its record is made,
so processing's rules can decide it there (`FileProcessor.decide_on_arrival`) instead of a job
reading it back from the store; a larger one is passed on and forgotten as it goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from filedock.core.model import File

# Processing sniffs the first 64 KiB of a file: a body this small is its own whole head.
ARRIVAL_DECISION_BYTES = 64 * 1024


class ArrivingBody:
    """`source`'s chunks, passed on in order, kept while no more than the limit has passed."""

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self._source = source
        self._kept: list[bytes] | None = []
        self._size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            self._size += len(chunk)
            if self._kept is not None:
                if self._size > ARRIVAL_DECISION_BYTES:
                    self._kept = None
                else:
                    self._kept.append(chunk)
            yield chunk

    @property
    def whole(self) -> bytes | None:
        """Every byte that passed, if no more than `ARRIVAL_DECISION_BYTES` did; else None."""
        return None if self._kept is None else b"".join(self._kept)


class ArrivalDecisions(Protocol):
    async def decide_on_arrival(self, file: File, body: ArrivingBody) -> File | None:
        """`file` decided from `body` (its new status and measurements), or None: its job's."""
        ...
