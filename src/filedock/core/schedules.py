"""Schedule documents (seed 000): files attached to a schedule, reached by signed URLs.

A schedule belongs to the user who first attaches a document to it. A trusted back-end may
declare the schedule's participants (its payer and payee, say): Cognito subjects who may use
it as its owner does. Owner, participants and the pool's admins may attach, list, read and
delete its documents, nobody else (`may_use_schedule`). A schedule with declared participants
is claimed only by one of them (or an admin); without any, the first user to attach claims it.

A document is a File whose parent is the schedule; its bytes go through the same processing
as every other upload. Storage keys are `schedules/<schedule>/<document id>.<ext>`: never the
user's filename, which is kept as metadata.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Set
from dataclasses import dataclass

from filedock.core.account_model import ApiKey
from filedock.core.errors import Forbidden, InvalidInput, NotFound
from filedock.core.files import Clock, Notice, servable, utc_now
from filedock.core.lifecycle import FileLifecycle, may_access
from filedock.core.model import File, FileStatus
from filedock.core.principal import COGNITO_REALM, Principal
from filedock.core.read_wait import ReadWait, settled
from filedock.core.signing import SignedGrants
from filedock.core.upload_policy import UploadPolicy, content_type_for, validate_filename
from filedock.core.uploads import pending_file
from filedock.ports.metadata import FileRecords
from filedock.ports.objectstore import ObjectStore
from filedock.ports.presign import PresignedRequest
from filedock.ports.schedules import ScheduleOwners, ScheduleParticipants

log = logging.getLogger("filedock.schedules")

SCHEDULE_PARENT = "schedule"
MAX_SCHEDULE_ID_LENGTH = 128
MAX_PARTICIPANTS = 20
MAX_SUBJECT_LENGTH = 256
FORBIDDEN = "You do not have permission to perform this action."
# The seed's own words (typo included): clients may match on them.
DUPLICATE_NAME = "Dublicate file name. Please choose another one."


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """What schedules accept: file extensions and documents per schedule. Their URLs live as
    long as the schedules upload policy says."""

    extensions: tuple[str, ...]
    max_documents: int


@dataclass(frozen=True, slots=True)
class AttachedDocument:
    """A pending document and the form that uploads its bytes."""

    file: File
    form: PresignedRequest


@dataclass(frozen=True, slots=True)
class DeclaredParticipants:
    """A schedule's participants as a back-end declared them, sorted."""

    schedule_id: str
    subjects: tuple[str, ...]


class ScheduleDocuments:
    def __init__(
        self,
        records: FileRecords,
        store: ObjectStore,
        owners: ScheduleOwners,
        policy: UploadPolicy,
        rules: ScheduleRules,
        *,
        participants: ScheduleParticipants,
        grants: SignedGrants | None = None,
        clock: Clock = utc_now,
        read_wait: ReadWait | None = None,
        notice: Notice | None = None,
    ) -> None:
        """`notice` checks the store for a pending document's bytes before a read gives up."""
        self._grants = grants or SignedGrants(store, None)
        self._read_wait = read_wait or ReadWait()
        self._notice = notice
        self._records = records
        self._lifecycle = FileLifecycle(records, clock)
        self._store = store
        self._owners = owners
        self._participants = participants
        self._policy = policy
        self._rules = rules
        self._clock = clock

    async def attach(
        self, principal: Principal, schedule_id: str, filename: str
    ) -> AttachedDocument:
        """Record a pending document of `schedule_id` and sign the form that uploads it."""
        schedule_id = validate_schedule_id(schedule_id)
        filename = validate_filename(filename)
        extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if extension not in self._rules.extensions:
            raise InvalidInput.one("filename", f"{filename} is not in supported format")
        now = self._clock()
        participants = await self._participants.participants(schedule_id)
        if participants:
            # Checked before claiming: a declared schedule is claimed only by one of its parties.
            _check_access(principal, await self._owners.owner(schedule_id), participants)
        owner = await self._owners.claim(schedule_id, principal.user_id, now)
        _check_access(principal, owner, participants)
        documents = await self._documents(schedule_id)
        if any(document.filename == filename for document in documents):
            raise InvalidInput.one("filename", DUPLICATE_NAME)
        if len(documents) >= self._rules.max_documents:
            raise InvalidInput.one(
                "schedule",
                f"A schedule holds at most {self._rules.max_documents} documents; "
                "delete one to attach another.",
            )
        document_id = str(uuid.uuid4())
        content_type = content_type_for(filename)
        file = pending_file(
            principal,
            self._policy,
            f"{self._policy.key_prefix}{schedule_id}/{document_id}.{extension}",
            content_type,
            now,
            file_id=document_id,
            filename=filename,
            parent_kind=SCHEDULE_PARENT,
            parent_id=schedule_id,
        )
        form = self._grants.upload_form(file.storage_key, self._policy, content_type)
        return AttachedDocument(await self._lifecycle.create(file), form)

    async def documents(self, principal: Principal, schedule_id: str) -> list[File]:
        """The schedule's documents, oldest first; a schedule never used has none."""
        schedule_id = validate_schedule_id(schedule_id)
        owner = await self._owners.owner(schedule_id)
        if owner is None:
            return []
        _check_access(principal, owner, await self._participants.participants(schedule_id))
        return await self._documents(schedule_id)

    async def read_url(self, principal: Principal, document_id: str) -> PresignedRequest:
        """A short-lived signed GET of a processed document; one still on its way is waited
        for (`settled`), and a pending one's bytes are looked for in the store first, as a
        status poll would (S3 tells nobody of a form post without bucket notifications)."""

        async def read() -> File:
            file = await self._document(principal, document_id)
            return file if self._notice is None else await self._notice(file)

        file = servable(await settled(read, self._read_wait))
        return self._grants.download_url(file, lifetime=self._policy.url_expiry)

    async def delete_url(self, principal: Principal, document_id: str) -> PresignedRequest:
        """A short-lived signed DELETE of a document's object."""
        file = await self._document(principal, document_id)
        return self._grants.delete_url(file, lifetime=self._policy.url_expiry)

    async def remove(self, principal: Principal, schedule_id: str, document_id: str) -> None:
        """Remove a document of `schedule_id`: its object, then its record.

        A document whose object a signed DELETE already removed (`deleted`) is still there
        to remove: that is the seed's flow, URL first, record second.
        """
        file = await self._document(principal, document_id, include_deleted=True)
        if file.parent_id != validate_schedule_id(schedule_id):
            raise NotFound("Not found.")
        if file.status is not FileStatus.DELETED:
            file = await self._lifecycle.delete(file, reason="removed from its schedule")
        await self._store.delete(file.storage_key)
        await self._lifecycle.forget(file)

    async def declare_participants(
        self, back_end: ApiKey, schedule_id: str, subjects: object
    ) -> DeclaredParticipants:
        """Make `subjects` the schedule's participants (replacing any declared before).

        `back_end` is the trusted back-end's live key: it vouches for the list. The schedule
        need not exist yet; its owner stays whoever attaches first.
        """
        schedule_id = validate_schedule_id(schedule_id)
        declared = validate_participants(subjects)
        await self._participants.replace(schedule_id, declared, self._clock())
        log.info(
            "schedule participants declared",
            extra={"schedule": schedule_id, "api_key": back_end.name, "count": len(declared)},
        )
        return DeclaredParticipants(schedule_id, tuple(sorted(declared)))

    async def declared_participants(
        self, back_end: ApiKey, schedule_id: str
    ) -> DeclaredParticipants:
        """The schedule's participants as last declared; none if never declared."""
        schedule_id = validate_schedule_id(schedule_id)
        declared = await self._participants.participants(schedule_id)
        return DeclaredParticipants(schedule_id, tuple(sorted(declared)))

    async def _document(
        self, principal: Principal, document_id: str, *, include_deleted: bool = False
    ) -> File:
        file = await self._records.get(_checked_document_id(document_id))
        if file is None or file.parent_kind != SCHEDULE_PARENT or file.parent_id is None:
            raise NotFound("Not found.")
        if file.owner_realm != principal.realm:
            raise NotFound("Not found.")
        if file.status is FileStatus.DELETED and not include_deleted:
            raise NotFound("Not found.")
        schedule_id = file.parent_id
        participants = await self._participants.participants(schedule_id)
        _check_access(principal, await self._owners.owner(schedule_id), participants)
        return file

    async def _documents(self, schedule_id: str) -> list[File]:
        files = await self._records.find_by_parent(SCHEDULE_PARENT, schedule_id)
        return [file for file in files if file.status is not FileStatus.DELETED]


def validate_schedule_id(schedule_id: str) -> str:
    """A schedule id is the client's UUID, in canonical form."""
    try:
        return str(uuid.UUID(schedule_id))
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput.one("schedule", "The 'schedule' parameter must be a UUID") from None


def _checked_document_id(document_id: str) -> str:
    try:
        return str(uuid.UUID(document_id))
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput.one("document", "The 'document' parameter must be a UUID") from None


def validate_participants(subjects: object) -> frozenset[str]:
    """1 to 20 subjects, each a non-blank string of at most 256 characters; repeats collapse."""
    if not isinstance(subjects, list):
        raise InvalidInput.one("participants", "'participants' must be a list of user ids")
    if not 1 <= len(subjects) <= MAX_PARTICIPANTS:
        raise InvalidInput.one(
            "participants", f"'participants' must hold 1 to {MAX_PARTICIPANTS} user ids"
        )
    for subject in subjects:
        if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
            raise InvalidInput.one(
                "participants",
                f"each participant must be a non-empty string of at most {MAX_SUBJECT_LENGTH}"
                " characters",
            )
    return frozenset(subjects)


def may_use_schedule(principal: Principal, owner: str | None, participants: Set[str]) -> bool:
    """The schedule's owner, a participant a back-end declared, or a Cognito pool admin.

    Schedules are the Cognito pool's: their owners and participants are its subjects, so no
    other realm's caller is any of them, whatever its user id or role.
    """
    if principal.realm != COGNITO_REALM:
        return False
    if principal.user_id in participants:
        return True
    if owner is None:  # nobody claimed it yet: only an admin is someone already
        return principal.is_admin
    return may_access(principal, COGNITO_REALM, owner)


def _check_access(principal: Principal, owner: str | None, participants: Set[str]) -> None:
    if not may_use_schedule(principal, owner, participants):
        raise Forbidden(FORBIDDEN)
