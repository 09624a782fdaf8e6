"""The metadata port: file records, written together with the jobs they start."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from filedock.core.model import File, FileStatus
from filedock.ports.jobs import JobRequest


class FileIdTaken(Exception):
    """A record with this id exists already."""


class MetadataUnavailable(Exception):
    """The database could not be reached."""


class FileRecords(Protocol):
    async def insert(self, file: File) -> None:
        """Add a record; raise `FileIdTaken` if the id exists."""
        ...

    async def get(self, file_id: str) -> File | None: ...

    async def find_by_key(self, storage_key: str) -> File | None: ...

    async def find_by_parent(self, kind: str, parent_id: str) -> list[File]:
        """The files attached to one parent (a schedule, an upload command), oldest first."""
        ...

    async def find(
        self,
        *,
        status: FileStatus | None = None,
        expires_before: datetime | None = None,
        limit: int = 100,
    ) -> list[File]:
        """Records matching every given filter, oldest first."""
        ...

    async def save(self, file: File, *, then: Sequence[JobRequest] = ()) -> None:
        """Update a record and enqueue `then` in the same transaction (an outbox)."""
        ...

    async def remove(self, file_id: str) -> None: ...

    async def page(self, *, after_id: str | None, limit: int) -> list[File]:
        """Up to `limit` records with ids after `after_id` (from the start if None), by id.

        For walks over every record (the reconciler) that never hold more than one page.
        """
        ...

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` that some record has as its storage key.

        Meant for batches of a few hundred keys, each answered in one query.
        """
        ...

    async def check(self) -> None:
        """Raise `MetadataUnavailable` unless the database answers."""
        ...
