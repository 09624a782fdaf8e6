"""What the client returns: plain, typed records read from the faces' JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Progress = Callable[[int, int | None], None]
"""Called as bytes move: `progress(done, total)`; `total` is None when unknown."""

FINAL_FILE_STATUSES = frozenset({"ready", "rejected", "infected", "failed", "deleted"})
FINAL_EXTRACT_STATUSES = frozenset({"done", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file's metadata (`GET /v1/files/{id}`)."""

    file_id: str
    filename: str | None
    content_type: str
    detected_type: str | None
    size: int | None
    sha256: str | None
    status: str
    reason: str | None
    persist: bool
    created_at: datetime
    expires_at: datetime | None

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def final(self) -> bool:
        """Processing has decided: ready, rejected, infected or failed (or deleted)."""
        return self.status in FINAL_FILE_STATUSES

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FileInfo:
        expires = body.get("expires_at")
        return cls(
            file_id=str(body["file_id"]),
            filename=body.get("filename"),
            content_type=str(body.get("content_type") or "application/octet-stream"),
            detected_type=body.get("detected_type"),
            size=body.get("size"),
            sha256=body.get("sha256"),
            status=str(body["status"]),
            reason=body.get("reason"),
            persist=bool(body.get("persist", True)),
            created_at=datetime.fromisoformat(str(body["created_at"])),
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )


@dataclass(frozen=True, slots=True)
class FileState:
    """A file's processing status (`GET /v1/files/{id}/status`)."""

    file_id: str
    status: str
    reason: str | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_FILE_STATUSES

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FileState:
        return cls(str(body["file_id"]), str(body["status"]), body.get("reason"))


@dataclass(frozen=True, slots=True)
class ExtractRequest:
    """A cosphere download request: an extract of a catalogue item, run as a job.

    `uri` is a signed link to the result once `done`; it lives minutes, so
    `fetch_extract` reads the request again for a fresh one.
    """

    id: int
    status: str
    item_id: int | None
    spec: dict[str, Any]
    uri: str | None
    failure: str | None
    real_size: int | None
    estimated_size: int | None
    executor_job_id: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def final(self) -> bool:
        return self.status in FINAL_EXTRACT_STATUSES

    @property
    def format(self) -> str:
        return str(self.spec.get("format") or "csv")

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ExtractRequest:
        item = body.get("catalogue_item")
        return cls(
            id=int(body["id"]),
            status=str(body["status"]),
            item_id=int(item["id"]) if isinstance(item, dict) and "id" in item else None,
            spec=dict(body.get("spec") or {}),
            uri=body.get("uri"),
            failure=body.get("failure"),
            real_size=body.get("real_size"),
            estimated_size=body.get("estimated_size"),
            executor_job_id=body.get("executor_job_id"),
            raw=body,
        )
