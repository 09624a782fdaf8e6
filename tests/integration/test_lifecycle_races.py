"""Races on one file through a real server, driven deterministically: a request with a slow
body is held open while another request (a second PUT, a delete) runs to its end, or
processing is held at the virus scanner (a stalled proxy in front of the real clamd) while the owner
deletes the file.

Every state change is a compare-and-set (core/lifecycle.py): the request that loses gets a
clear refusal, its bytes are removed, and nothing that was decided is silently overwritten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.clamd import ClamdServer
from tests.fixtures.server import LiveServer, server_env
from tests.fixtures.stall_proxy import StallProxy
from tests.integration.signed_url_support import (
    CSV,
    Backend,
    local_objects,
    unfinished_writes,
)

ON_EACH_DATABASE = pytest.mark.parametrize(
    "server", ["sqlite-local", "postgres-local"], indirect=True
)

OTHER_CSV = b"name,size\nsomething,else\n" * 50


class SlowPut:
    """A PUT whose body stops after its first bytes until `finish()` is called."""

    def __init__(self, ticket: dict[str, Any], data: bytes) -> None:
        self._gate = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._data = data
        self.response: Future[httpx.Response] = self._pool.submit(
            httpx.put,
            ticket["file_url"],
            content=self._body(),
            headers=ticket["upload_headers"],
            timeout=60,
        )

    def _body(self) -> Iterator[bytes]:
        yield self._data[:10]
        self._gate.wait(timeout=60)
        yield self._data[10:]

    def finish(self) -> httpx.Response:
        self._gate.set()
        try:
            return self.response.result(timeout=60)
        finally:
            self._pool.shutdown()


def wait_for_a_write_in_flight(server: LiveServer) -> None:
    """The slow request has passed its checks and is streaming into the store."""
    deadline = time.monotonic() + 30
    while not unfinished_writes(server):
        assert time.monotonic() < deadline, "the slow upload never started writing"
        time.sleep(0.02)


def stored_objects(server: LiveServer) -> list[str]:
    return [key for key in local_objects(server) if not key.startswith(".tmp/")]


@ON_EACH_DATABASE
def test_two_puts_to_one_signed_url_keep_the_first_to_finish_and_refuse_the_other(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.csv")
    slow = SlowPut(ticket, OTHER_CSV)
    wait_for_a_write_in_flight(server)

    fast = backend.put(ticket, CSV)
    assert fast.status_code == 200, fast.text
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    late = slow.finish()

    assert late.status_code == 409, late.text
    assert "<Code>" in late.text  # S3-style XML, like every /_blobs/ refusal
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(url, timeout=30).content == CSV
    # Only the processed copy is left: the late request's bytes are gone.
    assert len(stored_objects(server)) == 1
    assert unfinished_writes(server) == []


@ON_EACH_DATABASE
def test_a_put_racing_a_delete_is_refused_and_the_file_stays_deleted(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.csv")
    before = set(stored_objects(server))
    slow = SlowPut(ticket, CSV)
    wait_for_a_write_in_flight(server)

    deleted = backend.delete(f"/v1/files/{ticket['file_id']}")
    assert deleted.status_code == 204, deleted.text
    late = slow.finish()

    assert late.status_code == 409, late.text
    assert backend.get(f"/v1/files/{ticket['file_id']}").status_code == 404
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").status_code == 404
    time.sleep(0.5)  # the worker would have picked up a job by now, were there one
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").status_code == 404
    assert set(stored_objects(server)) == before
    assert unfinished_writes(server) == []


@ON_EACH_DATABASE
def test_a_second_put_after_the_upload_arrived_is_refused_and_changes_nothing(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.csv")
    assert backend.put(ticket, CSV).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    again = backend.put(ticket, OTHER_CSV)
    assert again.status_code == 409, again.text
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(url, timeout=30).content == CSV


@pytest.fixture
def held_scans(
    request: pytest.FixtureRequest, clamd_server: ClamdServer, tmp_path: Path
) -> Iterator[tuple[LiveServer, StallProxy]]:
    """A server whose scans are held in front of the real clamd until the test resumes them."""
    host, port = clamd_server.tcp_url.removeprefix("tcp://").rsplit(":", 1)
    with StallProxy((host, int(port))) as gate:
        gate.stall()
        settings = {"clamd_url": f"tcp://127.0.0.1:{gate.port}"}
        if request.param == "postgres":
            settings["database_url"] = request.getfixturevalue("postgres_url")
        live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path, **settings))
        live.start()
        try:
            yield live, gate
        finally:
            gate.resume()
            live.stop()


@pytest.mark.parametrize("held_scans", ["sqlite", "postgres"], indirect=True)
def test_a_delete_while_processing_runs_stays_deleted_and_leaves_no_bytes(
    held_scans: tuple[LiveServer, StallProxy],
) -> None:
    live, gate = held_scans
    backend = Backend(live, live.create_api_key("racing"))
    ticket = backend.upload_url("report.csv")
    assert backend.put(ticket, CSV).status_code == 200
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").json()["status"] in (
        "uploaded",
        "processing",
    )
    deadline = time.monotonic() + 30
    while gate.accepted == 0:  # processing has its private copy and waits on the scanner
        assert time.monotonic() < deadline, "processing never reached the scanner"
        time.sleep(0.02)

    deleted = backend.delete(f"/v1/files/{ticket['file_id']}")
    assert deleted.status_code == 204, deleted.text
    gate.resume()

    deadline = time.monotonic() + 20
    while stored_objects(live) and time.monotonic() < deadline:
        time.sleep(0.1)  # processing finishes its scan, loses, and removes its copy
    assert stored_objects(live) == []
    for path in ("", "/status", "/download-url"):
        assert backend.get(f"/v1/files/{ticket['file_id']}{path}").status_code == 404
