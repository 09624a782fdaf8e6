"""The metadata port: file records, written together with the jobs they start."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from filedock.core.errors import Unavailable
from filedock.core.model import File, FileStatus
from filedock.ports.jobs import JobRequest


class FileIdTaken(Exception):
    """A record with this id exists already."""


class MetadataUnavailable(Unavailable):
    """The database could not be reached."""


class FileRecords(Protocol):
    """File rows. Writes are compare-and-set on `File.revision`; use them via core.lifecycle."""

    async def insert(self, file: File, *, then: Sequence[JobRequest] = ()) -> None:
        """Add a record and enqueue `then` with it; raise `FileIdTaken` if the id exists."""
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
        updated_before: datetime | None = None,
        limit: int = 100,
    ) -> list[File]:
        """Records matching every given filter, oldest first."""
        ...

    async def replace(self, expected: File, new: File, *, then: Sequence[JobRequest] = ()) -> bool:
        """Write `new` over the record if it still has `expected.revision`; enqueue `then`
        in the same transaction (an outbox). False, and nothing written, if it changed.
        `new` has `expected`'s id (`ValueError` otherwise)."""
        ...

    async def remove(self, expected: File) -> bool:
        """Delete the record if it still has `expected.revision`; False if it changed."""
        ...

    async def page(self, *, after_id: str | None, limit: int) -> list[File]:
        """Up to `limit` records with ids after `after_id` (from the start if None), by id.

        For walks over every record (the reconciler) that never hold more than one page.
        """
        ...

    async def owned_page(
        self,
        owner_realm: str,
        owner_id: str,
        *,
        statuses: Collection[FileStatus],
        after_id: str | None,
        limit: int,
    ) -> list[File]:
        """Up to `limit` records of one owner whose status is one of `statuses`, with ids
        after `after_id` (from the start if None), by id: a keyset page of a listing."""
        ...

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` that some record has as its storage key.

        Meant for batches of a few hundred keys, each answered in one query.
        """
        ...

    async def check(self) -> None:
        """Raise `MetadataUnavailable` unless the database answers."""
        ...
