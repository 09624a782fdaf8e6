"""The JSON access line is written without `logging`: it must still be exactly one line of
valid JSON whatever the client put in its request line, with every field of the others."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys

from filedock.access_lines import BATCH_BYTES, FLUSH_SECONDS, PENDING_LINES
from filedock.observability import AccessLine, JsonAccessLines

HOSTILE_PATH = '/v1/file/a"b\\c\n{"level": "error"}\r\u2028\u00e9\x00'


def test_a_hostile_path_stays_inside_one_json_line_of_the_access_log() -> None:
    stream = io.StringIO()
    write = JsonAccessLines(stream)
    write(AccessLine("GET", HOSTILE_PATH, 404, 0.25, "req-1", "203.0.113.9"))
    write(AccessLine("PUT", "/healthz", 200, 12.5, "req-2", "127.0.0.1"))

    lines = stream.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3  # two lines, each ended
    first, second = (json.loads(line) for line in lines[:2])
    assert first["path"] == HOSTILE_PATH
    assert first["level"] == "info" and second["method"] == "PUT"
    assert lines[0].isascii()  # escaped as json.dumps does, as collectors expect


def test_the_access_line_has_the_fields_and_names_of_every_log_line() -> None:
    stream = io.StringIO()
    JsonAccessLines(stream)(AccessLine("GET", "/healthz", 200, 0.5, "abc", "127.0.0.1"))

    line = json.loads(stream.getvalue())
    assert line == {
        "method": "GET",
        "path": "/healthz",
        "status": 200,
        "ms": 0.5,
        "request_id": "abc",
        "client": "127.0.0.1",
        "event": "request",
        "level": "info",
        "logger": "filedock.http",
        "timestamp": line["timestamp"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])


def test_a_stream_that_cannot_be_written_fails_no_request() -> None:
    stream = io.StringIO()
    stream.close()
    JsonAccessLines(stream)(AccessLine("GET", "/", 200, 0.1, "abc", "127.0.0.1"))


class _Writes(io.StringIO):
    """A stream that keeps each write apart, as the pipe a server logs to sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def _line(n: int) -> AccessLine:
    return AccessLine("GET", f"/v1/files/{n}/status", 200, 0.5, f"req-{n}", "127.0.0.1")


def test_lines_of_one_moment_reach_the_stream_together_soon_after() -> None:
    stream = _Writes()
    write = JsonAccessLines(stream)

    async def serve_three() -> list[str]:
        for n in range(3):
            write(_line(n))
        before = list(stream.writes)
        await asyncio.sleep(FLUSH_SECONDS * 3)
        return before

    assert asyncio.run(serve_three()) == []  # nothing yet: gathered
    assert len(stream.writes) == 1  # then one write of all three
    assert [json.loads(text)["request_id"] for text in stream.getvalue().splitlines()] == [
        "req-0",
        "req-1",
        "req-2",
    ]


def test_no_write_is_larger_than_a_pipe_keeps_whole_and_every_line_arrives_whole() -> None:
    stream = _Writes()
    write = JsonAccessLines(stream)

    async def serve_many() -> None:
        for n in range(200):
            write(_line(n))

    asyncio.run(serve_many())
    write.flush()  # as at exit

    assert all(len(text.encode()) <= BATCH_BYTES for text in stream.writes)
    assert all(text.endswith("\n") for text in stream.writes)  # no line split across writes
    lines = stream.getvalue().splitlines()
    assert [json.loads(text)["request_id"] for text in lines] == [f"req-{n}" for n in range(200)]


def test_a_line_after_its_event_loop_stopped_is_still_written_by_the_next_loop() -> None:
    stream = _Writes()
    write = JsonAccessLines(stream)

    async def one(n: int, then_wait: float) -> None:
        write(_line(n))
        await asyncio.sleep(then_wait)

    asyncio.run(one(1, then_wait=0))  # the loop ends before its flush was due
    assert stream.writes == []
    asyncio.run(one(2, then_wait=FLUSH_SECONDS * 3))  # a new loop flushes both
    lines = stream.getvalue().splitlines()
    assert [json.loads(text)["request_id"] for text in lines] == ["req-1", "req-2"]


def test_lines_still_gathered_when_the_process_exits_are_written_at_exit() -> None:
    # A served worker stopping (SIGTERM ends its loop, then the interpreter) before the
    # batch's 50 ms are up: `configure_logging` registered the flush to run at exit.
    program = (
        "import asyncio\n"
        "from filedock import observability\n"
        "observability.configure_logging('info', 'json')\n"
        "async def one_request():\n"
        "    observability._write_access_line(observability.AccessLine("
        "'GET', '/healthz', 200, 0.1, 'req-at-exit', '127.0.0.1'))\n"
        "asyncio.run(one_request())\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(text) for text in done.stderr.splitlines() if text.startswith("{")]
    assert [line["request_id"] for line in lines] == ["req-at-exit"]


def test_a_burst_of_lines_is_written_without_waiting_for_its_moment() -> None:
    stream = _Writes()
    write = JsonAccessLines(stream)

    async def burst() -> int:
        for n in range(PENDING_LINES):
            write(_line(n))
        return len(stream.getvalue().splitlines())  # before the loop could run a flush

    assert asyncio.run(burst()) == PENDING_LINES
    assert all(len(text.encode()) <= BATCH_BYTES for text in stream.writes)
