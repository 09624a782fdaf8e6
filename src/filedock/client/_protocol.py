"""What the sync and async clients share: credentials, the requests of each call, the
bytes of an upload, the bookkeeping of a resumable download, and how long to wait.

Nothing here does network I/O, so `Client` and `AsyncClient` differ only in how they send.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from filedock.client.errors import (
    ConfigurationError,
    ExtractFailedError,
    FiledockError,
    IntegrityError,
)
from filedock.client.models import ExtractRequest, FileInfo, Progress

DEFAULT_URL = "http://127.0.0.1:8000"
CHUNK = 256 * 1024
# Polls of a status: the first soon, then no more often than once a second.
FIRST_POLL, LONGEST_POLL = 0.2, 1.0
# A 429 is retried after its Retry-After (at most this long), this many times.
RATE_LIMIT_RETRIES, LONGEST_RETRY_AFTER = 5, 10.0
FILTER_OPERATORS = (">=", "<=", "!=", ">", "<", "=")

Filter = tuple[str, str, Any]
"""A row filter of an extract: `(column, operator, value)`, e.g. `("price", ">=", 78)`."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where the server is and who calls; each missing one is read from the environment."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    user_id: str | None = None
    token: str | None = field(default=None, repr=False)

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        api_key: str | None,
        user_id: str | None,
        token: str | None,
    ) -> Credentials:
        """`FILEDOCK_URL`, `FILEDOCK_API_KEY`, `FILEDOCK_USER_ID`, `FILEDOCK_TOKEN` fill in."""
        url = base_url or os.environ.get("FILEDOCK_URL") or DEFAULT_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"the server address {url!r} is not an http(s) URL")
        return cls(
            url.rstrip("/"),
            api_key or os.environ.get("FILEDOCK_API_KEY") or None,
            user_id or os.environ.get("FILEDOCK_USER_ID") or None,
            token or os.environ.get("FILEDOCK_TOKEN") or None,
        )

    def file_headers(self) -> dict[str, str]:
        """The signed-url face's `api-key` and `user-id`."""
        if not self.api_key:
            raise ConfigurationError("no API key: set FILEDOCK_API_KEY (--api-key, api_key=)")
        if not self.user_id:
            raise ConfigurationError("no user id: set FILEDOCK_USER_ID (--user-id, user_id=)")
        return {"api-key": self.api_key, "user-id": self.user_id}

    def downloader_headers(self) -> dict[str, str]:
        """The cosphere face's `Authorization: Bearer`."""
        if not self.token:
            raise ConfigurationError("no cosphere token: set FILEDOCK_TOKEN (--token, token=)")
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True, slots=True)
class Call:
    """One request to a face: method, path under the base URL, query, JSON body, headers."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def file_path(file_id: str, suffix: str = "") -> str:
    # Quoted whole: an id can never reach another path ("../", "?").
    return f"/v1/files/{quote(file_id, safe='')}{suffix}"


def seconds_of(expires_in: timedelta | int | None) -> int | None:
    if expires_in is None:
        return None
    if isinstance(expires_in, timedelta):
        return math.ceil(expires_in.total_seconds())
    return int(expires_in)


def extract_body(
    item_id: int, columns: Sequence[str], filters: Sequence[Filter], sample: float, fmt: str
) -> dict[str, Any]:
    """The body of `POST /downloader/requests/` (seed 003's spec)."""
    return {
        "catalogue_item_id": item_id,
        "spec": {
            "columns": list(columns),
            "filters": [
                {"name": name, "operator": operator, "value": value}
                for name, operator, value in filters
            ],
            "randomize_ratio": sample,
            "format": fmt,
        },
    }


def finished(request: ExtractRequest) -> ExtractRequest:
    """A request that reached its end, unless that end holds no result (failed, cancelled)."""
    if request.status == "failed":
        raise ExtractFailedError(request.id, request.failure or "the extract failed")
    if request.status == "cancelled":
        raise ExtractFailedError(request.id, "the extract was cancelled")
    return request


def fetchable(request: ExtractRequest) -> ExtractRequest:
    """A done request with a link to its result."""
    if finished(request).uri is None:
        raise FiledockError(None, "not_done", f"extract {request.id} is {request.status}, not done")
    return request


def poll_delays() -> Iterator[float]:
    delay = FIRST_POLL
    while True:
        yield delay
        delay = min(delay * 1.5, LONGEST_POLL)


def retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.1), LONGEST_RETRY_AFTER)


class UploadSource:
    """The bytes of an upload, from memory or streamed from a file, with their name and size."""

    def __init__(self, data: bytes | str | os.PathLike[str], filename: str | None) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            if not filename:
                raise ValueError("filename= is required when uploading bytes")
            self._data: bytes | None = bytes(data)
            self._path: Path | None = None
            self.size = len(self._data)
        else:
            self._path = Path(data)
            self._data = None
            if not self._path.is_file():
                raise FileNotFoundError(f"{self._path}: no such file")
            self.size = self._path.stat().st_size
        self.filename = filename or (self._path.name if self._path else "")

    def chunks(self, progress: Progress | None) -> Iterator[bytes]:
        done = 0
        for chunk in self._pieces():
            done += len(chunk)
            yield chunk
            if progress is not None:
                progress(done, self.size)

    async def achunks(self, progress: Progress | None) -> AsyncIterator[bytes]:
        for chunk in self.chunks(progress):
            yield chunk

    def _pieces(self) -> Iterator[bytes]:
        if self._data is not None:
            for start in range(0, len(self._data), CHUNK):
                yield self._data[start : start + CHUNK]
            return
        assert self._path is not None
        with self._path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk


class PartialDownload:
    """A download into `<target>.part`, resumed from what a previous attempt left there.

    `headers` asks for the missing bytes only; `begin` decides from the answer whether they
    are appended (206 from where the part ends) or the part starts over (200: the whole
    body); `finish` checks size and sha256 and only then renames the part to the target.
    """

    def __init__(self, target: Path, size: int | None, sha256: str | None, *, resume: bool) -> None:
        self.target = target
        self.part = target.with_name(target.name + ".part")
        self.size = size
        self.sha256 = sha256
        self.offset = self.part.stat().st_size if resume and self.part.is_file() else 0
        if size is not None and self.offset > size:
            self.offset = 0  # not a prefix of this file
        self._hash = hashlib.sha256()
        self._begun = False
        self.done = 0

    @property
    def complete(self) -> bool:
        """The part already holds every byte: nothing left to ask for."""
        return self.size is not None and self.offset == self.size and self.offset > 0

    def headers(self) -> dict[str, str]:
        return {"Range": f"bytes={self.offset}-"} if self.offset else {}

    def begin(self, status: int, content_range: str | None) -> IO[bytes]:
        """The part file to write the answer's body to, at the right place."""
        appending = (
            status == 206
            and self.offset > 0
            and (content_range or "").startswith(f"bytes {self.offset}-")
        )
        if not appending:
            self.offset = 0
        self._begun = True
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if appending:
            self._hash_existing()
        self.done = self.offset
        return self.part.open("ab" if appending else "wb")

    def write(self, sink: IO[bytes], chunk: bytes) -> None:
        sink.write(chunk)
        self._hash.update(chunk)
        self.done += len(chunk)

    def finish(self) -> Path:
        """Check the bytes, then rename the part; a part that does not match is removed."""
        if not self._begun:  # `complete`: no request was needed
            self._hash_existing()
            self.done = self.offset
        if self.size is not None and self.done != self.size:
            self.part.unlink(missing_ok=True)
            raise IntegrityError(f"received {self.done} bytes of {self.size}; removed the part")
        if self.sha256 and self._hash.hexdigest() != self.sha256:
            self.part.unlink(missing_ok=True)
            raise IntegrityError("the downloaded bytes do not match the file's sha256")
        os.replace(self.part, self.target)
        return self.target

    def _hash_existing(self) -> None:
        with self.part.open("rb") as existing:
            remaining = self.offset
            while remaining and (chunk := existing.read(min(CHUNK, remaining))):
                self._hash.update(chunk)
                remaining -= len(chunk)


def download_target(path: str | os.PathLike[str] | None, info: FileInfo) -> Path:
    """Where a file is saved: `path`, inside `path` if a folder, else its own name here."""
    name = Path(info.filename or info.file_id).name or info.file_id
    if path is None:
        return Path(name)
    target = Path(path)
    return target / name if target.is_dir() else target
