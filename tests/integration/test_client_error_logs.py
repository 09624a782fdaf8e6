"""The server's own JSON log and metrics tell client errors from server errors.

A malformed body is the client's mistake: one info line, no traceback. A client that hangs
up halfway through its upload is logged at info as a client close and counted as 499
(nginx's "client closed request"), never as a 500 that would page someone.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import pytest

from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)

METRICS_TOKEN = "a-metrics-token-for-these-tests"
SERVER_SETTINGS = {"metrics_token": METRICS_TOKEN}
UPLOAD_ROUTE = "/v1/file/{file_id:path}"


def log_lines(server: LiveServer, request_id: str) -> list[dict[str, Any]]:
    """The JSON log lines of one request (granian's own lines are not JSON)."""
    lines = []
    for text in server.log_text().splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            if line.get("request_id") == request_id:
                lines.append(line)
    return lines


def settled_log(server: LiveServer, request_id: str) -> list[dict[str, Any]]:
    """The request's lines once its access line (always the last) is written."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = log_lines(server, request_id)
        if any(line["logger"] == "filedock.http" for line in lines):
            return lines
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id}:\n{server.log_text()[-3000:]}")


def assert_client_error_logged_quietly(server: LiveServer, request_id: str, status: int) -> None:
    lines = settled_log(server, request_id)
    assert [line for line in lines if line["level"] not in ("info", "debug")] == [], lines
    assert not any("exception" in line for line in lines), lines
    access = [line for line in lines if line["logger"] == "filedock.http"]
    assert [line["status"] for line in access] == [status]


@pytest.mark.parametrize(
    ("path", "body", "auth"),
    [
        ("/accounts/auth_tokens/", b"{not json", False),
        ("/accounts/auth_tokens/", b"[" * 30_000 + b"]" * 30_000, False),
        ("/api/v2/s3/create_signed_url", b"{not json", True),
        ("/api/v2/s3/create_signed_url", b"[" * 30_000 + b"]" * 30_000, True),
    ],
    ids=["cosphere-malformed", "cosphere-nested", "s3-command-malformed", "s3-command-nested"],
)
def test_a_malformed_json_body_is_one_info_line_without_a_traceback(
    server: LiveServer, path: str, body: bytes, auth: bool
) -> None:
    request_id = uuid.uuid4().hex
    headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
    if auth:
        headers.update(server.auth("42"))
    with server.client() as client:
        response = client.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert_client_error_logged_quietly(server, request_id, 400)


def request_counts(server: LiveServer, route: str) -> dict[str, float]:
    """`filedock_http_requests_total` of POSTs to `route`, by status."""
    counts = {}
    for labels, value in server.metric_samples("filedock_http_requests_total", METRICS_TOKEN):
        if f'route="{route}"' in labels and 'method="POST"' in labels:
            counts[labels.split('status="')[1].split('"')[0]] = value
    return counts


def test_a_client_that_hangs_up_mid_upload_is_a_499_client_close_not_a_500(
    server: LiveServer,
) -> None:
    request_id = uuid.uuid4().hex
    body = b"\x89PNG\r\n\x1a\n" + bytes(200_000)
    head = (
        f"POST /v1/file/{uuid.uuid4()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.token('42')}\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(body)}\r\nX-Request-ID: {request_id}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)  # the server is reading the body when the client goes

    lines = settled_log(server, request_id)
    assert [line for line in lines if line["level"] not in ("info", "debug")] == [], lines
    assert not any("exception" in line for line in lines), lines
    assert [line["status"] for line in lines if line["logger"] == "filedock.http"] == [499]
    assert any("client closed" in line["event"] for line in lines), lines
    counts = request_counts(server, UPLOAD_ROUTE)
    assert counts.get("499", 0) >= 1 and "500" not in counts, counts
