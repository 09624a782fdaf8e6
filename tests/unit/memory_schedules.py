"""In-memory `ScheduleOwners` and `ScheduleParticipants`, so core unit tests need no database.

A double of our own protocol, not a mock: the SQL adapter is tested against real databases in
tests/integration/test_schedules_sql.py and
tests/integration/test_schedule_participants_sql.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class MemoryScheduleOwners:
    owners: dict[str, str] = field(default_factory=dict)
    claimed_at: dict[str, datetime] = field(default_factory=dict)

    async def claim(self, schedule_id: str, user_id: str, now: datetime) -> str:
        # No await between the check and the write, so concurrent claims cannot interleave.
        if schedule_id not in self.owners:
            self.owners[schedule_id] = user_id
            self.claimed_at[schedule_id] = now
        return self.owners[schedule_id]

    async def owner(self, schedule_id: str) -> str | None:
        return self.owners.get(schedule_id)


@dataclass
class MemoryScheduleParticipants:
    declared: dict[str, frozenset[str]] = field(default_factory=dict)

    async def participants(self, schedule_id: str) -> frozenset[str]:
        return self.declared.get(schedule_id, frozenset())

    async def replace(self, schedule_id: str, subjects: frozenset[str], now: datetime) -> None:
        # One assignment, no await: a replacement is never seen half done.
        self.declared[schedule_id] = frozenset(subjects)
