"""The one processing job every uploaded byte goes through, whichever face it came by.

It re-reads the stored object, measures and hashes it, and moves the file to `ready`, or to
`failed` when the object is gone or differs from what the upload recorded. Running it twice
is harmless: a file already in a terminal state is left alone. Later stages (type sniffing,
virus scanning, policy checks) join the same pass over the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace

from filedock.core.files import Clock, utc_now
from filedock.core.model import File, FileStatus
from filedock.ports.metadata import FileRecords
from filedock.ports.objectstore import ObjectNotFound, ObjectStore, StoreUnavailable


class RetryLater(Exception):
    """A dependency is down; the job must run again later and nothing was decided."""


class FileProcessor:
    def __init__(self, records: FileRecords, store: ObjectStore, *, clock: Clock = utc_now) -> None:
        self._records = records
        self._store = store
        self._clock = clock

    async def process(self, file_id: str) -> FileStatus | None:
        """Process one file; returns its new status, or None when there is nothing to do."""
        file = await self._records.get(file_id)
        if file is None or file.status.is_terminal or file.status is FileStatus.PENDING:
            return None
        if file.status is not FileStatus.PROCESSING:
            file = file.moved_to(FileStatus.PROCESSING, self._clock())
            await self._records.save(file)
        outcome = await self._measure(file)
        await self._records.save(outcome)
        return outcome.status

    async def _measure(self, file: File) -> File:
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in self._store.read(file.storage_key):
                # Hashing a MiB takes milliseconds; in a thread it leaves the server responsive.
                await asyncio.to_thread(digest.update, chunk)
                size += len(chunk)
        except ObjectNotFound:
            return file.moved_to(FileStatus.FAILED, self._clock(), "the stored object is missing")
        except StoreUnavailable as exc:
            raise RetryLater("the object store is unavailable") from exc
        sha256 = digest.hexdigest()
        if file.sha256 is not None and (file.sha256 != sha256 or file.size != size):
            return file.moved_to(
                FileStatus.FAILED, self._clock(), "the stored object differs from the upload"
            )
        measured = replace(file, size=size, sha256=sha256)
        return measured.moved_to(FileStatus.READY, self._clock())
