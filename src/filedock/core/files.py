"""Files: store a body under a client-chosen id, serve it when ready, delete it.

The rules every face shares live here: who may touch a file, what an id may look like,
limits on the body, and which content may be shown inline.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filedock.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    NotReady,
    ProcessingRefused,
    TooLarge,
)
from filedock.core.lifecycle import FileLifecycle, reachable
from filedock.core.model import File, FileStatus, media_type
from filedock.core.principal import Principal
from filedock.core.signing import SignedGrants
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken, FileRecords
from filedock.ports.objectstore import ObjectStore, ObjectTooLarge, StoreUnavailable
from filedock.ports.presign import PresignedRequest

PROCESS_FILE_JOB = "process_file"
# Where accepted bytes live: no signed upload URL can write under it.
PRIVATE_PREFIX = "files/"
MAX_FILE_ID_LENGTH = 128

Clock = Callable[[], datetime]
log = logging.getLogger("filedock.files")

_FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MIME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\\\r\n]*\"|[A-Za-z0-9!#$&^_.+-]+))*"
)
# Types a browser would run or render with script: never shown inline from our origin.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-javascript",
        "application/wasm",
        "text/xsl",
    }
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def validate_file_id(file_id: str) -> str:
    """A client-chosen id: letters, digits, `.`, `_`, `-`; no `..`; at most 128 chars."""
    if not file_id:
        raise InvalidInput.one("file_id", "the file id is empty")
    if len(file_id) > MAX_FILE_ID_LENGTH:
        raise InvalidInput.one("file_id", f"the file id is longer than {MAX_FILE_ID_LENGTH}")
    if not _FILE_ID.fullmatch(file_id) or ".." in file_id:
        raise InvalidInput.one(
            "file_id", "the file id may hold only letters, digits, '.', '_' and '-', and no '..'"
        )
    return file_id


def validate_content_type(content_type: str | None) -> str:
    if not content_type or not content_type.strip():
        raise InvalidInput.one("content-type", "the Content-Type header is required")
    value = content_type.strip()
    if not _MIME.fullmatch(value):
        raise InvalidInput.one("content-type", f"{value[:100]!r} is not a MIME type")
    return value


def is_active_content(content_type: str) -> bool:
    """Content a browser could execute: always sent as an attachment."""
    kind = media_type(content_type)
    return kind in _ACTIVE_TYPES or kind.endswith("+xml") or "script" in kind


@dataclass(frozen=True, slots=True)
class Download:
    """A ready file and the means to send its bytes."""

    file: File
    local_path: Path | None
    _store: ObjectStore

    @property
    def disposition(self) -> str:
        return "attachment" if is_active_content(self.file.content_type) else "inline"

    def read(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self._store.read(self.file.storage_key, start, end)


class FileService:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        *,
        max_upload_bytes: int,
        grants: SignedGrants | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._grants = grants or SignedGrants(store, None)
        self._lifecycle = FileLifecycle(records, clock)
        self._records = records
        self._store = store
        self._max_upload_bytes = max_upload_bytes
        self._clock = clock

    @property
    def max_upload_bytes(self) -> int:
        return self._max_upload_bytes

    async def upload(
        self,
        principal: Principal,
        file_id: str,
        content_type: str | None,
        body: AsyncIterable[bytes],
        *,
        declared_length: int | None = None,
    ) -> File:
        """Store `body` as a new file and queue its processing; all or nothing.

        The bytes are stored under a fresh key first and the record is inserted after, with
        its processing job: the insert is what claims the id. A writer that dies leaves no
        record holding the id, only an unreferenced object the reconciler removes.
        """
        validate_file_id(file_id)
        content_type = validate_content_type(content_type)
        if declared_length is not None and declared_length > self._max_upload_bytes:
            raise TooLarge(self._max_upload_bytes)
        chunks = aiter(body)
        first = await _first_non_empty(chunks)
        if first is None:
            raise InvalidInput.one("body", "the body is empty")
        if await self._lifecycle.get(file_id) is not None:  # refuse early; the insert decides
            raise _id_taken(file_id)
        storage_key = f"{PRIVATE_PREFIX}{uuid.uuid4().hex}"
        try:
            stored = await self._store.write(
                storage_key, _prepend(first, chunks), max_bytes=self._max_upload_bytes
            )
        except ObjectTooLarge:
            raise TooLarge(self._max_upload_bytes) from None
        now = self._clock()
        file = File(
            id=file_id,
            owner_realm=principal.realm,
            owner_id=principal.user_id,
            owner_role=principal.role,
            storage_key=storage_key,
            content_type=content_type,
            status=FileStatus.UPLOADED,
            created_at=now,
            updated_at=now,
            size=stored.size,
            sha256=stored.sha256,
        )
        try:
            return await self._lifecycle.create(
                file, then=[JobRequest(PROCESS_FILE_JOB, {"file_id": file.id})]
            )
        except BaseException as exc:
            await self._discard_object(storage_key)
            if isinstance(exc, FileIdTaken):
                raise _id_taken(file_id) from None
            raise

    async def describe(self, principal: Principal, file_id: str) -> File:
        """The record of a file the principal may see."""
        validate_file_id(file_id)
        file = await self._lifecycle.get(file_id)
        return reachable(principal, file, missing=f"no file with id {file_id!r}")

    async def open_download(self, principal: Principal, file_id: str) -> Download:
        """A ready file's bytes; anything not `ready` is refused with `NotReady`."""
        file = servable(await self.describe(principal, file_id))
        return Download(file, self._store.local_path(file.storage_key), self._store)

    async def issue_download_url(self, principal: Principal, file_id: str) -> PresignedRequest:
        """A short-lived signed GET of a ready file, saved under its filename."""
        return self._grants.download_url(servable(await self.describe(principal, file_id)))

    async def open_by_key(self, storage_key: str) -> Download:
        """The ready file stored at `storage_key`, for a signed GET that names only the key.

        The signature already granted access; what is checked here is that the bytes passed
        processing, so a signed URL can never serve an infected or unscanned object.
        """
        file = await self._records.find_by_key(storage_key)
        if file is None or file.status is FileStatus.DELETED:
            raise NotFound("no object at this key")
        file = servable(file)
        return Download(file, self._store.local_path(storage_key), self._store)

    async def delete(self, principal: Principal, file_id: str) -> File:
        """Mark the file deleted, then remove its object and record; returns it as it was."""
        file = await self.describe(principal, file_id)
        gone = await self._lifecycle.delete(file, reason="deleted by its owner")
        await purge(self._lifecycle, self._store, gone)
        return file

    async def _discard_object(self, storage_key: str) -> None:
        try:
            await self._store.delete(storage_key)
        except StoreUnavailable:
            log.warning("could not remove an unrecorded object", extra={"key": storage_key})


async def purge(lifecycle: FileLifecycle, store: ObjectStore, deleted: File) -> bool:
    """Remove a deleted file's object, then its record; True when both are gone.

    With the store down the record stays `deleted` (never served, never listed) and the
    sweeper purges it later, so a delete never waits on the store.
    """
    try:
        await store.delete(deleted.storage_key)
    except StoreUnavailable:
        log.warning("store unavailable; deleted file purged later", extra={"id": deleted.id})
        return False
    return await lifecycle.forget(deleted)


def _id_taken(file_id: str) -> Conflict:
    return Conflict(f"a file with id {file_id!r} exists already")


def servable(file: File) -> File:
    """Only `ready` bytes are served; the error says whether waiting can help."""
    if file.status in (FileStatus.REJECTED, FileStatus.FAILED):
        raise ProcessingRefused(f"the file was {file.status.value}: {file.status_reason}")
    if file.status is not FileStatus.READY:
        raise NotReady(f"the file is {file.status.value}, not ready to be served")
    return file


async def _first_non_empty(chunks: AsyncIterator[bytes]) -> bytes | None:
    async for chunk in chunks:
        if chunk:
            return chunk
    return None


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk
