"""Signed uploads scanned by a real clamd, end to end through a real server.

The clamd is the test set-up's own (tests/fixtures/clamd.py): one signature, the EICAR test
string, in a `.hdb` made by `sigtool --md5`, and a 2 MiB StreamMaxLength.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.clamd import ClamdServer
from tests.fixtures.server import LiveServer, server_env
from tests.integration.signed_url_support import CSV, EICAR, PDF, Backend, local_objects


@pytest.fixture(scope="module")
def scanned(
    clamd_server: ClamdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("scanned")
    # A read of a file clamd cannot scan waits for it this long, then answers 409.
    env = server_env(data_dir, clamd_url=clamd_server.unix_url, read_wait_seconds="1")
    live = LiveServer(data_dir=data_dir, env=env)
    live.start()
    yield live
    live.stop()


@pytest.fixture
def backend(scanned: LiveServer, clamd: ClamdServer) -> Backend:
    return Backend(scanned, scanned.create_api_key(f"scan-{uuid.uuid4().hex[:8]}"))


def stored_bytes(server: LiveServer) -> list[bytes]:
    root = server.data_dir / "objects"
    return [(root / key).read_bytes() for key in local_objects(server)]


def test_an_eicar_upload_ends_infected_and_can_never_be_downloaded(
    scanned: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("notes.txt")
    assert backend.put(ticket, EICAR).status_code == 200
    settled = backend.wait_settled(ticket["file_id"])
    assert settled["status"] == "infected"
    assert "Filedock.Test.EICAR" in settled["reason"]
    answer = backend.get(f"/v1/files/{ticket['file_id']}/download-url")
    assert answer.status_code == 409 and answer.json()["error_code"] == "conflict"
    assert all(EICAR not in data for data in stored_bytes(scanned))
    meta = backend.get(f"/v1/files/{ticket['file_id']}").json()
    # The checksum is of the bytes that arrived, so a back-end can recognise them again.
    assert meta["status"] == "infected"
    assert meta["sha256"] == hashlib.sha256(EICAR).hexdigest()


def test_a_clean_upload_is_scanned_and_ready(backend: Backend) -> None:
    ticket = backend.upload_url("report.pdf")
    assert backend.put(ticket, PDF).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(url).content == PDF


def test_clamd_down_keeps_the_file_processing_until_it_returns(
    backend: Backend, clamd: ClamdServer
) -> None:
    clamd.stop()
    try:
        ticket = backend.upload_url("notes.csv")
        assert backend.put(ticket, CSV).status_code == 200
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            status = backend.get(f"/v1/files/{ticket['file_id']}/status").json()["status"]
            assert status in ("uploaded", "processing"), status
            time.sleep(0.2)
        assert status == "processing"
        answer = backend.get(f"/v1/files/{ticket['file_id']}/download-url")
        assert answer.status_code == 409
    finally:
        clamd.start()
    assert backend.wait_settled(ticket["file_id"], timeout=60)["status"] == "ready"


def test_a_file_over_clamds_stream_limit_is_rejected_not_passed(
    backend: Backend, clamd: ClamdServer, tmp_path: Path
) -> None:
    # clamd stops reading at its StreamMaxLength; what it did not read was not scanned.
    big = (b"name,value\n" + b"row,1234567890\n" * 200_000)[: clamd.stream_max_bytes + 4096]
    ticket = backend.upload_url("big.csv")
    assert backend.put(ticket, big).status_code == 200
    settled = backend.wait_settled(ticket["file_id"])
    assert settled["status"] == "rejected" and "scanner" in settled["reason"]
