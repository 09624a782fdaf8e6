"""Issuing a signed upload URL writes nothing to the database (issue 14): the URL's key and the
file id carry the upload, and the record is made when the bytes arrive. Through a real server
on every backend combination: the local store's `/_blobs/` PUT makes the record at once; on S3
(moto) the bytes go to the bucket, and a status poll or the sweeper finds them.
"""

from __future__ import annotations

import sqlite3
import time
import uuid

import httpx

from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import CSV, Backend

# A sweeper round every second, so bytes nobody polls for are found within the test.
SERVER_SETTINGS = {"sweep_seconds": "1", "rate_limit_per_second": "0"}


def listed(backend: Backend) -> list[str]:
    response = backend.get("/v1/files/")
    assert response.status_code == 200, response.text
    return [entry["file_id"] for entry in response.json()["files"]]


def file_rows(server: LiveServer) -> int | None:
    """How many file rows the server's SQLite database holds; None on PostgreSQL."""
    if "FILEDOCK_DATABASE_URL" in server.env:
        return None
    with sqlite3.connect(server.data_dir / "filedock.db") as db:
        return int(db.execute("SELECT count(*) FROM files").fetchone()[0])


def test_issuing_upload_urls_writes_no_row(server: LiveServer, backend: Backend) -> None:
    before = file_rows(server)
    tickets = [backend.upload_url(f"report-{n}.csv") for n in range(10)]
    assert len({ticket["file_id"] for ticket in tickets}) == 10
    assert all(uuid.UUID(ticket["file_id"]) for ticket in tickets)
    assert listed(backend) == []
    assert file_rows(server) == before


def test_the_record_is_made_when_the_bytes_arrive(backend: Backend) -> None:
    ticket = backend.upload_url("report.csv", persist="false")
    assert backend.put(ticket, CSV).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    meta = backend.get(f"/v1/files/{ticket['file_id']}").json()
    assert meta["filename"] == "report.csv" and meta["persist"] is False
    assert meta["content_type"] == "text/csv" and meta["size"] == len(CSV)
    assert listed(backend) == [ticket["file_id"]]


def test_before_the_bytes_only_the_owner_sees_the_upload_pending(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.csv")
    status = backend.get(f"/v1/files/{ticket['file_id']}/status")
    assert status.status_code == 200 and status.json()["status"] == "pending"
    other_key = Backend(server, server.create_api_key(f"other-{uuid.uuid4().hex[:8]}"))
    for stranger in (backend.as_user(str(uuid.uuid4())), other_key.as_user(backend.user)):
        for path in ("/status", "", "/download-url"):
            answer = stranger.get(f"/v1/files/{ticket['file_id']}{path}")
            assert answer.status_code == 404, answer.text
        assert stranger.delete(f"/v1/files/{ticket['file_id']}").status_code == 404
    # Nobody else's look made the upload anything: it still takes its bytes.
    assert backend.put(ticket, CSV).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"


def test_deleting_before_the_bytes_closes_the_url(server: LiveServer, backend: Backend) -> None:
    ticket = backend.upload_url("report.csv")
    assert backend.delete(f"/v1/files/{ticket['file_id']}").status_code == 204
    late = backend.put(ticket, CSV)
    if "FILEDOCK_STORAGE_URL" not in server.env:
        assert late.status_code == 409, late.text
    time.sleep(1.5)  # a sweeper round: bytes S3 took must not become the file
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").status_code == 404
    assert listed(backend) == []


def test_bytes_nobody_polls_for_are_found_by_the_sweeper(backend: Backend) -> None:
    ticket = backend.upload_url("report.csv")
    assert httpx.put(ticket["file_url"], content=CSV, timeout=30).status_code == 200
    deadline = time.monotonic() + 20
    while ticket["file_id"] not in listed(backend):  # listing polls nothing
        assert time.monotonic() < deadline, "the upload was never found"
        time.sleep(0.2)
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"


def test_a_second_put_after_the_file_is_ready_changes_nothing(backend: Backend) -> None:
    ticket = backend.upload_url("report.csv")
    assert backend.put(ticket, CSV).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    backend.put(ticket, b"name,size\nother,1\n")  # 409 from /_blobs/; S3 takes it
    time.sleep(1.5)
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(url, timeout=30).content == CSV


def test_another_api_cannot_take_a_signed_uploads_id_before_its_bytes(
    server: LiveServer, backend: Backend
) -> None:
    """Seed 000's clients choose their ids; a signed upload's id is not theirs to choose, so
    one who learned it (a log, a shared screen) cannot claim it before the bytes arrive."""
    ticket = backend.upload_url("report.csv")
    squat = httpx.post(
        f"{server.base_url}/v1/file/{ticket['file_id']}",
        content=b"not the report",
        headers={**server.auth("mallory"), "Content-Type": "text/plain"},
        timeout=30,
    )
    assert squat.status_code == 400, squat.text
    assert squat.json()["path"] == "$.file_id" and "reserved" in squat.json()["error"]
    assert backend.put(ticket, CSV).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(url, timeout=30).content == CSV
