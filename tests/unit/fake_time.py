"""A monotonic clock and a sleep that only move when the code under test sleeps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from filedock.core.read_wait import ReadWait


@dataclass
class FakeTime:
    """Sleeping advances the clock at once; `on_sleep` runs what would happen meanwhile."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[], Awaitable[None]] | None = None

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            await self.on_sleep()

    def read_wait(self, seconds: float = 10) -> ReadWait:
        return ReadWait(
            limit=timedelta(seconds=seconds), monotonic=self.monotonic, sleep=self.sleep
        )
