"""`CatalogueItems` on SQLAlchemy: one row per item, spec and sample as JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.core.catalogue_model import CatalogueItem, ExecutorType, NewCatalogueItem
from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.models import CatalogueItemRow, DownloadRequestRow
from filedock.ports.catalogue import ItemNameTaken

# Download requests in these states no longer hold their item.
_FINISHED_REQUEST_STATES = ("CANCELLED",)


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

    async def delete(self, item_id: int) -> None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                await session.execute(
                    delete(CatalogueItemRow).where(CatalogueItemRow.id == item_id)
                )

    async def live_download_requests(self, item_id: int) -> int:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                count = await session.scalar(
                    select(func.count())
                    .select_from(DownloadRequestRow)
                    .where(
                        DownloadRequestRow.catalogue_item_id == item_id,
                        DownloadRequestRow.status.not_in(_FINISHED_REQUEST_STATES),
                    )
                )
                return int(count or 0)


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
    )
