"""`ApiKeyStore` on SQLAlchemy: one row per key, found by the hash of the key."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.core.account_model import ApiKey
from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.models import ApiKeyRow
from filedock.ports.api_keys import ApiKeyNameTaken


class SqlApiKeyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, key: ApiKey) -> None:
        with unavailable_on_connection_errors():
            try:
                async with self._sessions.begin() as session:
                    session.add(_to_row(key))
            except IntegrityError:
                # The name is the only unique column a caller chooses: ids are uuid4 and
                # hashes are of 256 random bits, so neither collides in practice.
                raise ApiKeyNameTaken(key.name) from None

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
                return None if row is None else _to_key(row)

    async def revoke(self, name: str, when: datetime) -> bool:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name))
                if row is None:
                    return False
                # The first revocation's time stays: it is when the key stopped being trusted.
                if row.revoked_at is None:
                    row.revoked_at = when
                return True

    async def list(self) -> builtins.list[ApiKey]:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.name)
                )
                return [_to_key(row) for row in rows]


def _to_row(key: ApiKey) -> ApiKeyRow:
    return ApiKeyRow(
        id=key.id,
        name=key.name,
        key_hash=key.key_hash,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _to_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        key_hash=row.key_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
