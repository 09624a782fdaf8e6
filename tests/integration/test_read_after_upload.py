"""A read right after an upload waits for processing, then serves: no seed has a 409 there.

Seeds 000, 001 and 004 show an upload followed by a read; clients written from them read at
once. A read of a file still being processed waits for the outcome (up to
`FILEDOCK_READ_WAIT_SECONDS`) and answers as the outcome says; only a file whose processing
cannot finish in that time is a 409, after the wait.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.clamd import ClamdServer
from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer, server_env
from tests.integration.schedules_support import Caller, upload
from tests.integration.signed_url_support import CSV, PDF, Backend

POOL = CognitoPool.create()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    # No sweeper help: on S3 the read itself must notice the bytes.
    return {**POOL.settings_in(data_dir), "sweep_seconds": "3600"}


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    return server.create_api_key(f"read-after-{uuid.uuid4().hex[:8]}")


def test_hasura_get_right_after_the_upload_serves_the_bytes(server: LiveServer) -> None:
    with server.client() as client:
        for _ in range(3):
            file_id = str(uuid.uuid4())
            posted = client.post(
                f"/v1/file/{file_id}",
                content=PNG,
                headers={**server.auth("42"), "Content-Type": "image/png"},
            )
            assert posted.status_code == 200 and posted.json()["file_status"] == "uploaded"
            read = client.get(f"/v1/file/{file_id}", headers=server.auth("42"))
            assert read.status_code == 200, read.text
            assert read.content == PNG and read.headers["content-type"] == "image/png"


def test_signed_url_download_url_right_after_the_put_is_200(
    server: LiveServer, api_key: str
) -> None:
    backend = Backend(server, api_key)
    ticket = backend.upload_url("notes.csv")
    assert httpx.put(ticket["file_url"], content=CSV, timeout=30).status_code == 200
    link = backend.get(f"/v1/files/{ticket['file_id']}/download-url")
    assert link.status_code == 200, link.text
    assert httpx.get(link.json()["url"], timeout=30).content == CSV


def test_schedules_get_s3_object_right_after_the_form_post_is_200(server: LiveServer) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    assert upload(attached).status_code in (201, 204)
    read = owner.read_url(attached["id"])
    assert read.status_code == 200, read.text
    assert httpx.get(read.json()["data"]["url"], timeout=30).content == PDF


def test_a_url_never_used_is_refused_at_once_without_waiting(
    server: LiveServer, api_key: str
) -> None:
    backend = Backend(server, api_key)
    ticket = backend.upload_url("notes.csv")
    started = time.monotonic()
    refused = backend.get(f"/v1/files/{ticket['file_id']}/download-url")
    assert refused.status_code == 409 and refused.json()["error_code"] == "conflict"
    assert time.monotonic() - started < 1.0  # nothing is on its way: nothing to wait for


@pytest.fixture(scope="module")
def scanned_with_short_wait(
    clamd_server: ClamdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("read-wait")
    env = server_env(data_dir, clamd_url=clamd_server.unix_url, read_wait_seconds="1")
    live = LiveServer(data_dir=data_dir, env=env)
    live.start()
    yield live
    live.stop()


def test_a_file_whose_processing_cannot_finish_is_409_after_the_configured_wait(
    scanned_with_short_wait: LiveServer, clamd: ClamdServer
) -> None:
    server = scanned_with_short_wait
    backend = Backend(server, server.create_api_key(f"wait-{uuid.uuid4().hex[:8]}"))
    clamd.stop()
    try:
        file_id = str(uuid.uuid4())
        with server.client() as client:
            posted = client.post(
                f"/v1/file/{file_id}",
                content=PNG,
                headers={**server.auth("42"), "Content-Type": "image/png"},
            )
            assert posted.status_code == 200
            started = time.monotonic()
            read = client.get(f"/v1/file/{file_id}", headers=server.auth("42"))
            waited = time.monotonic() - started
        assert read.status_code == 409 and set(read.json()) == {"error"}
        assert 1.0 <= waited < 5.0, waited

        ticket = backend.upload_url("notes.csv")
        assert httpx.put(ticket["file_url"], content=CSV, timeout=30).status_code == 200
        started = time.monotonic()
        link = backend.get(f"/v1/files/{ticket['file_id']}/download-url")
        waited = time.monotonic() - started
        assert link.status_code == 409 and link.json()["error_code"] == "conflict"
        assert 1.0 <= waited < 5.0, waited
    finally:
        clamd.start()
