"""The one processing job every uploaded byte goes through, whichever face it came by.

One pass over the stored object measures it, hashes it, keeps its head for type sniffing and
streams it to the virus scanner. Then the upload policy decides: `ready`, `rejected` (too
large, empty, wrong type, not wholly scanned) or `infected` (the object is deleted at once).
When the store or the scanner is down nothing is decided: the file stays `processing` and the
job is retried later (`Unavailable`), so nothing unscanned is ever marked clean. Running it
twice is harmless: a file already in a terminal state is left alone, and every move is a
compare-and-set (core/lifecycle.py), so a run that lost to a delete or to another run changes
nothing.

The same rules decide a small direct upload before its record exists (`decide_on_arrival`):
when its bytes are still in memory and the scanner has nothing to read, a clean file is
recorded `ready` in its insert, and the job never exists; anything else is left to the job.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from filedock.core.arriving_body import ArrivingBody
from filedock.core.files import PRIVATE_PREFIX, Clock, utc_now
from filedock.core.lifecycle import FileLifecycle, LostRace
from filedock.core.model import File, FileStatus
from filedock.core.read_wait import Decisions
from filedock.core.sniffing import EXECUTABLES, detect_type, type_agrees
from filedock.core.upload_policy import EMPTY_FILE, POLICY_LABEL, UploadPolicy, refuses_empty
from filedock.ports.metadata import FileRecords
from filedock.ports.objectstore import ObjectNotFound, ObjectStore, ObjectTooLarge
from filedock.ports.scanner import ScanIncomplete, Scanner

SNIFF_BYTES = 64 * 1024
# Chunks up to this size are hashed on the event loop (tens of microseconds): a thread hop
# costs more than that (the local store's writes draw the same line, INLINE_BYTES).
INLINE_HASH_BYTES = 64 * 1024
# Larger objects are hashed in batches of this size, each in one thread hop.
HASH_BATCH_BYTES = 1024 * 1024
# libmagic answers one call at a time (python-magic locks its one instance), so sniffing has a
# thread of its own: on the shared pool, 64 jobs at once parked a thread each on that lock.
_SNIFFING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="filedock-sniffing")


class FileProcessor:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        scanner: Scanner,
        policies: Mapping[str, UploadPolicy] | None = None,
        *,
        clock: Clock = utc_now,
        decisions: Decisions | None = None,
    ) -> None:
        """`decisions` wakes the reads of this process waiting for a file it decides."""
        self._lifecycle = FileLifecycle(records, clock)
        self._store = store
        self._scanner = scanner
        self._policies = policies or {}
        self._decisions = decisions or Decisions()

    async def process(self, file_id: str) -> FileStatus | None:
        """Process one file; returns its new status, or None when there is nothing to do.

        Every write is a compare-and-set: if the file moved meanwhile (its owner deleted it,
        another run of this job decided first) this run's outcome is dropped, and any bytes
        it copied that no record refers to are removed. An outage raises `Unavailable`
        with nothing decided, for the job to be retried.
        """
        file = await self._lifecycle.get(file_id)
        if file is None or file.status.is_terminal or file.status is FileStatus.PENDING:
            return None
        try:
            if file.status is FileStatus.UPLOADED:
                file = await self._lifecycle.move(file, FileStatus.PROCESSING)
            decision = await self._inspect(file)
            if decision.status in (FileStatus.INFECTED, FileStatus.REJECTED):
                # Refused bytes are never served: they go first, the record keeps the reason.
                await self._store.delete(decision.file.storage_key)
            await self._lifecycle.move(
                decision.file, decision.status, reason=decision.reason, **decision.changes
            )
        except LostRace as lost:
            await self._remove_if_unreferenced(lost.file_id, lost.storage_key)
            return None
        self._decisions.decided(file_id)
        return decision.status

    async def decide_on_arrival(self, file: File, body: ArrivingBody) -> File | None:
        """`file`, stored from `body` and not yet recorded, as the job would leave it when
        that is `ready`; None when its job must decide it.

        Only a small body (`ARRIVAL_DECISION_BYTES`, in memory by now) and only when the
        scanner's verdict needs no reading (no scanner is configured): an upload never waits
        on clamd, which may be slow or down. Only the clean outcome is decided here, by the
        job's own rules; every refusal, with its object's removal, stays the job's.
        """
        data = body.whole
        verdict = self._scanner.verdict_without_reading()
        if data is None or verdict is None or not verdict.clean:
            return None
        policy = self._policies.get(file.labels.get(POLICY_LABEL, ""))
        if policy is not None and file.storage_key.startswith(policy.key_prefix):
            return None  # a signed upload's landing object: the job takes it in first
        detected = await asyncio.get_running_loop().run_in_executor(
            _SNIFFING, detect_type, data[:SNIFF_BYTES], file.filename
        )
        size, sha256 = len(data), hashlib.sha256(data).hexdigest()
        if file.sha256 is not None and (file.sha256, file.size) != (sha256, size):
            return None
        measured = replace(file, size=size, sha256=sha256, detected_type=detected)
        if _policy_refusal(measured, size, policy) is not None:
            return None
        return replace(measured, status=FileStatus.READY)

    async def give_up(self, file_id: str, reason: str) -> bool:
        """The job will not run again: the file must not wait in `processing` for ever.

        True when this marked it `failed` (False: it was decided, or gone, meanwhile).
        """
        for _ in range(3):
            file = await self._lifecycle.get(file_id)
            if file is None or file.status.is_terminal or file.status is FileStatus.PENDING:
                return False
            try:
                await self._lifecycle.move(
                    file, FileStatus.FAILED, reason=f"processing gave up: {reason}"
                )
                self._decisions.decided(file_id)
                return True
            except LostRace:
                continue
        return False

    async def _inspect(self, file: File) -> _Decision:
        policy = self._policies.get(file.labels.get(POLICY_LABEL, ""))
        if policy and file.size is not None and file.size > policy.max_bytes:
            return _Decision(file, FileStatus.REJECTED, _too_large(file.size, policy))
        try:
            if policy is not None and file.storage_key.startswith(policy.key_prefix):
                file, reading = await self._take_in(file, policy)
                verdict = await self._scanner.scan(self._store.read(file.storage_key))
            else:
                reading = _Reading(self._store.read(file.storage_key))
                verdict = await self._scanner.scan(reading.chunks())
                await reading.drain()  # a scanner may stop early; the hash needs every byte
        except _TooLarge as exc:
            return _Decision(file, FileStatus.REJECTED, exc.reason)
        except ObjectNotFound:
            return _Decision(file, FileStatus.FAILED, "the stored object is missing")
        except ScanIncomplete as exc:
            reason = f"the virus scanner could not read the whole file ({exc})"
            return _Decision(file, FileStatus.REJECTED, reason)
        if not verdict.clean:
            return _Decision(file, FileStatus.INFECTED, f"virus found: {verdict.signature}")
        # libmagic may take milliseconds on odd text; off the event loop.
        detected = await asyncio.get_running_loop().run_in_executor(
            _SNIFFING, detect_type, reading.head, file.filename
        )
        measured = {"size": reading.size, "sha256": reading.sha256, "detected_type": detected}
        if file.sha256 is not None and (file.sha256, file.size) != (reading.sha256, reading.size):
            return _Decision(file, FileStatus.FAILED, "the stored object differs from the upload")
        refusal = _policy_refusal(replace(file, **measured), reading.size, policy)  # type: ignore[arg-type]
        if refusal is not None:
            return _Decision(file, FileStatus.REJECTED, refusal, measured)
        return _Decision(file, FileStatus.READY, None, measured)

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
            raise _TooLarge(f"the file is over this upload's limit of {limit} bytes") from None
        try:
            moved = await self._lifecycle.revise(file, storage_key=private_key)
        except LostRace as lost:
            raise LostRace(str(lost), file_id=file.id, storage_key=private_key) from None
        await self._store.delete(file.storage_key)
        return moved, reading

    async def _remove_if_unreferenced(self, file_id: str | None, key: str | None) -> None:
        """After losing a race: bytes this run wrote that no record names must not linger."""
        if file_id is None or key is None:
            return
        current = await self._lifecycle.get(file_id)
        if current is None or current.storage_key != key:
            await self._store.delete(key)


@dataclass(frozen=True, slots=True)
class _Decision:
    """What processing found: the record it worked on, its new status and measurements."""

    file: File
    status: FileStatus
    reason: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)


def _policy_refusal(measured: File, size: int, policy: UploadPolicy | None) -> str | None:
    detected = measured.detected_type or "application/octet-stream"
    if policy is not None and size > policy.max_bytes:
        return _too_large(size, policy)
    # The local store refuses an empty upload at once; S3 takes one, and it is refused here.
    if refuses_empty(policy, size):
        return EMPTY_FILE
    # With a policy the declared type must be what the bytes are; without one (the client
    # named any type) only a disguised executable is refused.
    checked = policy is not None or detected in EXECUTABLES
    if checked and not type_agrees(measured.content_type, detected):
        return f"the content is {detected}, not the declared {measured.content_type}"
    return None


class _TooLarge(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Reading:
    """Reads an object once, hashing, counting and keeping the head as chunks pass."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self._digest = hashlib.sha256()
        self._head = bytearray()
        self._unhashed: list[bytes] = []
        self._unhashed_size = 0
        self.size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            self._unhashed.append(chunk)
            self._unhashed_size += len(chunk)
            if self._unhashed_size >= HASH_BATCH_BYTES:
                await self._hash_unhashed()
            if len(self._head) < SNIFF_BYTES:
                self._head += chunk[: SNIFF_BYTES - len(self._head)]
            self.size += len(chunk)
            yield chunk
        await self._hash_unhashed()

    async def drain(self) -> None:
        async for _ in self.chunks():
            pass

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    @property
    def sha256(self) -> str:
        assert not self._unhashed, "read to the end first"
        return self._digest.hexdigest()

    async def _hash_unhashed(self) -> None:
        """Hash what came since the last batch: a MiB at a time whatever the store's chunk
        size, so one thread hop a MiB. Kept on the reading, not in `chunks`, because a
        scanner may stop early and `drain` then goes on with a second `chunks`."""
        pieces, size = self._unhashed, self._unhashed_size
        self._unhashed, self._unhashed_size = [], 0
        if size <= INLINE_HASH_BYTES:
            _update(self._digest, pieces)
        else:
            # Hashing a MiB takes milliseconds; in a thread it leaves the server responsive.
            await asyncio.to_thread(_update, self._digest, pieces)


def _update(digest: hashlib._Hash, pieces: list[bytes]) -> None:
    for piece in pieces:
        digest.update(piece)


def _too_large(size: int, policy: UploadPolicy) -> str:
    return f"the file is {size} bytes, over this upload's limit of {policy.max_bytes} bytes"
