"""Files: store a body under a client-chosen id, serve it when ready, delete it.

The rules every face shares live here: who may touch a file, what an id may look like,
limits on the body, and which content may be shown inline.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from filedock.core.arriving_body import ArrivalDecisions, ArrivingBody
from filedock.core.entropy import random_hex
from filedock.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    NotReady,
    ProcessingRefused,
    TooLarge,
    Unavailable,
)
from filedock.core.file_input import (
    FILE_ID,
    MAX_FILE_ID_LENGTH,
    validate_content_type,
    validate_file_id,
    validate_new_file_id,
)
from filedock.core.lifecycle import FileLifecycle, claim_open, reachable
from filedock.core.model import File, FileStatus, media_type
from filedock.core.principal import Principal
from filedock.core.read_wait import ReadWait, settled
from filedock.core.signing import DownloadLink, SignedGrants, share_lifetime
from filedock.core.upload_policy import admitted_body
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken, FileRecords
from filedock.ports.objectstore import (
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StoreUnavailable,
)

PROCESS_FILE_JOB = "process_file"
# Where accepted bytes live: no signed upload URL can write under it.
PRIVATE_PREFIX = "files/"
# Uploads declaring more bytes than this check that their id is free before storing anything.
EARLY_ID_CHECK_BYTES = 1024 * 1024
# A listing's page size: its default and its most.
DEFAULT_PAGE = 50
MAX_PAGE = 200
# What a listing shows: every file but deleted ones (gone for their owner already).
LISTED = frozenset(FileStatus) - {FileStatus.DELETED}

Clock = Callable[[], datetime]
Notice = Callable[[File], Awaitable[File]]
"""Checks the store for a pending upload's bytes (`UploadService.notice_upload`)."""
Unrecorded = Callable[[Principal, str], Awaitable[File | None]]
"""The caller's upload that no row holds yet, by id (`UploadService.find_unrecorded`)."""
log = logging.getLogger("filedock.files")

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


def is_active_content(content_type: str) -> bool:
    """Content a browser could execute: always sent as an attachment."""
    kind = media_type(content_type)
    return kind in _ACTIVE_TYPES or kind.endswith("+xml") or "script" in kind


@dataclass(frozen=True, slots=True)
class FilePage:
    """One page of a listing; `next` is the `after` of the page that follows, None at the end."""

    files: list[File]
    next: str | None


@dataclass(frozen=True, slots=True)
class Download:
    """A ready file and the means to send its bytes."""

    file: File
    _store: ObjectStore

    @property
    def disposition(self) -> str:
        return "attachment" if is_active_content(self.file.content_type) else "inline"

    async def open(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start` up to `end`, with the store's first answer already in hand.

        What can fail before the first byte fails here, while a face can still answer in its
        own envelope: a missing object as `NotFound`, an outage as `Unavailable`. Failures
        after it can only cut the transfer short.
        """
        chunks = aiter(self._store.read(self.file.storage_key, start, end))
        try:
            first = await anext(chunks, None)
        except ObjectNotFound:
            raise self.object_missing() from None
        return _prepend(first, chunks) if first is not None else _nothing()

    async def verify(self) -> None:
        """Raise `NotFound` unless the object is there, for an answer that sends no byte."""
        try:
            await self._store.head(self.file.storage_key)
        except ObjectNotFound:
            raise self.object_missing() from None

    def object_missing(self) -> NotFound:
        """The error for a ready file whose object is gone, logged for operators."""
        # Deleted by its owner a moment ago, or lost: the reconciler marks lost ones failed.
        log.warning(
            "a ready file's object is missing",
            extra={"id": self.file.id, "key": self.file.storage_key},
        )
        return NotFound("the file's content is gone")


class FileService:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        *,
        max_upload_bytes: int,
        grants: SignedGrants | None = None,
        clock: Clock = utc_now,
        read_wait: ReadWait | None = None,
        notice: Notice | None = None,
        unrecorded: Unrecorded | None = None,
        processor: ArrivalDecisions | None = None,
        on_decided: Callable[[File], None] | None = None,
    ) -> None:
        """`notice` checks the store for a pending upload's bytes before a read gives up;
        `unrecorded` finds the caller's upload no row holds yet (core/arrivals.py);
        `processor` decides small uploads as they arrive (without it, every upload's job),
        and `on_decided` is told of each one recorded so (runtime counts it with the jobs')."""
        self._grants = grants or SignedGrants(store, None)
        self._lifecycle = FileLifecycle(records, clock)
        self._records = records
        self._store = store
        self._max_upload_bytes = max_upload_bytes
        self._clock = clock
        self._read_wait = read_wait or ReadWait()
        self._notice = notice
        self._unrecorded = unrecorded
        self._processor = processor
        self._on_decided = on_decided

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
        record holding the id, only an unreferenced object the reconciler removes. A small
        body that processing can decide at once is recorded decided, with no job
        (`FileProcessor.decide_on_arrival`).
        """
        validate_new_file_id(file_id)
        content_type = validate_content_type(content_type)
        if declared_length is not None and declared_length > self._max_upload_bytes:
            raise TooLarge(self._max_upload_bytes)
        # No upload policy governs this path: an empty body is refused (`refuses_empty`).
        chunks = await admitted_body(body, None)
        # A taken id is refused before a large body is stored; a small one is stored and the
        # insert refuses it, which saves a database round trip on every small upload.
        if not _small(declared_length) and await self._lifecycle.get(file_id) is not None:
            raise _id_taken(file_id)
        storage_key = f"{PRIVATE_PREFIX}{random_hex(16)}"
        arriving = ArrivingBody(chunks)
        try:
            stored = await self._store.write(
                storage_key, arriving.chunks(), max_bytes=self._max_upload_bytes
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
        # A cancel leaves the object: the insert may still commit (concurrent inserts share
        # a transaction of their own), and an object no record names is the reconciler's.
        try:
            return await self._record_arrival(file, arriving)
        except FileIdTaken:
            await self._discard_object(storage_key)
            raise _id_taken(file_id) from None
        except Unavailable:
            # The connection broke with the commit's outcome unknown: the record may exist and
            # name these bytes, so they stay (the reconciler removes them if none does).
            raise
        except Exception:
            await self._discard_object(storage_key)
            raise

    async def _record_arrival(self, file: File, body: ArrivingBody) -> File:
        """Insert a direct upload's record: decided if processing could decide it now,
        else `uploaded` with its processing job."""
        if self._processor is not None:
            decided = await self._processor.decide_on_arrival(file, body)
            if decided is not None:
                created = await self._lifecycle.create(decided)
                if self._on_decided is not None:
                    self._on_decided(created)
                return created
        return await self._lifecycle.create(
            file, then=[JobRequest(PROCESS_FILE_JOB, {"file_id": file.id})]
        )

    async def describe(self, principal: Principal, file_id: str) -> File:
        """The record of a file the principal may see."""
        validate_file_id(file_id)
        file = await self._lifecycle.get(file_id)
        if file is None and self._unrecorded is not None:
            file = await self._unrecorded(principal, file_id)
        return reachable(principal, file, missing=f"no file with id {file_id!r}")

    async def open_download(self, principal: Principal, file_id: str) -> Download:
        """A ready file's bytes, once processing has decided (`settled`); anything not
        `ready` then is refused with `NotReady`."""
        file = servable(await self._settled(principal, file_id))
        return Download(file, self._store)

    async def issue_download_url(
        self, principal: Principal, file_id: str, *, expires_in: int | None = None
    ) -> DownloadLink:
        """A signed GET of a ready file, saved under its filename, living `expires_in` seconds
        (1 s to 7 days; the download lifetime if None); a file still being processed is
        waited for (`settled`)."""
        lifetime = share_lifetime(expires_in, self._grants.download_lifetime)
        file = servable(await self._settled(principal, file_id))
        return DownloadLink(self._grants.download_url(file, lifetime=lifetime), lifetime)

    async def list_files(
        self, principal: Principal, *, after: str | None = None, limit: int = DEFAULT_PAGE
    ) -> FilePage:
        """The caller's own files by id, `limit` (1 to 200) after the file `after`; deleted
        files are never listed, and neither are another user's, whatever the caller's role."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput.one("limit", f"limit: from 1 to {MAX_PAGE}; {limit} is not")
        if after is not None and not (
            len(after) <= MAX_FILE_ID_LENGTH and FILE_ID.fullmatch(after)
        ):
            raise InvalidInput.one("after", "after: the `next` of a page, a file id")
        files = await self._records.owned_page(
            principal.realm, principal.user_id, statuses=LISTED, after_id=after, limit=limit + 1
        )
        more = len(files) > limit
        return FilePage(files[:limit], files[limit - 1].id if more else None)

    async def open_by_key(self, storage_key: str) -> Download:
        """The ready file stored at `storage_key`, for a signed GET that names only the key.

        The signature already granted access; what is checked here is that the bytes passed
        processing, so a signed URL can never serve an infected or unscanned object.
        """
        file = await self._records.find_by_key(storage_key)
        if file is None or file.status is FileStatus.DELETED:
            raise NotFound("no object at this key")
        file = servable(file)
        return Download(file, self._store)

    async def delete(self, principal: Principal, file_id: str) -> File:
        """Mark the file deleted, then remove its object and record; returns it as it was."""
        file = await self.describe(principal, file_id)
        gone = await self._lifecycle.delete(file, reason="deleted by its owner")
        await purge(self._lifecycle, self._store, gone)
        return file

    async def _settled(self, principal: Principal, file_id: str) -> File:
        async def read() -> File:
            file = await self.describe(principal, file_id)
            return file if self._notice is None else await self._notice(file)

        return await settled(read, self._read_wait)

    async def _discard_object(self, storage_key: str) -> None:
        try:
            await self._store.delete(storage_key)
        except StoreUnavailable:
            log.warning("could not remove an unrecorded object", extra={"key": storage_key})


async def purge(lifecycle: FileLifecycle, store: ObjectStore, deleted: File) -> bool:
    """Remove a deleted file's object, then its record; True when both are gone.

    With the store down the record stays `deleted` (never served, never listed) and the
    sweeper purges it later, so a delete never waits on the store. The record of an upload
    grant whose id must stay claimed (`claim_open`) is kept too, for a later sweep.
    """
    try:
        await store.delete(deleted.storage_key)
    except StoreUnavailable:
        log.warning("store unavailable; deleted file purged later", extra={"id": deleted.id})
        return False
    if claim_open(deleted, lifecycle.now()):
        return False
    return await lifecycle.forget(deleted)


def _small(declared_length: int | None) -> bool:
    return declared_length is not None and declared_length <= EARLY_ID_CHECK_BYTES


def _id_taken(file_id: str) -> Conflict:
    return Conflict(f"a file with id {file_id!r} exists already")


def servable(file: File) -> File:
    """Only `ready` bytes are served; the error says whether waiting can help."""
    if file.status in (FileStatus.REJECTED, FileStatus.FAILED):
        raise ProcessingRefused(f"the file was {file.status.value}: {file.status_reason}")
    if file.status is not FileStatus.READY:
        raise NotReady(f"the file is {file.status.value}, not ready to be served")
    return file


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield
