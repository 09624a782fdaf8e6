"""The catalogue's ports: where items are kept, who can maintain them, what reads a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from filedock.core.catalogue_model import CatalogueItem, ColumnSpec, NewCatalogueItem


class ItemNameTaken(Exception):
    """An item with this name exists already."""


class CatalogueItems(Protocol):
    async def insert(self, item: NewCatalogueItem) -> CatalogueItem:
        """Store a new item and return it with its id; `ItemNameTaken` if the name is used."""
        ...

    async def get(self, item_id: int) -> CatalogueItem | None: ...

    async def search(self, text: str, *, limit: int) -> list[CatalogueItem]:
        """Items whose name contains `text`, case-insensitively, by name."""
        ...

    async def update(self, expected: CatalogueItem, item: CatalogueItem) -> bool:
        """Write `item`'s fields if the stored item still has `expected.revision`; False (and
        nothing written) if it changed or is gone; `ItemNameTaken` if renamed onto another."""
        ...

    async def delete(self, item_id: int) -> int:
        """Delete the item unless live download requests hold it; how many hold it.

        0 means deleted (or there was no such item). Atomic against a request being created
        for the item at the same moment: that request either is counted here (and the item
        stays) or finds the item gone, never a live request left without its item.
        """
        ...

    async def live_download_requests(self, item_id: int) -> int:
        """Download requests for the item that are live: neither failed nor cancelled (they
        block its deletion)."""
        ...


class DatasetProfiler(Protocol):
    async def profile(self, location: str) -> DatasetProfile:
        """Read the dataset at `location`: its columns' spec and a few sample rows.

        Raises `DatasetUnreadable` with a reason a person can act on.
        """
        ...


class DatasetUnreadable(Exception):
    """The dataset is missing, not Parquet/CSV, or cannot be read."""


class DatasetProfile:
    """What profiling found: one `ColumnSpec` per column and a small sample of rows."""

    def __init__(self, spec: Sequence[ColumnSpec], sample: Sequence[dict[str, object]]) -> None:
        self.spec = list(spec)
        self.sample = list(sample)
