"""The records of upload sessions: tickets, sweep reports, bucket events, pending files."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.core.upload_policy import POLICY_LABEL, UploadPolicy
from filedock.ports.presign import PresignedRequest


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """A pending file and the signed request that delivers its bytes."""

    file_id: str
    request: PresignedRequest
    policy: UploadPolicy
    # The pending file, described when asked for: issuing a signed URL needs only its id,
    # and describing an unrecorded grant as a file was a twentieth of that request's CPU.
    describe: Callable[[], File]

    @property
    def file(self) -> File:
        return self.describe()

    @property
    def expires_in(self) -> int:
        return int(self.policy.url_expiry.total_seconds())


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
    purged: int = 0


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
        owner_realm=principal.realm,
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
