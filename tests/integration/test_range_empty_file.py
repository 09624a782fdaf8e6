"""`Range` requests at the edges of a file, through the hasura face and a signed `/_blobs/`
URL of a real server on the local store.

No upload path takes an empty file any more, but records made before that rule (or by a
policy that allows empty files) are still served. The test makes one the only way left: it
uploads a small file, then empties its record and its object behind the server's back.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import LiveServer, server_env
from tests.integration.signed_url_support import blob_signer

TEXT = b"0123456789" * 10  # 100 bytes


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("range")
    server = LiveServer(data_dir=data_dir, env=server_env(data_dir, read_wait_seconds="5"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def ready_file(server: LiveServer, data: bytes) -> tuple[str, str]:
    """A ready file of the hasura face holding `data`: its id and its storage key."""
    file_id = str(uuid.uuid4())
    with server.client() as client:
        created = client.post(
            f"/v1/file/{file_id}",
            content=data,
            headers={**server.auth("42"), "Content-Type": "text/plain"},
        )
        assert created.status_code == 200, created.text
        deadline = time.monotonic() + 20
        while client.get(f"/v1/file/{file_id}", headers=server.auth("42")).status_code != 200:
            assert time.monotonic() < deadline, "the file never became ready"
            time.sleep(0.05)
    with sqlite3.connect(server.data_dir / "filedock.db") as db:
        (key,) = db.execute("SELECT storage_key FROM files WHERE id = ?", (file_id,)).fetchone()
    return file_id, key


def empty_file(server: LiveServer) -> tuple[str, str]:
    file_id, key = ready_file(server, b"soon gone")
    with sqlite3.connect(server.data_dir / "filedock.db") as db:
        db.execute(
            "UPDATE files SET size = 0, sha256 = ? WHERE id = ?",
            (hashlib.sha256(b"").hexdigest(), file_id),
        )
    Path(server.data_dir / "objects" / key).write_bytes(b"")
    return file_id, key


def hasura_get(server: LiveServer, file_id: str, range_: str) -> httpx.Response:
    with server.client() as client:
        return client.get(f"/v1/file/{file_id}", headers={**server.auth("42"), "Range": range_})


def blob_url(server: LiveServer, key: str) -> str:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    return blob_signer(server).sign_url("GET", key, expires_at=expires)


def blob_get(server: LiveServer, key: str, range_: str) -> httpx.Response:
    return httpx.get(blob_url(server, key), headers={"Range": range_}, timeout=30)


@pytest.mark.parametrize("range_", ["bytes=-5", "bytes=0-", "bytes=0-0", "bytes=5-"])
def test_any_range_of_an_empty_file_is_unsatisfiable(live: LiveServer, range_: str) -> None:
    file_id, key = empty_file(live)
    for response in (hasura_get(live, file_id, range_), blob_get(live, key, range_)):
        assert response.status_code == 416, (response.status_code, response.headers)
        assert response.headers["content-range"] == "bytes */0"


def test_an_empty_file_without_a_range_is_an_empty_200(live: LiveServer) -> None:
    file_id, key = empty_file(live)
    with live.client() as client:
        whole = client.get(f"/v1/file/{file_id}", headers=live.auth("42"))
    unranged = httpx.get(blob_url(live, key), timeout=30)
    for response in (whole, unranged):
        assert response.status_code == 200 and response.content == b""


def test_a_range_starting_past_the_end_is_unsatisfiable(live: LiveServer) -> None:
    file_id, key = ready_file(live, TEXT)
    for response in (hasura_get(live, file_id, "bytes=100-"), blob_get(live, key, "bytes=500-")):
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(TEXT)}"


def test_a_suffix_longer_than_the_file_sends_it_all_as_206(live: LiveServer) -> None:
    file_id, key = ready_file(live, TEXT)
    for response in (hasura_get(live, file_id, "bytes=-500"), blob_get(live, key, "bytes=-500")):
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes 0-99/{len(TEXT)}"
        assert response.content == TEXT


def test_several_ranges_are_answered_with_the_whole_file(live: LiveServer) -> None:
    # RFC 9110 lets a server ignore a multi-range request; a multipart body is not sent.
    file_id, key = ready_file(live, TEXT)
    for response in (
        hasura_get(live, file_id, "bytes=0-1,5-6"),
        blob_get(live, key, "bytes=0-1,5-6"),
    ):
        assert response.status_code == 200 and response.content == TEXT
        assert "content-range" not in response.headers
