"""`AccountStore` and `AuthRequestStore` on SQLAlchemy.

Attaching and exchanging are single conditional UPDATEs, so two concurrent calls on one auth
request cannot both succeed, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filedock.core.account_model import Account, AccountType, AuthRequest
from filedock.db.errors import unavailable_on_connection_errors
from filedock.db.models import AccountRow, AuthRequestRow
from filedock.ports.accounts import EmailTaken


class SqlAccountStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, email: str, type: AccountType, when: datetime) -> Account:
        row = AccountRow(email=email, type=type.value, created_at=when, updated_at=when)
        with unavailable_on_connection_errors():
            try:
                async with self._sessions.begin() as session:
                    session.add(row)
                    # The id comes from the database's sequence.
                    await session.flush()
                    return _to_account(row)
            except IntegrityError:
                # The email is the only unique column besides the generated id.
                raise EmailTaken(email) from None

    async def get(self, account_id: int) -> Account | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                row = await session.get(AccountRow, account_id)
                return None if row is None else _to_account(row)

    async def find_by_email(self, email: str) -> Account | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                row = await session.scalar(select(AccountRow).where(AccountRow.email == email))
                return None if row is None else _to_account(row)

    async def set_type(self, account_id: int, type: AccountType, when: datetime) -> Account | None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                row = await session.get(AccountRow, account_id)
                if row is None:
                    return None
                row.type = type.value
                row.updated_at = when
                return _to_account(row)

    async def delete(self, account_id: int) -> bool:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                # Explicit as well as ON DELETE CASCADE: the cascade needs SQLite's
                # foreign_keys pragma, which a connection made elsewhere may not set.
                await session.execute(
                    delete(AuthRequestRow).where(AuthRequestRow.account_id == account_id)
                )
                result: Any = await session.execute(
                    delete(AccountRow).where(AccountRow.id == account_id)
                )
                return bool(result.rowcount)


class SqlAuthRequestStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, request: AuthRequest) -> None:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                session.add(
                    AuthRequestRow(
                        uuid=request.uuid,
                        account_id=request.account_id,
                        created_at=request.created_at,
                        expires_at=request.expires_at,
                        attached_at=request.attached_at,
                        exchanged_at=request.exchanged_at,
                    )
                )

    async def get(self, request_uuid: str) -> AuthRequest | None:
        with unavailable_on_connection_errors():
            async with self._sessions() as session:
                row = await session.get(AuthRequestRow, request_uuid)
                return None if row is None else _to_request(row)

    async def attach(self, request_uuid: str, account_id: int, when: datetime) -> bool:
        statement = (
            update(AuthRequestRow)
            .where(
                AuthRequestRow.uuid == request_uuid,
                AuthRequestRow.account_id.is_(None),
                AuthRequestRow.exchanged_at.is_(None),
            )
            .values(account_id=account_id, attached_at=when)
        )
        return await self._changed_one(statement)

    async def exchange(self, request_uuid: str, when: datetime) -> bool:
        statement = (
            update(AuthRequestRow)
            .where(
                AuthRequestRow.uuid == request_uuid,
                AuthRequestRow.account_id.is_not(None),
                AuthRequestRow.exchanged_at.is_(None),
            )
            .values(exchanged_at=when)
        )
        return await self._changed_one(statement)

    async def purge(self, expired_before: datetime) -> int:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                result: Any = await session.execute(
                    delete(AuthRequestRow).where(AuthRequestRow.expires_at < expired_before)
                )
                return int(result.rowcount or 0)

    async def _changed_one(self, statement: Any) -> bool:
        with unavailable_on_connection_errors():
            async with self._sessions.begin() as session:
                result: Any = await session.execute(statement)
                return bool(result.rowcount == 1)


def _to_account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        type=AccountType(row.type),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _to_request(row: AuthRequestRow) -> AuthRequest:
    return AuthRequest(
        uuid=row.uuid,
        created_at=row.created_at,
        expires_at=row.expires_at,
        account_id=row.account_id,
        attached_at=row.attached_at,
        exchanged_at=row.exchanged_at,
    )
