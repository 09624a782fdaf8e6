"""Size limits while streaming, restarts that resume jobs, and 500s that leak nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import LiveServer, server_env

LIMIT = 1024 * 1024


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path, max_upload_bytes=str(LIMIT)))
    live.start()
    yield live
    live.stop()


def leftovers(server: LiveServer) -> list[Path]:
    return [p for p in (server.data_dir / "objects").rglob("*") if p.is_file()]


def test_declared_oversize_body_gets_413_and_stores_nothing(small_server: LiveServer) -> None:
    with small_server.client() as client:
        response = client.post(
            f"/v1/file/{uuid.uuid4()}",
            content=b"x" * (LIMIT + 1),
            headers={**small_server.auth("1"), "Content-Type": "text/plain"},
        )
    assert response.status_code == 413 and set(response.json()) == {"error"}
    assert leftovers(small_server) == []


def test_chunked_oversize_body_is_cut_off_while_streaming(small_server: LiveServer) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB offered, 1 MiB allowed
            sent += 65536
            yield b"y" * 65536

    file_id = str(uuid.uuid4())
    with small_server.client() as client:
        try:
            response = client.post(
                f"/v1/file/{file_id}",
                content=chunks(),
                headers={**small_server.auth("1"), "Content-Type": "text/plain"},
            )
            assert response.status_code == 413
        except httpx.HTTPError:
            pass  # the server may close the connection once it has refused the body
    # A fresh client: the refused upload's connection may be closed under the old one.
    with small_server.client() as client:
        assert client.get(f"/v1/file/{file_id}", headers=small_server.auth("1")).status_code == 404
    assert leftovers(small_server) == []


def test_upload_at_the_limit_is_accepted(small_server: LiveServer) -> None:
    with small_server.client() as client:
        response = client.post(
            f"/v1/file/{uuid.uuid4()}",
            content=b"z" * LIMIT,
            headers={**small_server.auth("1"), "Content-Type": "text/plain"},
        )
    assert response.status_code == 200 and response.json()["file_size"] == LIMIT


def test_restart_resumes_jobs_queued_before_it(tmp_path: Path) -> None:
    # No worker: the GET below must not wait the default 10 s for processing that never runs.
    env = server_env(tmp_path, worker="false", read_wait_seconds="1")
    first = LiveServer(data_dir=tmp_path, env=env)
    first.start()
    file_id = str(uuid.uuid4())
    # Over ARRIVAL_DECISION_BYTES: a smaller body would be decided on arrival, with no job.
    kept = b"kept" * 20_000
    with first.client() as client:
        created = client.post(
            f"/v1/file/{file_id}",
            content=kept,
            headers={**first.auth("7"), "Content-Type": "text/plain"},
        )
        assert created.status_code == 200
        time.sleep(0.5)
        assert client.get(f"/v1/file/{file_id}", headers=first.auth("7")).status_code == 409
    first.stop()

    second = LiveServer(data_dir=tmp_path, env={**env, "FILEDOCK_WORKER": "true"})
    second.start()
    try:
        with second.client() as client:
            deadline = time.monotonic() + 20
            while (
                response := client.get(f"/v1/file/{file_id}", headers=second.auth("7"))
            ).status_code == 409:
                assert time.monotonic() < deadline, "the queued job never ran after the restart"
                time.sleep(0.1)
            assert response.status_code == 200 and response.content == kept
    finally:
        second.stop()


def test_logs_are_json_lines_with_the_request_id(small_server: LiveServer) -> None:
    with small_server.client() as client:
        response = client.get("/healthz", headers={"X-Request-ID": "trace-me-123"})
    assert response.headers["x-request-id"] == "trace-me-123"
    time.sleep(0.3)
    lines = [
        json.loads(line) for line in small_server.log_text().splitlines() if line.startswith("{")
    ]
    assert any(
        line.get("request_id") == "trace-me-123" and line.get("status") == 200 for line in lines
    )
