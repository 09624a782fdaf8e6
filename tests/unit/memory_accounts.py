"""In-memory account and auth-request stores and a verifier double, so the account services'
unit tests (and faces' tests) need no I/O.

Doubles of our own protocols, not mocks: the SQL stores run against real databases in
tests/integration/test_cosphere_accounts.py and test_cli_accounts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from filedock.core.account_model import Account, AccountType, AuthRequest, VerifiedIdentity
from filedock.core.auth_requests import IdTokenRefused
from filedock.ports.accounts import EmailTaken


@dataclass
class MemoryAccounts:
    accounts: dict[int, Account] = field(default_factory=dict)
    next_id: int = 1

    async def insert(self, email: str, type: AccountType, when: datetime) -> Account:
        if any(a.email == email for a in self.accounts.values()):
            raise EmailTaken(email)
        account = Account(self.next_id, email, type, when, when)
        self.accounts[account.id] = account
        self.next_id += 1
        return account

    async def get(self, account_id: int) -> Account | None:
        return self.accounts.get(account_id)

    async def find_by_email(self, email: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.email == email), None)

    async def set_type(self, account_id: int, type: AccountType, when: datetime) -> Account | None:
        account = self.accounts.get(account_id)
        if account is None:
            return None
        self.accounts[account_id] = replace(account, type=type, updated_at=when)
        return self.accounts[account_id]

    async def delete(self, account_id: int) -> bool:
        return self.accounts.pop(account_id, None) is not None


@dataclass
class MemoryAuthRequests:
    requests: dict[str, AuthRequest] = field(default_factory=dict)

    async def insert(self, request: AuthRequest) -> None:
        self.requests[request.uuid] = request

    async def get(self, request_uuid: str) -> AuthRequest | None:
        return self.requests.get(request_uuid)

    async def attach(self, request_uuid: str, account_id: int, when: datetime) -> bool:
        request = self.requests.get(request_uuid)
        if request is None or request.account_id is not None or request.exchanged_at:
            return False
        self.requests[request_uuid] = replace(request, account_id=account_id, attached_at=when)
        return True

    async def exchange(self, request_uuid: str, when: datetime) -> bool:
        request = self.requests.get(request_uuid)
        if request is None or request.account_id is None or request.exchanged_at:
            return False
        self.requests[request_uuid] = replace(request, exchanged_at=when)
        return True

    async def purge(self, expired_before: datetime) -> int:
        old = [u for u, r in self.requests.items() if r.expires_at < expired_before]
        for request_uuid in old:
            del self.requests[request_uuid]
        return len(old)


@dataclass
class KnownCodes:
    """A verifier double: each code it was told of names an email; anything else is refused."""

    codes: dict[str, str] = field(default_factory=dict)
    calls: int = 0

    async def verify(self, id_token: str) -> VerifiedIdentity:
        self.calls += 1
        email = self.codes.get(id_token)
        if email is None:
            raise IdTokenRefused("id token signature is invalid")
        return VerifiedIdentity(subject=f"sub-{email}", email=email)


class SteppedClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
