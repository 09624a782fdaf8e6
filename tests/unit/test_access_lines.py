"""The JSON access line is written without `logging`: it must still be exactly one line of
valid JSON whatever the client put in its request line, with every field of the others."""

from __future__ import annotations

import io
import json
import re

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
