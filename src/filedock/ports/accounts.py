"""The account ports: accounts, auth requests, and the identity provider's ID-token check."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from filedock.core.account_model import Account, AccountType, AuthRequest, VerifiedIdentity


class EmailTaken(Exception):
    """An account with this email exists already."""


class AccountStore(Protocol):
    async def insert(self, email: str, type: AccountType, when: datetime) -> Account:
        """Add an account and return it with its new id; raise `EmailTaken` if the email is."""
        ...

    async def get(self, account_id: int) -> Account | None: ...

    async def find_by_email(self, email: str) -> Account | None:
        """The account whose (normalized) email is `email`."""
        ...

    async def set_type(self, account_id: int, type: AccountType, when: datetime) -> Account | None:
        """Change the account's type; None if there is no such account."""
        ...

    async def delete(self, account_id: int) -> bool:
        """Remove the account and its auth requests; False if there was none."""
        ...


class AuthRequestStore(Protocol):
    async def insert(self, request: AuthRequest) -> None: ...

    async def get(self, request_uuid: str) -> AuthRequest | None: ...

    async def attach(self, request_uuid: str, account_id: int, when: datetime) -> bool:
        """Attach the account unless one is attached or the request was exchanged; did it?"""
        ...

    async def exchange(self, request_uuid: str, when: datetime) -> bool:
        """Mark the request exchanged if it has an account and was not exchanged; did it?"""
        ...

    async def purge(self, expired_before: datetime) -> int:
        """Remove requests that expired before `expired_before`; how many went."""
        ...


class IdTokenVerifier(Protocol):
    async def verify(self, id_token: str) -> VerifiedIdentity:
        """Who a genuine ID token names; raise `IdTokenRefused` for anything else."""
        ...
