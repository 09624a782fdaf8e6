"""Arrivals: the record of a grant-signed upload is made when its bytes arrive, not before.

An upload URL issued with a grant (core/upload_grants.py) leaves no row. Its record is
inserted by whoever first meets its bytes: the `/_blobs/` PUT or form POST (`record`), or, for
bytes sent straight to S3, a status poll that lists the grant's folder, a bucket
notification, the sweeper or the reconciler (`adopt`). The insert is the compare-and-set that
claims the id: exactly one arrival wins, every other one finds the record (`FileIdTaken`).

Until then the owner's status poll answers a `pending` file no row holds (`find`), for as long
as an unused session lasted when sessions were rows. Deleting it inserts a `deleted` record
(`FileLifecycle.delete`), which claims the id so the URL can no longer deliver. Deleted
records of grants keep their id claimed until no object of the grant can be adopted any more
(`CLAIM_LABEL`), so nothing a URL delivered can bring a deleted file back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from datetime import timedelta

from filedock.core.entropy import random_hex
from filedock.core.errors import Conflict, TooLarge, Unavailable
from filedock.core.files import PROCESS_FILE_JOB, Clock
from filedock.core.lifecycle import CLAIM_LABEL, FileLifecycle
from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.core.upload_grants import UploadGrant, UploadGrants
from filedock.core.upload_policy import POLICY_LABEL, admitted_body
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken, FileRecords
from filedock.ports.objectstore import (
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StoredObject,
)

CLOSED_UPLOAD = "this upload is closed: its bytes have arrived or it expired"
# An unused upload answers `pending` this long after its URL expired (a PUT may start just
# before the URL expires), then not-found.
SESSION_GRACE = timedelta(minutes=15)
# How long after its URL expired a grant's object still becomes a file: bytes sent to S3
# while filedock was down, or that nobody polled and no notification named, are found by
# the sweeper or the reconciler within this time; later they are orphans.
ADOPTION_GRACE = timedelta(days=1)


class Arrivals:
    def __init__(
        self,
        grants: UploadGrants,
        records: FileRecords,
        store: ObjectStore,
        lifecycle: FileLifecycle,
        clock: Clock,
    ) -> None:
        self.grants = grants
        self._records = records
        self._store = store
        self._lifecycle = lifecycle
        self._clock = clock

    async def record(
        self, grant: UploadGrant, storage_key: str, *, size: int, sha256: str | None = None
    ) -> File:
        """Insert the grant's record, `uploaded`, with its processing job; `FileIdTaken` if
        another arrival (or a delete) claimed the id first."""
        now = self._clock()
        file = File(
            id=grant.file_id,
            owner_realm=grant.owner_realm,
            owner_id=grant.owner_id,
            owner_role=grant.owner_role,
            storage_key=storage_key,
            content_type=grant.content_type,
            status=FileStatus.UPLOADED,
            created_at=grant.issued_at,
            updated_at=now,
            size=size,
            sha256=sha256,
            filename=grant.filename,
            persist=grant.persist,
            expires_at=grant.expires_at,
            labels=_labels(grant),
        )
        job = JobRequest(PROCESS_FILE_JOB, {"file_id": file.id})
        return await self._lifecycle.create(file, then=[job])

    async def receive(
        self,
        grant: UploadGrant,
        storage_key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
    ) -> File:
        """Store a grant's bytes from `/_blobs/` under a key of this request's own, then
        record them; a request that finds the id claimed gets `Conflict`, its bytes removed."""
        if await self._records.get(grant.file_id) is not None:  # refuse early; the insert decides
            raise Conflict(CLOSED_UPLOAD)
        chunks = await admitted_body(chunks, grant.policy)

        async def record(key: str, stored: StoredObject) -> File:
            return await self.record(grant, key, size=stored.size, sha256=stored.sha256)

        return await store_arrival(
            self._store, storage_key, chunks, max_bytes, record, lost=FileIdTaken
        )

    async def adopt(self, key: str) -> File | None:
        """The record of a grant's object found in the store, made if there is none.

        None if the key is no grant's, its adoption window has closed, or the object is gone.
        A record the id already has (another arrival, a delete) is returned as it is.
        """
        grant = self.grants.of_key(key)
        if grant is None:
            return None
        existing = await self._records.get(grant.file_id)
        if existing is not None:
            return existing
        if self._clock() >= grant.url_expires_at + ADOPTION_GRACE:
            return None
        try:
            info = await self._store.head(key)
        except (ObjectNotFound, InvalidKey):
            return None
        try:
            return await self.record(grant, key, size=info.size)
        except FileIdTaken:
            return await self._records.get(grant.file_id)

    async def find(self, principal: Principal, file_id: str) -> File | None:
        """For an id no record holds: the caller's own grant, adopted if its bytes are in the
        store, else a `pending` file no row holds while its session lasts; None otherwise."""
        grant = self.grants.of_file_id(principal, file_id)
        if grant is None:
            return None
        now = self._clock()
        if now < grant.url_expires_at + ADOPTION_GRACE:
            async for key in self._store.list_keys(grant.landing_folder):
                found = await self.adopt(key)
                if found is not None:
                    return found
        if now >= grant.url_expires_at + SESSION_GRACE:
            return None
        return unrecorded_file(grant)

    async def adopt_landed(self, prefixes: Sequence[str], *, limit: int) -> int:
        """Adopt grants' objects nobody noticed (the sweeper's round); how many."""
        adopted = 0
        seen = 0
        for prefix in dict.fromkeys(prefixes):
            keys: list[str] = []
            async for key in self._store.list_keys(prefix):
                if self.grants.of_key(key) is not None:
                    keys.append(key)
                seen += 1
                if seen >= limit:
                    break
            recorded = await self._records.existing_keys(keys) if keys else set()
            for key in keys:
                if key in recorded:
                    continue
                file = await self.adopt(key)
                adopted += file is not None and file.storage_key == key
            if seen >= limit:
                break
        return adopted


async def store_arrival(
    store: ObjectStore,
    storage_key: str,
    chunks: AsyncIterable[bytes],
    max_bytes: int,
    record: Callable[[str, StoredObject], Awaitable[File]],
    *,
    lost: type[Exception],
) -> File:
    """Store bytes sent to `storage_key` under a key of this request's own beside it
    (`{key}.{random}`), so racing requests never write over each other, then `record` them.

    If recording fails the bytes are removed; failing with `lost` (another request or a
    delete decided first) is `Conflict`, the upload being closed. If whether the record was
    written is unknown (the database went away mid-commit, or this request was cancelled
    while a shared transaction carried its record on), the bytes stay: a record may name
    them, and the reconciler removes them if none does.
    """
    arrival_key = f"{storage_key}.{random_hex(6)}"
    try:
        stored = await store.write(arrival_key, chunks, max_bytes=max_bytes)
    except ObjectTooLarge:
        raise TooLarge(max_bytes) from None
    try:
        return await record(arrival_key, stored)
    except (Unavailable, asyncio.CancelledError):
        raise
    except Exception as exc:
        with contextlib.suppress(Unavailable):
            await store.delete(arrival_key)
        if isinstance(exc, lost):
            raise Conflict(CLOSED_UPLOAD) from None
        raise


def unrecorded_file(grant: UploadGrant) -> File:
    """A grant whose bytes have not arrived, as a `pending` file (no row holds it).

    Its storage key is the grant's folder: the object's own key names the filename, which the
    id does not carry; so the filename is unknown until the bytes arrive.
    """
    return File(
        id=grant.file_id,
        owner_realm=grant.owner_realm,
        owner_id=grant.owner_id,
        owner_role=grant.owner_role,
        storage_key=grant.landing_folder.rstrip("/"),
        content_type=grant.content_type,
        status=FileStatus.PENDING,
        created_at=grant.issued_at,
        updated_at=grant.issued_at,
        filename=grant.filename,
        persist=grant.persist,
        expires_at=grant.expires_at,
        labels=_labels(grant),
    )


def _labels(grant: UploadGrant) -> dict[str, str]:
    claimed_until = grant.url_expires_at + ADOPTION_GRACE
    return {POLICY_LABEL: grant.policy.name, CLAIM_LABEL: claimed_until.isoformat()}
