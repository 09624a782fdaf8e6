"""In-memory implementations of the ports, so core unit tests run without I/O.

These are test doubles of our own protocols, not mocks of real parts: the real backends are
exercised by the integration suite.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from filedock.core.model import File, FileStatus
from filedock.ports.jobs import Job, JobRequest
from filedock.ports.keys import listing_directory, validate_key
from filedock.ports.metadata import FileIdTaken
from filedock.ports.objectstore import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ObjectTooLarge,
    StoredObject,
    StoreUnavailable,
)
from filedock.ports.presign import PresignedRequest, UploadLimits
from filedock.ports.scanner import ScanIncomplete, ScannerUnavailable, ScanVerdict


@dataclass
class MemoryRecords:
    """Keeps copies, as a database does: changing a `File`'s labels after a call changes nothing
    stored, and datetimes come back in UTC. A storage key belongs to one record only."""

    files: dict[str, File] = field(default_factory=dict)
    jobs: list[JobRequest] = field(default_factory=list)

    async def insert(self, file: File, *, then: Sequence[JobRequest] = ()) -> None:
        if file.id in self.files:
            raise FileIdTaken(file.id)
        if any(f.storage_key == file.storage_key for f in self.files.values()):
            # What the SQL backends raise when their unique index on the key refuses the row.
            raise FileIdTaken(file.id)
        self.files[file.id] = self._kept(file)
        self.jobs.extend(then)

    async def get(self, file_id: str) -> File | None:
        found = self.files.get(file_id)
        return None if found is None else self._given(found)

    async def find_by_key(self, storage_key: str) -> File | None:
        return next(
            (self._given(f) for f in self.files.values() if f.storage_key == storage_key), None
        )

    async def find_by_parent(self, kind: str, parent_id: str) -> list[File]:
        found = [
            f for f in self.files.values() if (f.parent_kind, f.parent_id) == (kind, parent_id)
        ]
        return [self._given(f) for f in sorted(found, key=lambda f: (f.created_at, f.id))]

    async def find(
        self,
        *,
        status: FileStatus | None = None,
        expires_before: datetime | None = None,
        updated_before: datetime | None = None,
        limit: int = 100,
    ) -> list[File]:
        found = [
            f
            for f in sorted(self.files.values(), key=lambda f: f.created_at)
            if (status is None or f.status is status)
            and (
                expires_before is None
                or (f.expires_at is not None and f.expires_at < expires_before)
            )
            and (updated_before is None or f.updated_at < updated_before)
        ]
        return [self._given(f) for f in found[:limit]]

    async def replace(
        self, expected: File, new: File, *, then: Sequence[JobRequest] = ()
    ) -> bool:
        if new.id != expected.id:
            raise ValueError("a record's id never changes")
        current = self.files.get(expected.id)
        if current is None or current.revision != expected.revision:
            return False
        self.files[new.id] = self._kept(new)
        self.jobs.extend(then)
        return True

    async def remove(self, expected: File) -> bool:
        current = self.files.get(expected.id)
        if current is None or current.revision != expected.revision:
            return False
        del self.files[expected.id]
        return True

    async def page(self, *, after_id: str | None, limit: int) -> list[File]:
        after = [f for i, f in sorted(self.files.items()) if after_id is None or i > after_id]
        return [self._given(f) for f in after[:limit]]

    async def owned_page(
        self,
        owner_realm: str,
        owner_id: str,
        *,
        statuses: Collection[FileStatus],
        after_id: str | None,
        limit: int,
    ) -> list[File]:
        owned = [
            f
            for i, f in sorted(self.files.items())
            if (f.owner_realm, f.owner_id) == (owner_realm, owner_id)
            and f.status in statuses
            and (after_id is None or i > after_id)
        ]
        return [self._given(f) for f in owned[:limit]]

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        return {f.storage_key for f in self.files.values()} & set(keys)

    async def check(self) -> None:
        return None

    @staticmethod
    def _kept(file: File) -> File:
        """What a database row holds of `file`: its own labels, and UTC datetimes."""
        for moment in (file.created_at, file.updated_at, file.expires_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")  # as db.models does
        return dataclasses.replace(
            file,
            created_at=file.created_at.astimezone(UTC),
            updated_at=file.updated_at.astimezone(UTC),
            expires_at=None if file.expires_at is None else file.expires_at.astimezone(UTC),
            labels=dict(file.labels),
        )

    @staticmethod
    def _given(file: File) -> File:
        return dataclasses.replace(file, labels=dict(file.labels))


@dataclass
class MemoryStore:
    """Applies the same key rules as the real stores (`ports.keys`) and can be `down`."""

    objects: dict[str, bytes] = field(default_factory=dict)
    # When each object was written; tests may set it to age an object.
    modified: dict[str, datetime] = field(default_factory=dict)
    down: bool = False
    # Keys of writes under way: their bytes wait here, unseen, as a real store's temp file.
    unfinished: list[str] = field(default_factory=list)

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> StoredObject:
        validate_key(key)
        self._check_up()
        buffer = bytearray()
        self.unfinished.append(key)
        try:
            async for chunk in chunks:
                # Refused before the chunk that crosses the limit is kept, as the real stores do.
                if max_bytes is not None and len(buffer) + len(chunk) > max_bytes:
                    raise ObjectTooLarge(max_bytes)
                buffer.extend(chunk)
        finally:
            self.unfinished.remove(key)
        self.objects[key] = bytes(buffer)
        self.modified[key] = datetime.now(UTC)
        return StoredObject(key, len(buffer), hashlib.sha256(buffer).hexdigest())

    async def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        self._check_up()
        if key not in self.objects:
            raise ObjectNotFound(key)
        modified = self.modified.get(key, datetime.now(UTC))
        return ObjectInfo(key, len(self.objects[key]), modified)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid byte range {start}..{end}")
        validate_key(key)
        self._check_up()
        if key not in self.objects:
            raise ObjectNotFound(key)
        data = self.objects[key][start:end]
        # In pieces, as a real store streams, and never an empty one.
        for offset in range(0, len(data), CHUNK_SIZE):
            yield data[offset : offset + CHUNK_SIZE]

    async def delete(self, key: str) -> None:
        validate_key(key)
        self._check_up()
        self.objects.pop(key, None)
        self.modified.pop(key, None)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        listing_directory(prefix)  # refuses the prefixes the real stores refuse
        self._check_up()
        # A snapshot, as a paged listing would be: deleting while listing stays safe.
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield key

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def key_in_notification(self, bucket: str, object_name: str) -> str | None:
        return object_name if bucket == "memory" else None

    def presign(
        self,
        method: Literal["GET", "PUT", "DELETE"],
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits | None = None,
        download_name: str | None = None,
    ) -> PresignedRequest:
        headers = {"Content-Type": limits.content_type} if limits and limits.content_type else {}
        expires_at = datetime.now(UTC) + expires_in
        return PresignedRequest(method, f"memory://{key}?{method}", {}, headers, expires_at)

    def presign_post(
        self,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits,
        success_status: str | None = None,
    ) -> PresignedRequest:
        expires_at = datetime.now(UTC) + expires_in
        fields = {"key": key}
        if success_status is not None:
            fields["success_action_status"] = success_status
        return PresignedRequest("POST", "memory://", fields, {}, expires_at)

    async def check(self) -> None:
        self._check_up()

    async def remove_unfinished_writes(self, idle_for: timedelta) -> int:
        self._check_up()
        return 0  # every unfinished write here is one under way in this process: never idle

    async def close(self) -> None:
        return None

    def _check_up(self) -> None:
        if self.down:
            raise StoreUnavailable("down")


@dataclass
class MemoryScanner:
    """Finds `signature` in the stream; can be down, and can refuse long streams like clamd."""

    signature: bytes = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"
    down: bool = False
    stream_max_bytes: int | None = None
    scans: int = 0

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanVerdict:
        if self.down:
            raise ScannerUnavailable("down")
        seen = bytearray()
        async for chunk in chunks:
            seen.extend(chunk)
            if self.stream_max_bytes is not None and len(seen) > self.stream_max_bytes:
                raise ScanIncomplete(f"stream over {self.stream_max_bytes} bytes")
        self.scans += 1
        found = self.signature in seen
        return ScanVerdict(
            clean=not found, signature="Test.EICAR" if found else None, scanned_bytes=len(seen)
        )

    def verdict_without_reading(self) -> None:
        return None  # it reads every byte, as clamd does

    async def check(self) -> None:
        if self.down:
            raise ScannerUnavailable("down")

    async def close(self) -> None:
        return None


@dataclass
class MemoryQueue:
    rows: dict[int, dict[str, object]] = field(default_factory=dict)
    next_id: int = 1

    async def enqueue(self, request: JobRequest) -> None:
        self.rows[self.next_id] = {
            "kind": request.kind,
            "payload": dict(request.payload),
            "status": "queued",
            "attempts": 0,
            "run_after": request.run_after or datetime.min.replace(tzinfo=UTC),
            "error": None,
        }
        self.next_id += 1

    async def claim(
        self, now: datetime, lease: timedelta, kinds: Collection[str] | None = None
    ) -> Job | None:
        for job_id, row in sorted(self.rows.items()):
            due = row["run_after"]
            assert isinstance(due, datetime)
            if kinds is not None and row["kind"] not in kinds:
                continue
            if row["status"] == "queued" and due <= now:
                row["status"] = "running"
                row["attempts"] = int(str(row["attempts"])) + 1
                payload = row["payload"]
                assert isinstance(payload, dict)
                return Job(job_id, str(row["kind"]), payload, int(str(row["attempts"])))
        return None

    async def claim_batch(
        self, now: datetime, lease: timedelta, kinds: Collection[str] | None, limit: int
    ) -> list[Job]:
        jobs: list[Job] = []
        while len(jobs) < limit and (job := await self.claim(now, lease, kinds)) is not None:
            jobs.append(job)
        return jobs

    async def renew(self, job: Job, until: datetime) -> bool:
        return self._holds(job)

    def _holds(self, job: Job) -> bool:
        row = self.rows.get(job.id)
        return row is not None and row["status"] == "running" and row["attempts"] == job.attempts

    async def release(self, job: Job) -> bool:
        row = self.rows.get(job.id)
        if row is None or row["status"] != "running" or row["attempts"] != job.attempts:
            return False
        row["status"] = "queued"
        return True

    async def complete(self, job: Job) -> bool:
        if not self._holds(job):
            return False
        del self.rows[job.id]
        return True

    async def retry(self, job: Job, run_after: datetime, error: str) -> bool:
        if not self._holds(job):
            return False
        self.rows[job.id].update(status="queued", run_after=run_after, error=error)
        return True

    async def fail(self, job: Job, error: str) -> bool:
        if not self._holds(job):
            return False
        self.rows[job.id].update(status="failed", error=error)
        return True

    async def counts(self) -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[str(row["status"])] = counts.get(str(row["status"]), 0) + 1
        return counts
