"""Reconciliation: repair the drift between file records and the objects in the store.

Three kinds of drift. A write that a dead writer left unfinished (a crash mid-upload) is
removed once nothing has touched it for an hour; this also runs once at start-up. An object
that no record names (a crash between writing it and committing
its record, as when processing copies a landing object to its private key) is an orphan: once
it is older than a grace period, so that uploads and copies still in flight are never touched,
it is deleted. A record whose object is gone is marked `failed` and kept, so the loss stays
visible instead of the file silently disappearing. An upload grant's object without a record
is not an orphan while its grant can still make one: it is adopted (core/arrivals.py).

One round reads records a page at a time and keys a batch at a time, so it runs in bounded
memory however large the store. A store or database outage stops the round with an error and
the next round starts over; every repair is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from filedock.core.errors import Unavailable
from filedock.core.files import PRIVATE_PREFIX, Clock, utc_now
from filedock.core.lifecycle import FileLifecycle, LostRace
from filedock.core.model import File, FileStatus
from filedock.core.upload_policy import LANDING_PREFIX
from filedock.ports.metadata import FileRecords
from filedock.ports.objectstore import InvalidKey, ObjectNotFound, ObjectStore

log = logging.getLogger("filedock.reconcile")
MISSING_OBJECT_REASON = "the stored object is missing"
DEFAULT_ORPHAN_GRACE = timedelta(hours=1)
# A live write touches its temporary file or multipart upload far more often than this.
DEFAULT_UNFINISHED_IDLE = timedelta(hours=1)
DEFAULT_PAGE_SIZE = 200
Adopt = Callable[[str], Awaitable[File | None]]
# Enough ids to look a few up from the log line; the count says how many there were.
MISSING_IDS_REPORTED = 20
# Record checks are one HEAD each: a few at a time keeps S3 round trips from adding up.
_HEAD_CONCURRENCY = 16


@dataclass(slots=True)
class ReconcileReport:
    """What one round found and repaired."""

    orphans_removed: int = 0
    orphans_young: int = 0
    records_missing_object: int = 0
    missing_file_ids: list[str] = field(default_factory=list)
    checked_objects: int = 0
    checked_records: int = 0
    unfinished_removed: int = 0
    adopted: int = 0


class Reconciler:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        *,
        clock: Clock = utc_now,
        orphan_grace: timedelta = DEFAULT_ORPHAN_GRACE,
        prefixes: Sequence[str] = (PRIVATE_PREFIX, LANDING_PREFIX),
        page_size: int = DEFAULT_PAGE_SIZE,
        unfinished_idle: timedelta = DEFAULT_UNFINISHED_IDLE,
        adopt: Adopt | None = None,
    ) -> None:
        """`adopt` makes the record of an upload grant's object (`UploadService.adopt`)."""
        self._adopt = adopt
        self._records = records
        self._lifecycle = FileLifecycle(records, clock)
        self._store = store
        self._clock = clock
        self._grace = orphan_grace
        self._prefixes = tuple(prefixes)
        self._page_size = page_size
        self._unfinished_idle = unfinished_idle

    async def run(self) -> ReconcileReport:
        """One round over the objects under the prefixes and over every record.

        Raises `Unavailable` when a dependency is down;
        what was repaired before stays repaired.
        """
        report = ReconcileReport()
        try:
            report.unfinished_removed = await self.clean_after_crash()
        except Unavailable:
            # E.g. an S3 policy without the multipart-listing permissions: the rest of the
            # round still repairs what it can (a store that is really down fails below).
            log.warning("could not remove unfinished writes", exc_info=True)
        now = self._clock()
        for prefix in self._prefixes:
            await self._remove_orphans(prefix, now, report)
        await self._fail_records_without_object(now, report)
        return report

    async def clean_after_crash(self) -> int:
        """Remove writes a dead writer left unfinished; how many. Also the start of `run`."""
        return await self._store.remove_unfinished_writes(self._unfinished_idle)

    async def _remove_orphans(self, prefix: str, now: datetime, report: ReconcileReport) -> None:
        batch: list[str] = []
        async for key in self._store.list_keys(prefix):
            batch.append(key)
            if len(batch) >= self._page_size:
                await self._settle_objects(batch, now, report)
                batch = []
        if batch:
            await self._settle_objects(batch, now, report)

    async def _settle_objects(
        self, keys: list[str], now: datetime, report: ReconcileReport
    ) -> None:
        report.checked_objects += len(keys)
        recorded = await self._records.existing_keys(keys)
        for key in keys:
            if key in recorded:
                continue
            if self._adopt is not None:
                # An upload grant's bytes nobody noticed (core/arrivals.py): a file now.
                adopted = await self._adopt(key)
                if adopted is not None and adopted.storage_key == key:
                    report.adopted += 1
                    continue
            try:
                info = await self._store.head(key)
            except ObjectNotFound:
                continue  # removed since it was listed
            except InvalidKey:
                continue  # put there by hand, not under a key of ours: not ours to delete
            if now - info.last_modified < self._grace:
                report.orphans_young += 1
                continue
            # A record may have been committed since the batch was looked up (a copy that
            # just finished); asking again right before deleting keeps that window tiny.
            if await self._records.existing_keys([key]):
                continue
            await self._store.delete(key)
            report.orphans_removed += 1

    async def _fail_records_without_object(self, now: datetime, report: ReconcileReport) -> None:
        after_id: str | None = None
        while True:
            page = await self._records.page(after_id=after_id, limit=self._page_size)
            report.checked_records += len(page)
            expected = [file for file in page if self._should_have_object(file, now)]
            for file in await self._without_object(expected):
                await self._mark_missing(file, report)
            if len(page) < self._page_size:
                return
            after_id = page[-1].id

    def _should_have_object(self, file: File, now: datetime) -> bool:
        """Whether the record's object must exist now (see processing.py for the moves).

        A ready file always has its object. An uploaded or processing one does too, except
        for a moment inside processing (refused bytes are deleted just before the refusal is
        recorded), so it counts only once it has not moved for the grace period. Pending
        files have no bytes yet; rejected, infected, deleted and failed ones lost theirs on
        purpose or are already marked.
        """
        if file.status is FileStatus.READY:
            return True
        if file.status in (FileStatus.UPLOADED, FileStatus.PROCESSING):
            return now - file.updated_at >= self._grace
        return False

    async def _without_object(self, files: list[File]) -> list[File]:
        limit = asyncio.Semaphore(_HEAD_CONCURRENCY)

        async def is_missing(file: File) -> bool:
            async with limit:
                try:
                    await self._store.head(file.storage_key)
                except ObjectNotFound:
                    return True
                return False

        # Every check finishes before an error is raised, so none runs on after the round.
        outcomes = await asyncio.gather(*(is_missing(f) for f in files), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [file for file, missing in zip(files, outcomes, strict=True) if missing is True]

    async def _mark_missing(self, file: File, report: ReconcileReport) -> None:
        # The record may have moved since its page was read: processing copied it to a
        # private key, or it was deleted. The move is a compare-and-set against the record as
        # read, so a repair never undoes someone else's newer write.
        try:
            await self._lifecycle.move(file, FileStatus.FAILED, reason=MISSING_OBJECT_REASON)
        except LostRace:
            return
        report.records_missing_object += 1
        if len(report.missing_file_ids) < MISSING_IDS_REPORTED:
            report.missing_file_ids.append(file.id)
