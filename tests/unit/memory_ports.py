"""In-memory implementations of the ports, so core unit tests run without I/O.

These are test doubles of our own protocols, not mocks of real parts: the real backends are
exercised by the integration suite.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from filedock.core.model import File, FileStatus
from filedock.ports.jobs import Job, JobRequest
from filedock.ports.metadata import FileIdTaken
from filedock.ports.objectstore import (
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
    files: dict[str, File] = field(default_factory=dict)
    jobs: list[JobRequest] = field(default_factory=list)

    async def insert(self, file: File) -> None:
        if file.id in self.files:
            raise FileIdTaken(file.id)
        self.files[file.id] = file

    async def get(self, file_id: str) -> File | None:
        return self.files.get(file_id)

    async def find_by_key(self, storage_key: str) -> File | None:
        return next((f for f in self.files.values() if f.storage_key == storage_key), None)

    async def find_by_parent(self, kind: str, parent_id: str) -> list[File]:
        found = [
            f for f in self.files.values() if (f.parent_kind, f.parent_id) == (kind, parent_id)
        ]
        return sorted(found, key=lambda f: (f.created_at, f.id))

    async def find(
        self,
        *,
        status: FileStatus | None = None,
        expires_before: datetime | None = None,
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
        ]
        return found[:limit]

    async def save(self, file: File, *, then: Sequence[JobRequest] = ()) -> None:
        self.files[file.id] = file
        self.jobs.extend(then)

    async def remove(self, file_id: str) -> None:
        self.files.pop(file_id, None)

    async def page(self, *, after_id: str | None, limit: int) -> list[File]:
        after = [f for i, f in sorted(self.files.items()) if after_id is None or i > after_id]
        return after[:limit]

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        return {f.storage_key for f in self.files.values()} & set(keys)

    async def check(self) -> None:
        return None


@dataclass
class MemoryStore:
    objects: dict[str, bytes] = field(default_factory=dict)
    # When each object was written; tests may set it to age an object.
    modified: dict[str, datetime] = field(default_factory=dict)
    down: bool = False

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> StoredObject:
        if self.down:
            raise StoreUnavailable("down")
        buffer = bytearray()
        async for chunk in chunks:
            buffer.extend(chunk)
            if max_bytes is not None and len(buffer) > max_bytes:
                raise ObjectTooLarge(max_bytes)
        self.objects[key] = bytes(buffer)
        self.modified[key] = datetime.now(UTC)
        return StoredObject(key, len(buffer), hashlib.sha256(buffer).hexdigest())

    async def head(self, key: str) -> ObjectInfo:
        if self.down:
            raise StoreUnavailable("down")
        if key not in self.objects:
            raise ObjectNotFound(key)
        modified = self.modified.get(key, datetime.now(UTC))
        return ObjectInfo(key, len(self.objects[key]), modified)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if self.down:
            raise StoreUnavailable("down")
        if key not in self.objects:
            raise ObjectNotFound(key)
        yield self.objects[key][start:end]

    async def delete(self, key: str) -> None:
        if self.down:
            raise StoreUnavailable("down")
        self.objects.pop(key, None)
        self.modified.pop(key, None)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        if self.down:
            raise StoreUnavailable("down")
        # A snapshot, as a paged listing would be: deleting while listing stays safe.
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield key

    def local_path(self, key: str) -> Path | None:
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
        self, key: str, *, expires_in: timedelta, limits: UploadLimits
    ) -> PresignedRequest:
        expires_at = datetime.now(UTC) + expires_in
        return PresignedRequest("POST", "memory://", {"key": key}, {}, expires_at)

    async def check(self) -> None:
        if self.down:
            raise StoreUnavailable("down")

    async def close(self) -> None:
        return None


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

    async def claim(self, now: datetime, lease: timedelta) -> Job | None:
        for job_id, row in sorted(self.rows.items()):
            due = row["run_after"]
            assert isinstance(due, datetime)
            if row["status"] == "queued" and due <= now:
                row["status"] = "running"
                row["attempts"] = int(str(row["attempts"])) + 1
                payload = row["payload"]
                assert isinstance(payload, dict)
                return Job(job_id, str(row["kind"]), payload, int(str(row["attempts"])))
        return None

    async def complete(self, job_id: int) -> None:
        del self.rows[job_id]

    async def retry(self, job_id: int, run_after: datetime, error: str) -> None:
        self.rows[job_id].update(status="queued", run_after=run_after, error=error)

    async def fail(self, job_id: int, error: str) -> None:
        self.rows[job_id].update(status="failed", error=error)

    async def counts(self) -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[str(row["status"])] = counts.get(str(row["status"]), 0) + 1
        return counts
