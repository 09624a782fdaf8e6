"""The schedules ports on SQLAlchemy: `ScheduleOwners` (one row per schedule, written by its
first claim) and `ScheduleParticipants` (one row per declared party)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.models import ScheduleParticipantRow, ScheduleRow
from filedock.db.session import dialect_insert

# Names this module's PostgreSQL advisory locks apart from any other user of advisory locks.
_PARTICIPANTS_LOCK = "filedock:schedule_participants:"


class SqlScheduleOwners:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, schedule_id: str, user_id: str, now: datetime) -> str:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                insert = dialect_insert(session)
                # ON CONFLICT DO NOTHING rather than read-then-insert: the primary key decides
                # between racing first claims, and the loser neither fails nor overwrites.
                await session.execute(
                    insert(ScheduleRow)
                    .values(id=schedule_id, owner_id=user_id, created_at=now)
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                # On PostgreSQL a conflicting insert waits for the winner's commit, and under
                # READ COMMITTED this next statement sees it; SQLite has one writer at a time.
                owner = await session.scalar(
                    select(ScheduleRow.owner_id).where(ScheduleRow.id == schedule_id)
                )
        if owner is None:  # rows are never deleted, so the row just inserted or kept is there
            raise RuntimeError(f"schedule {schedule_id!r} has no owner right after a claim")
        return owner

    async def owner(self, schedule_id: str) -> str | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                return await session.scalar(
                    select(ScheduleRow.owner_id).where(ScheduleRow.id == schedule_id)
                )


class SqlScheduleParticipants:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def participants(self, schedule_id: str) -> frozenset[str]:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                subjects = await session.scalars(
                    select(ScheduleParticipantRow.subject).where(
                        ScheduleParticipantRow.schedule_id == schedule_id
                    )
                )
                return frozenset(subjects)

    async def replace(self, schedule_id: str, subjects: frozenset[str], now: datetime) -> None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                if session.get_bind().dialect.name == "postgresql":
                    # Under READ COMMITTED two replacements could each delete the rows they
                    # saw and both insert theirs: a mix of two lists. A lock per schedule,
                    # held to commit, puts them one after the other; SQLite has one writer
                    # at a time already.
                    await session.execute(
                        select(func.pg_advisory_xact_lock(_lock_key(schedule_id)))
                    )
                # Those kept keep their row (and the time they were first declared).
                await session.execute(
                    delete(ScheduleParticipantRow).where(
                        ScheduleParticipantRow.schedule_id == schedule_id,
                        ScheduleParticipantRow.subject.not_in(subjects),
                    )
                )
                if subjects:
                    insert = dialect_insert(session)
                    await session.execute(
                        insert(ScheduleParticipantRow)
                        .values(
                            [
                                {"schedule_id": schedule_id, "subject": s, "created_at": now}
                                for s in sorted(subjects)
                            ]
                        )
                        .on_conflict_do_nothing(index_elements=["schedule_id", "subject"])
                    )


def _lock_key(schedule_id: str) -> int:
    """A schedule's advisory lock: a signed 64-bit number, as PostgreSQL takes it."""
    digest = hashlib.sha256((_PARTICIPANTS_LOCK + schedule_id).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
