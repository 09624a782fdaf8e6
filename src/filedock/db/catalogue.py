"""`CatalogueItems` on SQLAlchemy: one row per item, spec and sample as JSON.

Deleting an item and creating a download request for it cannot both win: the deletion locks
the item's row (FOR UPDATE on PostgreSQL), which waits for, and is waited for by, the lock a
request's insert takes on it (the foreign key's KEY SHARE, `db/downloads.py`); on SQLite the
deletion is one statement that deletes only an item no live request holds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.core.catalogue_model import CatalogueItem, ExecutorType, NewCatalogueItem
from filedock.core.download_model import RequestStatus
from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.models import CatalogueItemRow, DownloadRequestRow
from filedock.ports.catalogue import ItemNameTaken

# Download requests in these states no longer hold their item.
_FINISHED_REQUEST_STATES = tuple(s.value for s in RequestStatus if not s.is_live)


class SqlCatalogueItems:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, item: NewCatalogueItem) -> CatalogueItem:
        now = datetime.now(UTC)
        row = CatalogueItemRow(
            name=item.name,
            executor_type=item.executor_type.value,
            spec=item.spec,
            sample=item.sample,
            maintained_by_id=item.maintained_by_id,
            created_by_id=item.created_by_id,
            updated_by_id=item.updated_by_id,
            location=item.location,
            key_columns=list(item.key_columns),
            created_at=now,
            updated_at=now,
            revision=uuid.uuid4().hex,
        )
        with unavailable_on_connection_errors():
            try:
                async with self._sessions.begin() as session:
                    session.add(row)
                    await session.flush()
                    return _to_item(row)
            except IntegrityError:
                raise ItemNameTaken(item.name) from None

    async def get(self, item_id: int) -> CatalogueItem | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                row = await session.get(CatalogueItemRow, item_id)
                return None if row is None else _to_item(row)

    async def search(self, text: str, *, limit: int) -> list[CatalogueItem]:
        # LIKE's own wildcards in the query are literal characters, not patterns.
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(CatalogueItemRow)
                    .where(func.lower(CatalogueItemRow.name).like(f"%{escaped}%", escape="\\"))
                    .order_by(CatalogueItemRow.name)
                    .limit(limit)
                )
                return [_to_item(row) for row in rows]

    async def update(self, expected: CatalogueItem, item: CatalogueItem) -> bool:
        statement = (
            update(CatalogueItemRow)
            .where(
                CatalogueItemRow.id == expected.id,
                CatalogueItemRow.revision == expected.revision,
            )
            .values(
                name=item.name,
                executor_type=item.executor_type.value,
                spec=item.spec,
                sample=item.sample,
                maintained_by_id=item.maintained_by_id,
                updated_by_id=item.updated_by_id,
                location=item.location,
                key_columns=list(item.key_columns),
                updated_at=item.updated_at,
                revision=item.revision,
            )
        )
        with unavailable_on_connection_errors():
            try:
                async with self._sessions.begin() as session:
                    result = await session.execute(statement)
                    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
            except IntegrityError:
                raise ItemNameTaken(item.name) from None

    async def delete(self, item_id: int) -> int:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                # PostgreSQL: waits for requests being inserted for the item to commit (their
                # foreign key holds KEY SHARE on it) and keeps new ones out until this commits;
                # the statements below then see every request that made it. SQLite: no clause.
                await session.execute(
                    select(CatalogueItemRow.id)
                    .where(CatalogueItemRow.id == item_id)
                    .with_for_update()
                )
                # One statement, so that on SQLite (where the SELECT above took no lock) no
                # request can be created between the check and the deletion either. Ended
                # requests go with the item (ON DELETE CASCADE), their waiters with them.
                deleted = await session.execute(
                    delete(CatalogueItemRow).where(
                        CatalogueItemRow.id == item_id, ~_live_requests(item_id).exists()
                    )
                )
                if deleted.rowcount == 1:  # type: ignore[attr-defined]
                    return 0
                # Not deleted: missing (0), or kept by live requests, counted under the same
                # locks (SQLite holds its write lock from the DELETE on).
                return await _count(session, _live_requests(item_id))

    async def live_download_requests(self, item_id: int) -> int:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                return await _count(session, _live_requests(item_id))


def _to_item(row: CatalogueItemRow) -> CatalogueItem:
    return CatalogueItem(
        id=row.id,
        name=row.name,
        executor_type=ExecutorType(row.executor_type),
        spec=list(row.spec or []),
        sample=list(row.sample or []),
        maintained_by_id=row.maintained_by_id,
        created_by_id=row.created_by_id,
        updated_by_id=row.updated_by_id,
        location=row.location,
        created_at=row.created_at,
        updated_at=row.updated_at,
        revision=row.revision,
        key_columns=tuple(row.key_columns or ()),
    )


def _live_requests(item_id: int) -> Select[Any]:
    return select(DownloadRequestRow.id).where(
        DownloadRequestRow.catalogue_item_id == item_id,
        DownloadRequestRow.status.not_in(_FINISHED_REQUEST_STATES),
    )


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    count = await session.scalar(select(func.count()).select_from(query.subquery()))
    return int(count or 0)
