"""The object store port: a narrow protocol keyed by storage key, with backends beside it.

Backends turn their SDK's errors into the errors below, so no `obstore`, `botocore` or
`OSError` escapes `ports/`. Keys are made by the core (never from client filenames) and are
`/`-separated relative paths of safe characters.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from filedock.core.errors import Unavailable
from filedock.ports.presign import Presigner

CHUNK_SIZE = 1024 * 1024


class ObjectStoreError(Exception):
    """Base of every error a store backend raises."""


class ObjectNotFound(ObjectStoreError):
    pass


class ObjectTooLarge(ObjectStoreError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"object exceeds {limit} bytes")
        self.limit = limit


class StoreUnavailable(ObjectStoreError, Unavailable):
    """The backend could not be reached or failed; the operation may be retried."""


class InvalidKey(ObjectStoreError):
    pass


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a completed write produced: computed while the bytes passed."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectStore(Presigner, Protocol):
    """Also signs URLs for clients to reach objects directly (`Presigner`)."""

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> StoredObject:
        """Stream `chunks` into `key`, hashing as they pass; all or nothing.

        Raises `ObjectTooLarge` as soon as more than `max_bytes` arrive; then no object and
        no temporary file remain. A reader never sees a half-written object. If `chunks`
        raises, its exception propagates and nothing remains either.
        """
        ...

    async def head(self, key: str) -> ObjectInfo: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start` up to, not including, `end`; raises `ObjectNotFound` on first pull."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""
        ...

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]: ...

    def local_path(self, key: str) -> Path | None:
        """The file holding `key` on this host, for zero-copy sends; None for remote stores."""
        ...

    async def remove_unfinished_writes(self, idle_for: timedelta) -> int:
        """Remove writes that were never finished and have not been written to for `idle_for`.

        Returns how many. Idle time, not age: a write in progress keeps touching what it
        writes, so a live upload of any length is never removed, while a writer that died
        (a killed server) stops touching it.
        """
        ...

    async def check(self) -> None:
        """Raise `StoreUnavailable` unless the store answers."""
        ...

    def key_in_notification(self, bucket: str, object_name: str) -> str | None:
        """Our key for an object a bucket notification names; None if it is not one of ours."""
        ...

    async def close(self) -> None: ...
