"""Records of who may call: cosphere accounts, their auth requests, and back-ends' API keys.

Plain records shared by the services (`core.accounts`, `core.auth_requests`, `core.api_keys`)
and the ports that store them; they live apart from the services so that a port never needs
a service module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from filedock.core.principal import ADMIN_ROLE, COSPHERE_REALM, Principal

RESEARCHER_ROLE = "researcher"


class AccountType(StrEnum):
    ADMIN = "ADMIN"
    RESEARCHER = "RESEARCHER"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    type: AccountType
    created_at: datetime
    updated_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.type is AccountType.ADMIN

    @property
    def principal(self) -> Principal:
        """The caller this account is to the rest of the core: ADMIN accounts are admins."""
        role = ADMIN_ROLE if self.is_admin else RESEARCHER_ROLE
        return Principal(COSPHERE_REALM, str(self.id), role, self.email)


@dataclass(frozen=True, slots=True)
class AuthRequest:
    uuid: str
    created_at: datetime
    expires_at: datetime
    account_id: int | None = None
    attached_at: datetime | None = None
    exchanged_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """What a verified ID token says: the provider's subject and a verified email."""

    subject: str
    email: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: everything but the key itself, which is shown once at creation."""

    id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
