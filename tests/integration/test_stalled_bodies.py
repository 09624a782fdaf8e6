"""Clients that send headers and a few body bytes, then nothing, on a real server on loopback.

Before the body guard, a thousand of them held every connection a worker serves until they
hung up: `/healthz` included, nothing was answered. Here 300 raw sockets stall against a cap
of 50 body reads: the rest are refused at once, `/healthz` answers throughout, the stalled
ones are cut after the idle time, and what they were uploading is gone without a trace.
"""

from __future__ import annotations

import selectors
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import LiveServer, server_env

CAP = 50
IDLE_SECONDS = 3.0
STALLED = 300
UPLOADS_WITH_A_TOKEN = 5
CSV = b"id,name\n1,ada\n"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    env = server_env(tmp_path, max_concurrent_uploads=str(CAP), body_idle_seconds=str(IDLE_SECONDS))
    server = LiveServer(data_dir=tmp_path, env=env)
    server.start()
    yield server
    server.stop()


@dataclass
class Stall:
    """One raw connection that sent headers and a few body bytes, and what came back."""

    sock: socket.socket
    sent_at: float
    received: bytes = b""
    answered_at: float | None = None
    closed_at: float | None = None

    @property
    def status(self) -> int | None:
        line = self.received.split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def test_stalled_bodies_are_capped_then_cut_and_the_server_keeps_answering(
    live: LiveServer,
) -> None:
    file_ids = [str(uuid.uuid4()) for _ in range(UPLOADS_WITH_A_TOKEN)]
    token = live.auth("42")["Authorization"]
    stalls: list[Stall] = []
    try:
        # Admitted first: uploads the core starts storing before the body stops.
        for file_id in file_ids:
            stalls.append(stall(live, f"/v1/file/{file_id}", "text/csv", token))
        time.sleep(0.3)
        opened_at = time.monotonic()
        while len(stalls) < STALLED:
            stalls.append(stall(live, "/_blobs/", "multipart/form-data; boundary=b"))

        started = time.monotonic()
        health = httpx.get(f"{live.base_url}/healthz", timeout=1)
        health_seconds = time.monotonic() - started
        started = time.monotonic()
        beyond_cap = httpx.post(
            f"{live.base_url}/v1/file/{uuid.uuid4()}",
            content=CSV,
            headers={**live.auth("42"), "Content-Type": "text/csv"},
            timeout=2,
        )
        refusal_seconds = time.monotonic() - started

        read_until_closed(stalls, deadline=opened_at + IDLE_SECONDS + 10)
    finally:
        for each in stalls:
            each.sock.close()

    assert health.status_code == 200 and health_seconds < 1
    assert beyond_cap.status_code == 503, beyond_cap.text
    assert beyond_cap.headers["retry-after"].isdigit() and "error" in beyond_cap.json()
    assert refusal_seconds < 1
    refused = [each for each in stalls if each.status == 503]
    admitted = [each for each in stalls if each.status != 503]
    assert len(refused) == STALLED - CAP and len(admitted) == CAP
    # Refused at once: read before any admitted body could have been cut.
    assert all((each.answered_at or 1e12) < opened_at + IDLE_SECONDS for each in refused)
    # Each refusal speaks its face's language: S3 XML on /_blobs/, {"error"} on /v1/file.
    assert all(b"<Code>ServiceUnavailable</Code>" in each.received for each in refused)
    cut = [each for each in admitted if each.status == 408]
    assert any(b"<Code>RequestTimeout</Code>" in each.received for each in cut)
    assert any(b'{"error":' in each.received for each in cut[:UPLOADS_WITH_A_TOKEN])
    for each in admitted:
        assert each.closed_at is not None, "a stalled body was never cut"
        assert each.status in (408, None), each.received
        assert IDLE_SECONDS - 0.5 < each.closed_at - each.sent_at < IDLE_SECONDS + 5

    with live.client() as client:
        for file_id in file_ids:
            gone = client.get(f"/v1/file/{file_id}", headers=live.auth("42"))
            assert gone.status_code == 404, gone.text
        assert [p for p in (live.data_dir / "objects").rglob("*") if p.is_file()] == []
        after = client.post(
            f"/v1/file/{uuid.uuid4()}",
            content=CSV,
            headers={**live.auth("42"), "Content-Type": "text/csv"},
        )
    assert after.status_code == 200, after.text


def stall(live: LiveServer, path: str, content_type: str, token: str | None = None) -> Stall:
    auth = f"Authorization: {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {content_type}\r\n"
        "Content-Length: 100000\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=2)
    try:
        sock.sendall(head.encode() + b"--b\r\n")
    except OSError:
        sock.close()
        raise
    return Stall(sock, time.monotonic())


def read_until_closed(stalls: list[Stall], *, deadline: float) -> None:
    """Read every connection until the server closes it, or until `deadline`."""
    by_socket = {each.sock: each for each in stalls}
    with selectors.DefaultSelector() as selector:
        for each in stalls:
            each.sock.setblocking(False)
            selector.register(each.sock, selectors.EVENT_READ)
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(timeout=left):
                each = by_socket[key.fileobj]  # type: ignore[index]
                try:
                    data = each.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""  # a reset is the server closing too
                now = time.monotonic()
                if data:
                    each.received += data
                    each.answered_at = each.answered_at or now
                else:
                    each.closed_at = now
                    selector.unregister(each.sock)
