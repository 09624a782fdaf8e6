"""In-memory doubles of the catalogue's ports, for the core's unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from filedock.core.account_model import Account, AccountType
from filedock.core.catalogue_model import CatalogueItem, NewCatalogueItem
from filedock.ports.catalogue import DatasetProfile, DatasetUnreadable, ItemNameTaken


@dataclass
class MemoryCatalogueItems:
    items: dict[int, CatalogueItem] = field(default_factory=dict)
    live_requests: dict[int, int] = field(default_factory=dict)
    next_id: int = 1

    async def insert(self, item: NewCatalogueItem) -> CatalogueItem:
        if any(existing.name == item.name for existing in self.items.values()):
            raise ItemNameTaken(item.name)
        now = datetime.now(UTC)
        stored = CatalogueItem(id=self.next_id, created_at=now, updated_at=now, **vars_of(item))
        self.items[stored.id] = stored
        self.next_id += 1
        return stored

    async def get(self, item_id: int) -> CatalogueItem | None:
        return self.items.get(item_id)

    async def search(self, text: str, *, limit: int) -> list[CatalogueItem]:
        found = [i for i in self.items.values() if text.lower() in i.name.lower()]
        return sorted(found, key=lambda i: i.name)[:limit]

    async def update(self, expected: CatalogueItem, item: CatalogueItem) -> bool:
        current = self.items.get(expected.id)
        if current is None or current.revision != expected.revision:
            return False
        if any(i.name == item.name and i.id != item.id for i in self.items.values()):
            raise ItemNameTaken(item.name)
        self.items[item.id] = replace(item)
        return True

    async def delete(self, item_id: int) -> int:
        live = self.live_requests.get(item_id, 0) if item_id in self.items else 0
        if not live:
            self.items.pop(item_id, None)
        return live

    async def live_download_requests(self, item_id: int) -> int:
        return self.live_requests.get(item_id, 0)


@dataclass
class KnownAccounts:
    """Just enough of the accounts port for the catalogue: accounts by id."""

    accounts: dict[int, Account] = field(default_factory=dict)

    async def get(self, account_id: int) -> Account | None:
        return self.accounts.get(account_id)


def accounts_with(*ids: int) -> KnownAccounts:
    now = datetime.now(UTC)
    return KnownAccounts(
        {i: Account(i, f"user{i}@example.org", AccountType.RESEARCHER, now, now) for i in ids}
    )


@dataclass
class CannedProfiler:
    profiles: dict[str, DatasetProfile] = field(default_factory=dict)

    async def profile(self, location: str) -> DatasetProfile:
        if location not in self.profiles:
            raise DatasetUnreadable(f"no Parquet or CSV file at {location}")
        return self.profiles[location]


def vars_of(item: NewCatalogueItem) -> dict[str, object]:
    return {name: getattr(item, name) for name in NewCatalogueItem.__dataclass_fields__}
