"""The API key port: keys for trusted back-ends, stored by the hash of the key only."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol

from filedock.core.account_model import ApiKey


class ApiKeyNameTaken(Exception):
    """A key with this name exists already (revoked keys keep their name)."""


class ApiKeyStore(Protocol):
    async def insert(self, key: ApiKey) -> None:
        """Add a key; raise `ApiKeyNameTaken` if the name exists."""
        ...

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose sha256 hex is `key_hash`, revoked or not."""
        ...

    async def revoke(self, name: str, when: datetime) -> bool:
        """Mark the key revoked at `when` unless it is already; False if no key has the name."""
        ...

    # `builtins.list`: a bare `list` in this class body would name the method.
    async def list(self) -> builtins.list[ApiKey]:
        """Every key, oldest first."""
        ...
