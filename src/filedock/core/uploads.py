"""Upload sessions: a signed URL now, the bytes later, straight to the store.

`issue_upload_url` hands out a URL bound to one method, one key, an expiry and a size limit;
not to a content type, which processing decides from the bytes (seed 001's clients PUT with
any type, or none). With upload grants configured it writes no row: the URL's key and the
file id carry the upload (core/upload_grants.py) and the record is made when the bytes arrive
(core/arrivals.py); otherwise, and for uploads that must be listed at once (the files page),
it records a `pending` file. The bytes never pass through a face: the client
sends them to the store (S3, or the app's own `/_blobs/` for the local store). The upload is
then noticed by whoever comes first (status polling, the sweeper, a bucket notification or
the blob face itself) and all of them call `notice_upload`, which is idempotent.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import AsyncIterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from filedock.core.arrivals import (
    CLOSED_UPLOAD,
    SESSION_GRACE,
    Arrivals,
    store_arrival,
    unrecorded_file,
)
from filedock.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    UnsupportedType,
)
from filedock.core.files import PRIVATE_PREFIX, PROCESS_FILE_JOB, Clock, purge, utc_now
from filedock.core.lifecycle import (
    FileLifecycle,
    LostRace,
    claim_open,
    create_or_existing,
    reachable,
)
from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.core.signing import SignedGrants
from filedock.core.upload_grants import UploadGrants
from filedock.core.upload_model import BucketEvent as BucketEvent  # re-exported
from filedock.core.upload_model import SweepReport as SweepReport
from filedock.core.upload_model import UploadTicket as UploadTicket
from filedock.core.upload_model import pending_file as pending_file
from filedock.core.upload_policy import (
    POLICY_LABEL,
    UploadPolicy,
    admitted_body,
    content_type_for,
    validate_filename,
)
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileRecords
from filedock.ports.objectstore import ObjectNotFound, ObjectStore, StoredObject
from filedock.ports.presign import PresignedRequest

COMMAND_PARENT = "upload_command"
# Seed 002's form carries `success_action_status` "201": its post answers S3's PostResponse.
COMMAND_SUCCESS = "201"
# The type of a file whose client named none; processing records what the bytes are.
UNDECLARED_TYPE = "application/octet-stream"


class UploadService:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        policies: dict[str, UploadPolicy],
        *,
        grants: SignedGrants | None = None,
        upload_grants: UploadGrants | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """`upload_grants`: sign uploads that need no row until their bytes arrive."""
        self._lifecycle = FileLifecycle(records, clock)
        self._records = records
        self._store = store
        self._grants = grants or SignedGrants(store, None)
        self._policies = policies
        self._clock = clock
        self._arrivals = (
            None
            if upload_grants is None
            else Arrivals(upload_grants, records, store, self._lifecycle, clock)
        )

    def policy(self, name: str) -> UploadPolicy:
        return self._policies[name]

    async def issue_upload_url(
        self,
        principal: Principal,
        filename: str,
        persist: bool,
        policy: UploadPolicy,
    ) -> UploadTicket:
        """Sign a PUT of a new file, bound to the policy's limits; with upload grants, no row
        is written (unless the policy lists uploads before their bytes arrive)."""
        filename = validate_filename(filename)
        content_type = content_type_for(filename)
        if not policy.allows(content_type):
            raise UnsupportedType(
                f"files of type {content_type} are not accepted here; allowed: "
                + ", ".join(policy.allowed_types)
            )
        now = self._clock()
        if self._arrivals is not None and not policy.listed_before_bytes:
            issued = self._arrivals.grants.issue(
                principal, policy, filename, content_type, persist, now
            )
            if issued is not None:  # else a key too long to carry it: a row, as before
                grant, key = issued
                request = self._grants.upload_url(key, policy)
                describe = functools.partial(unrecorded_file, grant)
                return UploadTicket(grant.file_id, request, policy, describe)
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
        request = self._grants.upload_url(file.storage_key, policy)
        created = await self._lifecycle.create(file)
        return UploadTicket(created.id, request, policy, lambda: created)

    async def issue_command_upload(
        self, principal: Principal, command_id: str, policy: UploadPolicy
    ) -> UploadTicket:
        """A browser form upload for the client's command `command_id`, idempotently.

        The command's file id is derived from the realm and the command id, so two requests
        with the same command (a retry after a lost answer, or two at once) meet on one
        record, and every answer is exactly the first one. Another user's command id is
        refused, so ids cannot be used to reach someone else's upload.
        """
        file_id = str(uuid.uuid5(_COMMAND_IDS, f"{principal.realm}\n{command_id}"))
        file = await self._lifecycle.get(file_id) or await self._legacy_command(
            principal, command_id
        )
        if file is None:
            key = f"{policy.key_prefix}{uuid.uuid4()}"
            request = self._grants.upload_form(key, policy, success_status=COMMAND_SUCCESS)
            first = pending_file(
                principal,
                policy,
                key,
                UNDECLARED_TYPE,
                self._clock(),
                file_id=file_id,
                parent_kind=COMMAND_PARENT,
                parent_id=command_id,
            )
            first = replace(first, labels={**first.labels, ANSWER_LABEL: _answer_text(request)})
            file, _ = await create_or_existing(self._lifecycle, first)
        if file.owner_realm != principal.realm or file.owner_id != principal.user_id:
            raise Forbidden("this command id belongs to another user's upload")
        return UploadTicket(file.id, self._first_answer(file, policy), policy, lambda: file)

    async def notice_upload(self, file: File) -> File:
        """If a pending file's object has arrived, mark it uploaded and queue processing.

        Idempotent: whoever notices first (a poll, the sweeper, a notification) moves the
        file; the others get the record as it now is.
        """
        if file.status is not FileStatus.PENDING or not file.revision:
            return file  # decided, or no row yet (`find_unrecorded` looked for its bytes)
        try:
            info = await self._store.head(file.storage_key)
        except ObjectNotFound:
            return file
        try:
            return await self._lifecycle.move(
                file, FileStatus.UPLOADED, size=info.size, then=[_process(file)]
            )
        except LostRace:
            return await self._current(file)

    async def notice_key(self, storage_key: str) -> File | None:
        """The store says `storage_key` was written (a bucket notification)."""
        file = await self._records.find_by_key(storage_key)
        if file is None:
            return None if self._arrivals is None else await self._arrivals.adopt(storage_key)
        return await self.notice_upload(file)

    async def find_unrecorded(self, principal: Principal, file_id: str) -> File | None:
        """The caller's upload grant that no row holds yet (`Arrivals.find`); None if none."""
        return None if self._arrivals is None else await self._arrivals.find(principal, file_id)

    async def adopt(self, storage_key: str) -> File | None:
        """The record of an upload grant's object found in the store (the reconciler)."""
        return None if self._arrivals is None else await self._arrivals.adopt(storage_key)

    async def notice_removed(self, storage_key: str) -> File | None:
        """The store says `storage_key` was deleted (a signed DELETE, a bucket notification).

        A ready file whose bytes are gone is not served again: its record is marked `deleted`.
        Other states are left alone: processing removes refused bytes itself (the notice of
        that must not hide why), and finds missing ones on its own.
        """
        file = await self._records.find_by_key(storage_key)
        if file is None or file.status is not FileStatus.READY:
            return file
        try:
            return await self._lifecycle.move(file, FileStatus.DELETED, reason=OBJECT_DELETED)
        except LostRace:
            return await self._records.get(file.id)

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
        await self._store.delete(storage_key)
        await self.notice_removed(storage_key)

    async def receive(
        self, storage_key: str, chunks: AsyncIterable[bytes], *, max_bytes: int
    ) -> File:
        """Store the bytes of a signed upload (the local store's `/_blobs/`), then notice them.

        Only a pending upload takes bytes, and only once: each request writes to a key of its
        own beside the landing key, and the compare-and-set that moves the file to `uploaded`
        decides which request's bytes the file has. A request that loses (a second PUT with
        the same URL, or one racing a delete) gets `Conflict` and its bytes are removed, so
        nothing can change bytes that are being, or have been, scanned. An empty body is
        refused before anything is stored, unless the upload's policy allows empty files.
        An upload grant's bytes make its record instead (`Arrivals.record`): the insert
        claims the id, and a request that finds it claimed loses the same way.
        """
        if self._arrivals is not None:
            grant = self._arrivals.grants.of_key(storage_key)
            if grant is not None:
                return await self._arrivals.receive(grant, storage_key, chunks, max_bytes=max_bytes)
        file = await self._records.find_by_key(storage_key)
        if file is None or file.status is not FileStatus.PENDING:
            raise Conflict(CLOSED_UPLOAD)
        policy = self._policies.get(file.labels.get(POLICY_LABEL, ""))
        chunks = await admitted_body(chunks, policy)

        async def record(key: str, stored: StoredObject) -> File:
            return await self._lifecycle.move(
                file,
                FileStatus.UPLOADED,
                storage_key=key,
                size=stored.size,
                sha256=stored.sha256,
                then=[_process(file)],
            )

        return await store_arrival(
            self._store, storage_key, chunks, max_bytes, record, lost=LostRace
        )

    async def status(self, principal: Principal, file_id: str) -> File:
        """Where a file is; polling a pending upload notices its bytes."""
        file = await self._lifecycle.get(file_id) or await self.find_unrecorded(principal, file_id)
        return await self.notice_upload(
            reachable(principal, file, missing=f"no file with id {file_id!r}")
        )

    async def sweep(self, *, limit: int = 500) -> SweepReport:
        """Notice unpolled uploads, drop sessions never used, remove expired temporary files,
        and purge deleted files whose object removal had to wait."""
        now = self._clock()
        report = SweepReport()
        if self._arrivals is not None:
            prefixes = [policy.key_prefix for policy in self._policies.values()]
            report.noticed += await self._arrivals.adopt_landed(prefixes, limit=limit)
        for file in await self._records.find(status=FileStatus.PENDING, limit=limit):
            noticed = await self.notice_upload(file)
            if noticed.status is not FileStatus.PENDING:
                report.noticed += 1
            elif self._session_expired(noticed, now):
                report.abandoned += await self._forget(noticed)
        for file in await self._records.find(expires_before=now, limit=limit):
            if file.status in (FileStatus.PENDING, FileStatus.UPLOADED, FileStatus.PROCESSING):
                continue  # still on its way; it is removed once it settles
            if file.status is FileStatus.DELETED and claim_open(file, now):
                continue  # its object is gone; the record keeps its grant's id claimed
            report.expired += await self._forget(file)
        tombstones = await self._records.find(
            status=FileStatus.DELETED, updated_before=now - SESSION_GRACE, limit=limit
        )
        for file in tombstones:
            if file.status_reason == OBJECT_DELETED and file.updated_at > now - TOMBSTONE_AGE:
                continue  # bytes already gone; the record waits for its schedule's removal
            if claim_open(file, now):
                continue  # an upload grant's id stays claimed until its URL's bytes cannot come
            report.purged += await purge(self._lifecycle, self._store, file)
        return report

    def _session_expired(self, file: File, now: datetime) -> bool:
        policy = self._policies.get(file.labels.get(POLICY_LABEL, ""))
        # A PUT may start just before the URL expires; give it time to finish.
        lifetime = (policy.url_expiry if policy else timedelta(hours=1)) + SESSION_GRACE
        return file.updated_at + lifetime < now

    async def _forget(self, file: File) -> bool:
        """Delete an unused session or an expired file: record first, so no one uses it."""
        if file.status is FileStatus.DELETED:
            return await purge(self._lifecycle, self._store, file)
        try:
            gone = await self._lifecycle.move(file, FileStatus.DELETED, reason="expired")
        except LostRace:
            return False  # it moved on (bytes arrived, or its owner deleted it)
        return await purge(self._lifecycle, self._store, gone)

    async def _current(self, file: File) -> File:
        current = await self._records.get(file.id)
        if current is None or current.status is FileStatus.DELETED:
            raise NotFound(f"no file with id {file.id!r}")
        return current

    async def _legacy_command(self, principal: Principal, command_id: str) -> File | None:
        """A command recorded before command ids decided file ids (migration 0006)."""
        for file in await self._records.find_by_parent(COMMAND_PARENT, command_id):
            if file.owner_realm == principal.realm:
                return file
        return None

    def _first_answer(self, file: File, policy: UploadPolicy) -> PresignedRequest:
        answer = file.labels.get(ANSWER_LABEL)
        if answer is not None:
            saved = json.loads(answer)
            return PresignedRequest(
                method="POST",
                url=saved["url"],
                fields=saved["fields"],
                headers={},
                expires_at=datetime.fromisoformat(saved["expires_at"]),
            )
        return self._grants.upload_form(
            file.storage_key.removeprefix(PRIVATE_PREFIX), policy, success_status=COMMAND_SUCCESS
        )


# A file whose object a signed DELETE removed keeps its record this long, so a schedule's
# "URL first, record second" removal still finds its document. Other deleted records are
# purged by the request that deleted them, or (the store was down) by the next sweep.
TOMBSTONE_AGE = timedelta(days=1)
OBJECT_DELETED = "the object was deleted"
ANSWER_LABEL = "command_answer"
_COMMAND_IDS = uuid.UUID("6f1c8f0e-55b1-4c52-9a55-0a4b3c1d2e7f")


def _process(file: File) -> JobRequest:
    return JobRequest(PROCESS_FILE_JOB, {"file_id": file.id})


def _answer_text(request: PresignedRequest) -> str:
    return json.dumps(
        {"url": request.url, "fields": request.fields, "expires_at": request.expires_at.isoformat()}
    )
