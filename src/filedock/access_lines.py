"""The JSON access line: one per request, written without `logging`, a few at a time.

Through `logging` (a LogRecord, the logger's and the handler's locks, a formatter and a
`json.dumps` of the whole record) the line cost about 40 µs, a fifth of a signed-URL
request's CPU (docs/benchmarks.md); here it is one string, with only the strings escaped
(as `json.dumps` escapes them).

Lines are written in batches. A write to stderr lets go of the GIL, and a served worker's
HTTP threads are waiting for it: one write a request cost a loaded server about an eighth of
its signed URLs a second (docs/benchmarks.md), where the line itself is a few microseconds.
So the lines of one moment are gathered and written together, at most `FLUSH_SECONDS` after
the first of them, at once when the next would take a batch past `BATCH_BYTES`, and at exit.
A batch stays within `PIPE_BUF`, which a pipe keeps in one piece however many processes
write to it (the workers of `--workers N` share their stderr), so every line arrives whole.
A process killed outright (SIGKILL) loses at most the last `FLUSH_SECONDS` of its lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from json.encoder import encode_basestring_ascii as _str
from typing import NamedTuple, TextIO

ACCESS_LOGGER = "filedock.http"
FLUSH_SECONDS = 0.05
BATCH_BYTES = 4096  # PIPE_BUF on Linux: the largest write a pipe never splits


class AccessLine(NamedTuple):
    method: str
    path: str
    status: int
    ms: float
    request_id: str
    client: str


class JsonAccessLines:
    """Writes access lines as JSON, with the fields and names of every other log line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._second = -1
        self._second_text = ""
        self._pending: list[str] = []
        self._pending_size = 0
        # The event loop a flush is scheduled on, if any: a loop that has since stopped
        # will not run it, so the next line schedules one on the loop then running.
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, line: AccessLine) -> None:
        method, path, status, ms, request_id, client = line
        # Every string is escaped to ASCII, so a line's length is its size in bytes.
        text = (
            f'{{"method": {_str(method)}, "path": {_str(path)}, "status": {status}, '
            f'"ms": {ms}, "request_id": {_str(request_id)}, "client": {_str(client)}, '
            f'"event": "request", "level": "info", "logger": "{ACCESS_LOGGER}", '
            f'"timestamp": "{self._timestamp()}"}}\n'
        )
        if self._pending_size + len(text) > BATCH_BYTES:
            self.flush()
        self._pending.append(text)
        self._pending_size += len(text)
        self._flush_soon()

    def flush(self) -> None:
        """Write every gathered line now."""
        self._flush_loop = None
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        # As a logging handler does: a log that cannot be written fails no request.
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
            self._stream.flush()

    def _flush_soon(self) -> None:
        due = self._flush_loop
        # Asked of the loop itself: before Python 3.12, `get_running_loop` makes a getpid
        # system call every time.
        if due is not None and due.is_running():
            return  # a flush is scheduled on the loop running now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no event loop to come back later: now
            return
        self._flush_loop = loop
        loop.call_later(FLUSH_SECONDS, self.flush)

    def _timestamp(self) -> str:
        """UTC, `2026-01-02T03:04:05.678901Z`; the seconds formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1_000_000):06d}Z"
