"""The domain records the core works on: plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class FileStatus(StrEnum):
    PENDING = "pending"
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    REJECTED = "rejected"
    INFECTED = "infected"
    FAILED = "failed"
    DELETED = "deleted"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        FileStatus.READY,
        FileStatus.REJECTED,
        FileStatus.INFECTED,
        FileStatus.FAILED,
        FileStatus.DELETED,
    }
)


@dataclass(frozen=True, slots=True)
class File:
    id: str
    owner_id: str
    owner_role: str
    storage_key: str
    content_type: str
    status: FileStatus
    created_at: datetime
    updated_at: datetime
    size: int | None = None
    sha256: str | None = None
    detected_type: str | None = None
    status_reason: str | None = None
    filename: str | None = None
    persist: bool = True
    expires_at: datetime | None = None
    parent_kind: str | None = None
    parent_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def moved_to(self, status: FileStatus, now: datetime, reason: str | None = None) -> File:
        return replace(self, status=status, status_reason=reason, updated_at=now)

    @property
    def etag(self) -> str | None:
        return f'"{self.sha256}"' if self.sha256 else None
