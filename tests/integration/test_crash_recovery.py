"""kill -9 in the middle of an upload: the id is free again and no partial bytes linger."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import LiveServer, server_env

CSV = b"name,size\nreport,12\n" * 1000


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(data_dir=tmp_path, env=server_env(tmp_path))
    server.start()
    yield server
    server.stop()


def unfinished(server: LiveServer) -> list[Path]:
    temp = server.data_dir / "objects" / ".tmp"
    return sorted(temp.iterdir()) if temp.exists() else []


def crash_during_upload(server: LiveServer, file_id: str) -> None:
    """Start a hasura upload, let its first bytes reach the store, then kill -9 the server."""
    gate = threading.Event()

    def body() -> Iterator[bytes]:
        yield CSV[:100]
        gate.wait(timeout=30)
        yield CSV[100:]

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            httpx.post,
            f"{server.base_url}/v1/file/{file_id}",
            content=body(),
            headers={**server.auth("ann"), "Content-Type": "text/csv"},
            timeout=30,
        )
        deadline = time.monotonic() + 30
        while not unfinished(server):
            assert time.monotonic() < deadline, "the upload never reached the store"
            time.sleep(0.02)
        server.crash()
        gate.set()
        with pytest.raises(httpx.HTTPError):
            pending.result(timeout=30)


def test_an_id_whose_upload_died_with_the_server_can_be_uploaded_at_once(
    live: LiveServer,
) -> None:
    file_id = str(uuid.uuid4())
    crash_during_upload(live, file_id)
    live.start()
    with live.client() as client:
        retried = client.post(
            f"/v1/file/{file_id}",
            content=CSV,
            headers={**live.auth("ann"), "Content-Type": "text/csv"},
        )
    assert retried.status_code == 200, retried.text
    assert retried.json()["file_size"] == len(CSV)


def test_partial_bytes_left_by_a_crash_are_removed_at_start(live: LiveServer) -> None:
    crash_during_upload(live, str(uuid.uuid4()))
    leftovers = unfinished(live)
    assert leftovers, "the crash left no partial write to clean"
    # The dead writer stopped touching its file long ago.
    two_hours_ago = time.time() - 2 * 3600
    for path in leftovers:
        os.utime(path, (two_hours_ago, two_hours_ago))
    live.start()
    assert unfinished(live) == []
