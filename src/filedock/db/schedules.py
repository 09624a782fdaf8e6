"""`ScheduleOwners` on SQLAlchemy: one row per schedule, written by its first claim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.models import ScheduleRow

# Both dialects spell insert-if-absent the same way; the generic `insert` has no such clause.
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class SqlScheduleOwners:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, schedule_id: str, user_id: str, now: datetime) -> str:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                insert = _INSERTS[session.get_bind().dialect.name]
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
