"""The one processing job every uploaded byte goes through, whichever face it came by.

One pass over the stored object measures it, hashes it, keeps its head for type sniffing and
streams it to the virus scanner. Then the upload policy decides: `ready`, `rejected` (too
large, wrong type, not wholly scanned) or `infected` (the object is deleted at once). When the
store or the scanner is down nothing is decided: the file stays `processing` and the job is
retried later, so nothing unscanned is ever marked clean. Running it twice is harmless: a file
already in a terminal state is left alone.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace

from filedock.core.files import Clock, utc_now
from filedock.core.model import File, FileStatus
from filedock.core.sniffing import EXECUTABLES, detect_type, type_agrees
from filedock.core.uploads import POLICY_LABEL, UploadPolicy
from filedock.ports.metadata import FileRecords
from filedock.ports.objectstore import (
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StoreUnavailable,
)
from filedock.ports.scanner import ScanIncomplete, Scanner, ScannerUnavailable

SNIFF_BYTES = 64 * 1024
# What processing accepts from a signed upload's landing key is copied here, where no signed
# URL can write.
PRIVATE_PREFIX = "files/"


class RetryLater(Exception):
    """A dependency is down; the job must run again later and nothing was decided."""


class FileProcessor:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        scanner: Scanner,
        policies: Mapping[str, UploadPolicy] | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._records = records
        self._store = store
        self._scanner = scanner
        self._policies = policies or {}
        self._clock = clock

    async def process(self, file_id: str) -> FileStatus | None:
        """Process one file; returns its new status, or None when there is nothing to do."""
        file = await self._records.get(file_id)
        if file is None or file.status.is_terminal or file.status is FileStatus.PENDING:
            return None
        if file.status is not FileStatus.PROCESSING:
            file = file.moved_to(FileStatus.PROCESSING, self._clock())
            await self._records.save(file)
        outcome = await self._inspect(file)
        if outcome.status in (FileStatus.INFECTED, FileStatus.REJECTED):
            await self._discard(outcome)
        await self._records.save(outcome)
        return outcome.status

    async def _inspect(self, file: File) -> File:
        policy = self._policies.get(file.labels.get(POLICY_LABEL, ""))
        if policy and file.size is not None and file.size > policy.max_bytes:
            return self._refuse(file, FileStatus.REJECTED, _too_large(file.size, policy))
        try:
            if policy is not None and file.storage_key.startswith(policy.key_prefix):
                file, reading = await self._take_in(file, policy)
                verdict = await self._scanner.scan(self._store.read(file.storage_key))
            else:
                reading = _Reading(self._store.read(file.storage_key))
                verdict = await self._scanner.scan(reading.chunks())
                await reading.drain()  # a scanner may stop early; the hash needs every byte
        except _TooLarge as exc:
            return self._refuse(exc.file, FileStatus.REJECTED, exc.reason)
        except ObjectNotFound:
            return self._refuse(file, FileStatus.FAILED, "the stored object is missing")
        except StoreUnavailable as exc:
            raise RetryLater("the object store is unavailable") from exc
        except ScannerUnavailable as exc:
            raise RetryLater("the virus scanner is unavailable") from exc
        except ScanIncomplete as exc:
            reason = f"the virus scanner could not read the whole file ({exc})"
            return self._refuse(file, FileStatus.REJECTED, reason)
        if not verdict.clean:
            return self._refuse(file, FileStatus.INFECTED, f"virus found: {verdict.signature}")
        # libmagic may take milliseconds on odd text; off the event loop.
        detected = await asyncio.to_thread(detect_type, reading.head, file.filename)
        measured = replace(file, size=reading.size, sha256=reading.sha256, detected_type=detected)
        if file.sha256 is not None and (file.sha256, file.size) != (reading.sha256, reading.size):
            return self._refuse(
                file, FileStatus.FAILED, "the stored object differs from the upload"
            )
        refusal = _policy_refusal(measured, reading.size, policy)
        if refusal is not None:
            return self._refuse(measured, FileStatus.REJECTED, refusal)
        return measured.moved_to(FileStatus.READY, self._clock())

    async def _take_in(self, file: File, policy: UploadPolicy | None) -> tuple[File, _Reading]:
        """Copy a signed upload from its landing key to a private key, measuring as it goes.

        Whoever holds the signed URL may PUT again until it expires; the bytes that are
        scanned and served are the private copy, which no URL can change. The copy is
        recorded before the landing object goes, so a crash in between loses nothing.
        """
        reading = _Reading(self._store.read(file.storage_key))
        # Derived from the landing key: it keeps the upload's folder (a schedule's documents
        # stay under that schedule), and a copy repeated after a crash lands on the same key
        # instead of leaving an orphan.
        private_key = f"{PRIVATE_PREFIX}{file.storage_key}"
        limit = policy.max_bytes if policy else None
        try:
            await self._store.write(private_key, reading.chunks(), max_bytes=limit)
        except ObjectTooLarge:
            assert limit is not None
            raise _TooLarge(
                file, f"the file is over this upload's limit of {limit} bytes"
            ) from None
        moved = replace(file, storage_key=private_key, updated_at=self._clock())
        await self._records.save(moved)
        await self._store.delete(file.storage_key)
        return moved, reading

    def _refuse(self, file: File, status: FileStatus, reason: str) -> File:
        return file.moved_to(status, self._clock(), reason)

    async def _discard(self, file: File) -> None:
        """Refused bytes are never served: delete them (the record keeps the reason)."""
        try:
            await self._store.delete(file.storage_key)
        except StoreUnavailable as exc:
            raise RetryLater("the object store is unavailable") from exc


def _policy_refusal(measured: File, size: int, policy: UploadPolicy | None) -> str | None:
    detected = measured.detected_type or "application/octet-stream"
    if policy is not None and size > policy.max_bytes:
        return _too_large(size, policy)
    # With a policy the declared type must be what the bytes are; without one (the client
    # named any type) only a disguised executable is refused.
    checked = policy is not None or detected in EXECUTABLES
    if checked and not type_agrees(measured.content_type, detected):
        return f"the content is {detected}, not the declared {measured.content_type}"
    return None


class _TooLarge(Exception):
    def __init__(self, file: File, reason: str) -> None:
        super().__init__(reason)
        self.file = file
        self.reason = reason


class _Reading:
    """Reads an object once, hashing, counting and keeping the head as chunks pass."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self._digest = hashlib.sha256()
        self._head = bytearray()
        self.size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            # Hashing a MiB takes milliseconds; in a thread it leaves the server responsive.
            await asyncio.to_thread(self._digest.update, chunk)
            if len(self._head) < SNIFF_BYTES:
                self._head += chunk[: SNIFF_BYTES - len(self._head)]
            self.size += len(chunk)
            yield chunk

    async def drain(self) -> None:
        async for _ in self.chunks():
            pass

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def _too_large(size: int, policy: UploadPolicy) -> str:
    return f"the file is {size} bytes, over this upload's limit of {policy.max_bytes} bytes"
