"""The JSON access line: one per request, written without `logging`, a few at a time.

Through `logging` (a LogRecord, the logger's and the handler's locks, a formatter and a
`json.dumps` of the whole record) the line cost about 40 µs, a fifth of a signed-URL
request's CPU (docs/benchmarks.md); here it is one string, with only the strings escaped
(as `json.dumps` escapes them).

Lines are written in batches. A write to stderr lets go of the GIL, and a served worker's
HTTP threads are waiting for it: one write a request cost a loaded server about an eighth of
its signed URLs a second (docs/benchmarks.md), where the line itself is a few microseconds.
So the lines of one moment are gathered and written together, at most `FLUSH_SECONDS` after
the first of them, at once when `PENDING_LINES` are waiting, and at exit. A request only
notes its line and the moment; the text is made when the lines are written, all of them in
one loop (about 4 µs less a signed-URL request, measured in the served process:
docs/benchmarks.md). Each write stays within `PIPE_BUF`, which a pipe keeps in one piece
however many processes write to it (the workers of `--workers N` share their stderr), so
every line arrives whole. A process killed outright (SIGKILL) loses at most the last
`FLUSH_SECONDS` of its lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii as _str
from typing import NamedTuple, TextIO

ACCESS_LOGGER = "filedock.http"
FLUSH_SECONDS = 0.05
BATCH_BYTES = 4096  # PIPE_BUF on Linux: the largest write a pipe never splits
PENDING_LINES = 256


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
        self._pending: list[tuple[AccessLine, float]] = []
        # The event loop a flush is scheduled on, if any: a loop that has since stopped
        # will not run it, so the next line schedules one on the loop then running.
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, line: AccessLine) -> None:
        self._pending.append((line, time.time()))
        if len(self._pending) >= PENDING_LINES:
            self.flush()
        else:
            self._flush_soon()

    def flush(self) -> None:
        """Write every gathered line now."""
        self._flush_loop = None
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        # As a logging handler does: a log that cannot be written fails no request.
        with contextlib.suppress(OSError, ValueError):
            for batch in self._batches(pending):
                self._stream.write(batch)
            self._stream.flush()

    def _batches(self, pending: list[tuple[AccessLine, float]]) -> Iterator[str]:
        """The lines' text, in writes of at most `BATCH_BYTES` that split no line."""
        texts: list[str] = []
        size = 0
        for line, moment in pending:
            text = self._text(line, moment)
            if texts and size + len(text) > BATCH_BYTES:
                yield "".join(texts)
                texts.clear()
                size = 0
            texts.append(text)
            size += len(text)
        yield "".join(texts)

    def _text(self, line: AccessLine, moment: float) -> str:
        method, path, status, ms, request_id, client = line
        # Every string is escaped to ASCII, so a line's length is its size in bytes.
        return (
            f'{{"method": {_str(method)}, "path": {_str(path)}, "status": {status}, '
            f'"ms": {ms}, "request_id": {_str(request_id)}, "client": {_str(client)}, '
            f'"event": "request", "level": "info", "logger": "{ACCESS_LOGGER}", '
            f'"timestamp": "{self._timestamp(moment)}"}}\n'
        )

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

    def _timestamp(self, now: float) -> str:
        """UTC, `2026-01-02T03:04:05.678901Z`; the seconds formatted once a second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1_000_000):06d}Z"
