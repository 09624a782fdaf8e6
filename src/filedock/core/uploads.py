"""Upload sessions: a signed URL now, the bytes later, straight to the store.

`issue_upload_url` records a `pending` file and hands out a URL bound to one method, one key,
an expiry, a size limit and a content type. The bytes never pass through a face: the client
sends them to the store (S3, or the app's own `/_blobs/` for the local store). The upload is
then noticed by whoever comes first (status polling, the sweeper, a bucket notification or
the blob face itself) and all of them call `notice_upload`, which is idempotent.
"""

from __future__ import annotations

import mimetypes
import unicodedata
import uuid
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from filedock.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageUnavailable,
    TooLarge,
    UnsupportedType,
)
from filedock.core.files import PROCESS_FILE_JOB, Clock, utc_now
from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.core.sniffing import DOCX, XLSX
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileRecords
from filedock.ports.objectstore import (
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StoreUnavailable,
)
from filedock.ports.presign import PresignedRequest, UploadLimits

MAX_FILENAME_LENGTH = 255
POLICY_LABEL = "upload_policy"
# Signed uploads land here; processing copies what it accepts to a private key.
LANDING_PREFIX = "uploads/"

# Extensions the platform's table may not know (or maps differently on some systems).
_EXTENSION_TYPES = {
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".docx": DOCX,
    ".xlsx": XLSX,
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
}


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """What one upload path accepts: types, size, where keys go and how long URLs live."""

    name: str
    allowed_types: tuple[str, ...]
    max_bytes: int
    key_prefix: str
    url_expiry: timedelta
    temporary_lifetime: timedelta

    def allows(self, content_type: str) -> bool:
        """Whether files of `content_type` may come this way; no listed types means any."""
        if not self.allowed_types:
            return True
        return content_type.split(";", 1)[0].strip().lower() in self.allowed_types


SIGNED_URL_POLICY = UploadPolicy(
    name="signed-url",
    allowed_types=("text/csv", "text/plain", "application/pdf", DOCX, XLSX),
    max_bytes=10_485_760,
    key_prefix=LANDING_PREFIX,
    url_expiry=timedelta(seconds=600),
    temporary_lifetime=timedelta(hours=24),
)


# Browser form uploads by command (seed 002): any type (processing still refuses executables
# and sniffs what the bytes are), up to the server's upload limit, for an hour as in the seed.
FORM_COMMAND_POLICY = UploadPolicy(
    name="s3-command",
    allowed_types=(),
    max_bytes=5 * 1024**3,
    key_prefix="direct_uploads/",
    url_expiry=timedelta(hours=1),
    temporary_lifetime=timedelta(hours=24),
)
COMMAND_PARENT = "upload_command"
# The type of a file whose client named none; processing records what the bytes are.
UNDECLARED_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """A pending file and the signed request that delivers its bytes."""

    file: File
    request: PresignedRequest
    policy: UploadPolicy

    @property
    def expires_in(self) -> int:
        return int(self.policy.url_expiry.total_seconds())


class UploadService:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        policies: dict[str, UploadPolicy],
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._records = records
        self._store = store
        self._policies = policies
        self._clock = clock

    def policy(self, name: str) -> UploadPolicy:
        return self._policies[name]

    async def issue_upload_url(
        self, principal: Principal, filename: str, persist: bool, policy: UploadPolicy
    ) -> UploadTicket:
        """Record a pending file and sign a PUT for it, bound to the policy's limits."""
        filename = validate_filename(filename)
        content_type = content_type_for(filename)
        if not policy.allows(content_type):
            raise UnsupportedType(
                f"files of type {content_type} are not accepted here; allowed: "
                + ", ".join(policy.allowed_types)
            )
        now = self._clock()
        file = pending_file(
            principal,
            policy,
            f"{policy.key_prefix}{uuid.uuid4().hex}",
            content_type,
            now,
            filename=filename,
            persist=persist,
            expires_at=None if persist else now + policy.temporary_lifetime,
        )
        request = self._store.presign(
            "PUT",
            file.storage_key,
            expires_in=policy.url_expiry,
            limits=UploadLimits(max_bytes=policy.max_bytes, content_type=content_type),
        )
        await self._records.insert(file)
        return UploadTicket(file, request, policy)

    async def issue_command_upload(
        self, principal: Principal, command_id: str, policy: UploadPolicy
    ) -> UploadTicket:
        """A browser form upload for the client's command `command_id`, idempotently.

        The same command from the same user gets the same key and a fresh signature (a retry
        after a lost answer must not make a second file); another user's command id is
        refused, so ids cannot be used to reach someone else's upload.
        """
        earlier = await self._records.find_by_parent(COMMAND_PARENT, command_id)
        if earlier:
            file = earlier[0]
            if file.owner_id != principal.user_id:
                raise Forbidden("this command id belongs to another user's upload")
            if file.status is FileStatus.PENDING:
                # The session lives as long as its newest signature (see `_session_expired`).
                file = replace(file, updated_at=self._clock())
                await self._records.save(file)
        else:
            file = pending_file(
                principal,
                policy,
                f"{policy.key_prefix}{uuid.uuid4()}",
                UNDECLARED_TYPE,
                self._clock(),
                parent_kind=COMMAND_PARENT,
                parent_id=command_id,
            )
            await self._records.insert(file)
        request = self._store.presign_post(
            file.storage_key,
            expires_in=policy.url_expiry,
            limits=UploadLimits(max_bytes=policy.max_bytes),
        )
        return UploadTicket(file, request, policy)

    async def notice_upload(self, file: File) -> File:
        """If a pending file's object has arrived, mark it uploaded and queue processing."""
        if file.status is not FileStatus.PENDING:
            return file
        try:
            info = await self._store.head(file.storage_key)
        except ObjectNotFound:
            return file
        except StoreUnavailable as exc:
            raise StorageUnavailable("the object store is unavailable") from exc
        uploaded = replace(
            file, size=info.size, status=FileStatus.UPLOADED, updated_at=self._clock()
        )
        await self._records.save(
            uploaded, then=[JobRequest(PROCESS_FILE_JOB, {"file_id": file.id})]
        )
        return uploaded

    async def notice_key(self, storage_key: str) -> File | None:
        """The store says `storage_key` was written (blob face, bucket notification)."""
        file = await self._records.find_by_key(storage_key)
        return None if file is None else await self.notice_upload(file)

    async def notice_removed(self, storage_key: str) -> File | None:
        """The store says `storage_key` was deleted (a signed DELETE, a bucket notification).

        A ready file whose bytes are gone is not served again: its record is marked `deleted`.
        Other states are left alone: processing removes refused bytes itself (the notice of
        that must not hide why), and finds missing ones on its own.
        """
        file = await self._records.find_by_key(storage_key)
        if file is None or file.status is not FileStatus.READY:
            return file
        gone = file.moved_to(FileStatus.DELETED, self._clock(), "the object was deleted")
        await self._records.save(gone)
        return gone

    async def notice_bucket_events(self, events: Sequence[BucketEvent]) -> int:
        """Act on a bucket's notifications; returns how many named an upload or file of ours.

        Notifications are hints, never trusted for content: a created object is checked
        with the store before anything moves, and an unknown key is ignored.
        """
        noticed = 0
        for event in events:
            key = self._store.key_in_notification(event.bucket, event.object_name)
            if key is None:
                continue
            if event.created:
                file = await self.notice_key(key)
                noticed += file is not None and file.status is not FileStatus.PENDING
            else:
                file = await self.notice_removed(key)
                noticed += file is not None and file.status is FileStatus.DELETED
        return noticed

    async def remove_object(self, storage_key: str) -> None:
        """A signed DELETE on the local store: the object goes, then its record is told."""
        try:
            await self._store.delete(storage_key)
        except StoreUnavailable as exc:
            raise StorageUnavailable("the object store is unavailable") from exc
        await self.notice_removed(storage_key)

    async def receive(
        self, storage_key: str, chunks: AsyncIterable[bytes], *, max_bytes: int
    ) -> File:
        """Store the bytes of a signed upload (the local store's `/_blobs/`), then notice them.

        Only a pending upload takes bytes: once one upload has arrived, its processing has the
        key, and a second PUT with the same URL must not change what is being scanned.
        """
        file = await self._records.find_by_key(storage_key)
        if file is None or file.status is not FileStatus.PENDING:
            raise Conflict("this upload is closed: its bytes have arrived or it expired")
        try:
            await self._store.write(storage_key, chunks, max_bytes=max_bytes)
        except ObjectTooLarge:
            raise TooLarge(max_bytes) from None
        except StoreUnavailable as exc:
            raise StorageUnavailable("the object store is unavailable") from exc
        return await self.notice_upload(file)

    async def status(self, principal: Principal, file_id: str) -> File:
        """Where a file is; polling a pending upload notices its bytes."""
        file = await self._records.get(file_id)
        if file is None or file.status is FileStatus.DELETED:
            raise NotFound(f"no file with id {file_id!r}")
        if not principal.may_access(file.owner_id):
            raise Forbidden("only the owner or an admin may access this file")
        return await self.notice_upload(file)

    async def sweep(self, *, limit: int = 500) -> SweepReport:
        """Notice unpolled uploads, drop sessions never used, remove expired temporary files."""
        now = self._clock()
        report = SweepReport()
        for file in await self._records.find(status=FileStatus.PENDING, limit=limit):
            noticed = await self.notice_upload(file)
            if noticed.status is not FileStatus.PENDING:
                report.noticed += 1
            elif self._session_expired(file, now):
                await self._forget(file)
                report.abandoned += 1
        for file in await self._records.find(expires_before=now, limit=limit):
            if file.status in (FileStatus.PENDING, FileStatus.UPLOADED, FileStatus.PROCESSING):
                continue  # still on its way; it is removed once it settles
            await self._forget(file)
            report.expired += 1
        return report

    def _session_expired(self, file: File, now: datetime) -> bool:
        policy = self._policies.get(file.labels.get(POLICY_LABEL, ""))
        # A PUT may start just before the URL expires; give it time to finish.
        lifetime = (policy.url_expiry if policy else timedelta(hours=1)) + SESSION_GRACE
        return file.updated_at + lifetime < now

    async def _forget(self, file: File) -> None:
        try:
            await self._store.delete(file.storage_key)
        except StoreUnavailable as exc:
            raise StorageUnavailable("the object store is unavailable") from exc
        await self._records.remove(file.id)


SESSION_GRACE = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class BucketEvent:
    """One record of a bucket notification: an object was created or removed."""

    created: bool
    bucket: str
    object_name: str


@dataclass(slots=True)
class SweepReport:
    noticed: int = 0
    abandoned: int = 0
    expired: int = 0


def pending_file(
    principal: Principal,
    policy: UploadPolicy,
    storage_key: str,
    content_type: str,
    now: datetime,
    *,
    file_id: str | None = None,
    **fields: Any,
) -> File:
    """A new upload waiting for its bytes, owned by `principal`, under `policy`."""
    return File(
        id=file_id or str(uuid.uuid4()),
        owner_id=principal.user_id,
        owner_role=principal.role,
        storage_key=storage_key,
        content_type=content_type,
        status=FileStatus.PENDING,
        created_at=now,
        updated_at=now,
        labels={POLICY_LABEL: policy.name},
        **fields,
    )


def validate_filename(filename: str) -> str:
    """A display name: kept for downloads, never used to build a storage key."""
    name = unicodedata.normalize("NFC", filename.strip())
    if not name:
        raise InvalidInput.one("filename", "the filename is empty")
    if len(name) > MAX_FILENAME_LENGTH:
        raise InvalidInput.one("filename", f"the filename is longer than {MAX_FILENAME_LENGTH}")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidInput.one("filename", "the filename holds control characters")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInput.one("filename", "the filename must not hold a path")
    return name


def content_type_for(filename: str) -> str:
    """The MIME type a filename's extension announces; octet-stream when unknown."""
    extension = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    known = _EXTENSION_TYPES.get(extension)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"
