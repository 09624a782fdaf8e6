"""The domain records the core works on: plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # The owner is a subject within a realm (see principal.py): both decide who may use it.
    owner_realm: str
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
    # Changes on every write; a write succeeds only against the revision it read (lifecycle).
    revision: str = ""

    @property
    def etag(self) -> str | None:
        return f'"{self.sha256}"' if self.sha256 else None


def media_type(content_type: str) -> str:
    """The `type/subtype` of a Content-Type, lower-cased, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()
