"""A file's lifecycle: the one owner of status moves, record writes and the access rule.

Every change to a file record goes through `FileLifecycle` and is a compare-and-set: the
record is written only if it still has the revision that was read, so two writers cannot both
win and nothing saves over a newer state. Losing is an explicit outcome (`LostRace`); the
loser re-reads if it wants to know who won. The allowed moves are the table `MOVES`;
`deleted` is final, so nothing brings a deleted file back.

The access rule (`reachable`) is here too: every face's path to a file goes through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from filedock.core.entropy import random_hex
from filedock.core.errors import Conflict, Forbidden, NotFound
from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken, FileRecords

log = logging.getLogger("filedock.lifecycle")

S = FileStatus
# The allowed moves. A move to the same status (a revision: a new storage key while
# processing, a refreshed pending session) is always allowed except from `deleted`.
MOVES: dict[FileStatus, frozenset[FileStatus]] = {
    S.PENDING: frozenset({S.UPLOADED, S.REJECTED, S.FAILED, S.DELETED}),
    S.UPLOADED: frozenset({S.PROCESSING, S.REJECTED, S.FAILED, S.DELETED}),
    S.PROCESSING: frozenset({S.READY, S.REJECTED, S.INFECTED, S.FAILED, S.DELETED}),
    # A ready file whose object vanished is marked failed by the reconciler.
    S.READY: frozenset({S.FAILED, S.DELETED}),
    S.REJECTED: frozenset({S.DELETED}),
    S.INFECTED: frozenset({S.DELETED}),
    S.FAILED: frozenset({S.DELETED}),
    S.DELETED: frozenset(),
}
# How often a delete re-reads and tries again when another writer moved the file first.
_DELETE_ATTEMPTS = 5
# The label of a record made for an upload grant (core/arrivals.py): until this moment (ISO
# 8601) its deleted record is kept, so the grant's URL or object cannot claim the id again.
CLAIM_LABEL = "claimed_until"


class LostRace(Conflict):
    """The record changed since it was read: another request or job moved it first.

    Names the file and the storage key the losing write was about, so the loser can remove
    bytes that no record refers to.
    """

    code = "lost_race"

    def __init__(
        self, message: str, *, file_id: str | None = None, storage_key: str | None = None
    ) -> None:
        super().__init__(message)
        self.file_id = file_id
        self.storage_key = storage_key


class IllegalMove(Conflict):
    """A move the lifecycle table does not allow (e.g. anything out of `deleted`)."""

    code = "illegal_move"


def may_access(principal: Principal, owner_realm: str, owner_id: str) -> bool:
    """Owners and admins of the owner's realm; nobody from another realm."""
    if principal.realm != owner_realm:
        return False
    return principal.is_admin or principal.user_id == owner_id


def reachable(principal: Principal, file: File | None, *, missing: str) -> File:
    """The file, if `principal` may use it; the one access rule of every face.

    Unknown, deleted and other realms' files are all `NotFound` (with `missing` as the
    message), so ids cannot be probed across APIs; a file of the caller's realm that belongs
    to someone else is `Forbidden`.
    """
    if file is None or file.status is FileStatus.DELETED or principal.realm != file.owner_realm:
        raise NotFound(missing)
    if not may_access(principal, file.owner_realm, file.owner_id):
        raise Forbidden("only the owner or an admin may access this file")
    return file


def claim_open(file: File, now: datetime) -> bool:
    """Whether `file`'s id must stay claimed by its record (see `CLAIM_LABEL`)."""
    until = file.labels.get(CLAIM_LABEL)
    return until is not None and now < datetime.fromisoformat(until)


def new_revision() -> str:
    return random_hex(16)


class FileLifecycle:
    """Creates, moves and forgets file records, each write a compare-and-set."""

    def __init__(self, records: FileRecords, clock: Callable[[], datetime]) -> None:
        self._records = records
        self._clock = clock

    async def create(self, file: File, *, then: Sequence[JobRequest] = ()) -> File:
        """Insert a new record (and its jobs); `FileIdTaken` if the id exists."""
        created = replace(file, revision=new_revision())
        await self._records.insert(created, then=then)
        return created

    async def move(
        self,
        file: File,
        to: FileStatus,
        *,
        reason: str | None = None,
        then: Sequence[JobRequest] = (),
        **changes: Any,
    ) -> File:
        """Move `file` (as read) to `to`, with `changes`; `LostRace` if it moved meanwhile."""
        if file.status is FileStatus.DELETED or (
            to is not file.status and to not in MOVES[file.status]
        ):
            raise IllegalMove(f"a {file.status.value} file cannot become {to.value}")
        moved = replace(
            file,
            **changes,
            status=to,
            status_reason=reason if to is not file.status else file.status_reason,
            updated_at=self._clock(),
            revision=new_revision(),
        )
        if not await self._records.replace(file, moved, then=then):
            raise LostRace(
                f"file {file.id!r} changed while this request was using it",
                file_id=file.id,
                storage_key=file.storage_key,
            )
        return moved

    async def revise(self, file: File, **changes: Any) -> File:
        """Change fields of `file` without moving its status; `LostRace` as `move`."""
        return await self.move(file, file.status, **changes)

    async def delete(self, file: File, *, reason: str) -> File:
        """Mark `file` deleted, winning against concurrent moves; returns the deleted record.

        A concurrent move (processing deciding) is not a reason to refuse the owner: the
        record is re-read and the delete tried again. Once `deleted`, nothing serves it and
        no writer can bring it back; the object is removed by the caller or, failing that,
        by the sweeper (`purge`). A file no row holds yet (an upload grant whose bytes have
        not arrived, core/arrivals.py) gets a `deleted` record: its insert claims the id, so
        no arrival can make the file afterwards; if bytes claimed it first, that record is
        deleted instead.
        """
        current: File | None = file
        if not file.revision:
            try:
                closed = replace(file, status=S.DELETED, status_reason=reason)
                return await self.create(replace(closed, updated_at=self._clock()))
            except FileIdTaken:
                current = await self._records.get(file.id)
        for _ in range(_DELETE_ATTEMPTS):
            if current is None or current.status is FileStatus.DELETED:
                raise NotFound(f"no file with id {file.id!r}")
            try:
                return await self.move(current, FileStatus.DELETED, reason=reason)
            except LostRace:
                current = await self._records.get(file.id)
        raise LostRace(f"file {file.id!r} kept changing; try the delete again")

    async def forget(self, file: File) -> bool:
        """Remove the record as read (deleted files, sessions never used); False if it moved."""
        return await self._records.remove(file)

    async def get(self, file_id: str) -> File | None:
        return await self._records.get(file_id)

    def now(self) -> datetime:
        return self._clock()


async def create_or_existing(lifecycle: FileLifecycle, file: File) -> tuple[File, bool]:
    """Insert `file`, or return the record that took its id first (and False)."""
    try:
        return await lifecycle.create(file), True
    except FileIdTaken:
        existing = await lifecycle.get(file.id)
        if existing is None:  # taken and removed in between: rare; let the caller retry
            raise LostRace(f"file {file.id!r} changed while this request was using it") from None
        return existing, False
