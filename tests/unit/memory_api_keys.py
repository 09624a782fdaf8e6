"""An in-memory `ApiKeyStore`, so the key service's unit tests (and faces' tests) need no I/O.

A double of our own protocol, not a mock: the SQL store is tested against real databases in
tests/integration/test_api_keys_sql.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from filedock.core.account_model import ApiKey
from filedock.ports.api_keys import ApiKeyNameTaken


@dataclass
class MemoryApiKeys:
    keys: dict[str, ApiKey] = field(default_factory=dict)
    lookups: int = 0

    async def insert(self, key: ApiKey) -> None:
        if key.name in self.keys:
            raise ApiKeyNameTaken(key.name)
        self.keys[key.name] = key

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        self.lookups += 1
        return next((k for k in self.keys.values() if k.key_hash == key_hash), None)

    async def revoke(self, name: str, when: datetime) -> bool:
        key = self.keys.get(name)
        if key is None:
            return False
        if key.revoked_at is None:
            self.keys[name] = replace(key, revoked_at=when)
        return True

    async def list(self) -> list[ApiKey]:
        return sorted(self.keys.values(), key=lambda k: (k.created_at, k.name))
