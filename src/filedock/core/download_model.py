"""The records of a download request (seed 003, "Download Requests Management").

A request is an extract of one catalogue item under one spec, shared by everyone who asked
for the same thing: its waiters. It lives (`pending` → `running` → `done`) until its last
waiter leaves (`cancelled`) or its job fails (`failed`). Kept apart from the service
(`core/downloads.py`) because the ports may import only the core's record modules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

# The one job every request runs on, and the one that clears up after a cancelled one.
RUN_EXTRACT_JOB: Final = "run_extract"
CLEAR_EXTRACT_JOB: Final = "clear_extract"
# The realm that owns extract results: no caller of any face is ever in it, so a result is
# read only through the signed `uri` its request mints for a waiter.
DOWNLOADER_REALM: Final = "downloader"
EXTRACTS_PREFIX: Final = "extracts/"


class RequestStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_live(self) -> bool:
        """Live requests are joined by identical ones and keep their catalogue item."""
        return self not in (RequestStatus.FAILED, RequestStatus.CANCELLED)


class Left(StrEnum):
    """What leaving a request did."""

    LEFT = "left"  # others still wait for it
    CANCELLED = "cancelled"  # the caller was the last waiter: the request is cancelled


@dataclass(frozen=True, slots=True)
class NewDownloadRequest:
    catalogue_item_id: int
    created_by_id: int
    # The spec as rendered (`render_spec`): what the request shows and what its job parses.
    spec: dict[str, Any]
    # Canonical text of item and spec (`extract_spec.dedupe_key`): equal for equal requests.
    dedupe_key: str

    @property
    def live_key(self) -> str:
        """What the store keeps unique among live requests (a digest: keys can be long)."""
        return live_key(self.dedupe_key)

    @property
    def seed(self) -> str:
        """The sampling seed: from the spec, so the same spec always samples the same rows."""
        return hashlib.sha256(("seed:" + self.dedupe_key).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    id: int
    catalogue_item_id: int
    created_by_id: int | None
    spec: dict[str, Any]
    dedupe_key: str
    seed: str
    status: RequestStatus
    created_at: datetime
    updated_at: datetime
    estimated_size: int | None = None
    real_size: int | None = None
    executor_job_id: str | None = None
    failure: str | None = None
    # The result's File, once the job stored it.
    file_id: str | None = None
    # Changes whenever the waiters change: cancelling compares it, so a join that lands
    # between the last waiter leaving and the cancel keeps the request alive.
    revision: str = ""

    @property
    def result_file_id(self) -> str:
        """The id the result's File has: one per request, so a re-run finds it."""
        return f"extract-{self.id}"


def live_key(dedupe_key: str) -> str:
    return hashlib.sha256(dedupe_key.encode()).hexdigest()
