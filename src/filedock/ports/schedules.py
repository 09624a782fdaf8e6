"""The schedules port: who owns a schedule (seed 000's documents hang off schedules).

A schedule is created by the first document attached to it, and belongs to that user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ScheduleOwners(Protocol):
    async def claim(self, schedule_id: str, user_id: str, now: datetime) -> str:
        """Make `user_id` the owner of `schedule_id` unless it has one; return the owner.

        Safe under concurrency: of two first claims, exactly one wins, and both callers
        are told the winner.
        """
        ...

    async def owner(self, schedule_id: str) -> str | None:
        """The schedule's owner, or None if no document was ever attached to it."""
        ...
