"""The schedules ports: who owns a schedule (seed 000's documents hang off schedules), and
who else takes part in it.

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


class ScheduleParticipants(Protocol):
    """The parties a trusted back-end declared for a schedule (Cognito subjects).

    Declared apart from the owner: a schedule may have participants before anyone attached a
    document to it, and its owner is still whoever attaches first.
    """

    async def participants(self, schedule_id: str) -> frozenset[str]:
        """The declared participants; empty if none were ever declared."""
        ...

    async def replace(self, schedule_id: str, subjects: frozenset[str], now: datetime) -> None:
        """Make `subjects` the schedule's participants, dropping the others, all at once.

        Concurrent replacements of one schedule leave exactly one of their lists, never a mix.
        """
        ...
