"""`/_blobs/`, the local store's signed URLs, through a real server: every refusal stores nothing.

The URLs come from the signed-url face as clients get them; the forged ones are signed here
with the server's own key derivation, to reach the checks that come after the signature.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from filedock.ports.presign import UploadLimits
from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import (
    CSV,
    PDF,
    Backend,
    blob_signer,
    key_of,
    local_objects,
    s3_error,
    unfinished_writes,
    with_query,
)

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)


def assert_nothing_stored(server: LiveServer, ticket: dict[str, Any]) -> None:
    assert key_of(ticket["file_url"]) not in local_objects(server)
    assert unfinished_writes(server) == []


def test_signed_put_stores_the_bytes_and_processing_makes_them_ready(backend: Backend) -> None:
    ticket = backend.upload_url("report.pdf")
    assert ticket["upload_headers"] == {}
    stored = backend.put(ticket, PDF)
    assert stored.status_code == 200, stored.text
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    download = httpx.get(url, timeout=30)
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    assert download.headers["x-content-type-options"] == "nosniff"
    head = httpx.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(PDF))
    ranged = httpx.get(url, headers={"Range": "bytes=0-7"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == PDF[:8]


def test_tampered_signature_is_refused_and_stores_nothing(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.pdf")
    signature = ticket["file_url"].rsplit("=", 1)[1]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    url = with_query(ticket["file_url"], signature=flipped)
    s3_error(httpx.put(url, content=PDF, headers=ticket["upload_headers"]), 403, "AccessDenied")
    assert_nothing_stored(server, ticket)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("max_bytes", "999999999"), ("content_type", "text/html"), ("expires", "9999999999")],
)
def test_a_changed_signed_parameter_is_refused_and_stores_nothing(
    server: LiveServer, backend: Backend, parameter: str, value: str
) -> None:
    ticket = backend.upload_url("report.pdf")
    url = with_query(ticket["file_url"], **{parameter: value})
    headers = {"Content-Type": value} if parameter == "content_type" else ticket["upload_headers"]
    s3_error(httpx.put(url, content=PDF, headers=headers), 403, "AccessDenied")
    assert_nothing_stored(server, ticket)


def test_expired_signed_put_is_refused_and_stores_nothing(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.pdf")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    url = blob_signer(server).sign_url(
        "PUT",
        key_of(ticket["file_url"]),
        expires_at=an_hour_ago,
        limits=UploadLimits(10_485_760, "application/pdf"),
    )
    response = httpx.put(url, content=PDF, headers=ticket["upload_headers"])
    s3_error(response, 403, "AccessDenied")
    assert "expired" in response.text
    assert_nothing_stored(server, ticket)


def test_a_put_url_is_refused_for_another_key(server: LiveServer, backend: Backend) -> None:
    mine, other = backend.upload_url("a.pdf"), backend.upload_url("b.pdf")
    url = mine["file_url"].replace(key_of(mine["file_url"]), key_of(other["file_url"]))
    s3_error(httpx.put(url, content=PDF, headers=mine["upload_headers"]), 403, "AccessDenied")
    assert_nothing_stored(server, mine)
    assert_nothing_stored(server, other)


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
def test_a_put_url_is_refused_for_any_other_method(
    server: LiveServer, backend: Backend, method: str
) -> None:
    ticket = backend.upload_url("report.pdf")
    response = httpx.request(method, ticket["file_url"], content=PDF)
    assert response.status_code in (403, 405), response.text
    assert_nothing_stored(server, ticket)
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").json()["status"] == "pending"


def test_a_download_url_cannot_upload_or_delete(backend: Backend) -> None:
    ticket = backend.upload_url("report.pdf")
    assert backend.put(ticket, PDF).status_code == 200
    backend.wait_settled(ticket["file_id"])
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    s3_error(httpx.put(url, content=b"evil", headers=ticket["upload_headers"]), 403, "AccessDenied")
    s3_error(httpx.delete(url), 403, "AccessDenied")
    assert httpx.get(url).content == PDF


def test_a_put_url_binds_no_content_type_so_another_type_is_stored(backend: Backend) -> None:
    # Seed 001 names no header; processing decides what the bytes are.
    ticket = backend.upload_url("report.pdf")
    response = httpx.put(ticket["file_url"], content=PDF, headers={"Content-Type": "text/html"})
    assert response.status_code == 200, response.text
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"


def test_an_oversize_put_is_refused_while_streaming_and_stores_nothing(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("notes.csv")
    url = blob_signer(server).sign_url(
        "PUT",
        key_of(ticket["file_url"]),
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
        limits=UploadLimits(1000, "text/csv"),
    )

    def chunked() -> Iterator[bytes]:  # no Content-Length: only streaming can catch it
        for _ in range(64):
            yield b"x" * 1024

    response = httpx.put(url, content=chunked(), headers={"Content-Type": "text/csv"})
    s3_error(response, 403, "EntityTooLarge")
    declared = httpx.put(url, content=CSV * 10, headers={"Content-Type": "text/csv"})
    s3_error(declared, 403, "EntityTooLarge")
    assert_nothing_stored(server, ticket)
    assert backend.put(ticket, CSV[:500]).status_code == 200  # the session is still open


@pytest.mark.parametrize(
    "mangle",
    [
        lambda url: url.split("&signature=")[0],
        lambda url: url + "&signature=" + "0" * 64,
        lambda url: with_query(url, expires="soon"),
        lambda url: with_query(url, extra="1"),
    ],
    ids=["no-signature", "repeated-signature", "unreadable-expiry", "unsigned-parameter"],
)
def test_a_malformed_signed_url_is_a_400_and_stores_nothing(
    server: LiveServer, backend: Backend, mangle: Any
) -> None:
    ticket = backend.upload_url("report.pdf")
    response = httpx.put(mangle(ticket["file_url"]), content=PDF, headers=ticket["upload_headers"])
    s3_error(response, 400, "InvalidRequest")
    assert_nothing_stored(server, ticket)


def test_a_second_put_after_the_upload_arrived_is_s3_error(backend: Backend) -> None:
    ticket = backend.upload_url("report.pdf")
    assert backend.put(ticket, PDF).status_code == 200
    s3_error(backend.put(ticket, b"%PDF-1.4 replaced"), 409, "OperationAborted")
    backend.wait_settled(ticket["file_id"])
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(url).content == PDF


def test_signed_delete_removes_the_object_and_the_file_is_gone(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.pdf")
    backend.put(ticket, PDF)
    backend.wait_settled(ticket["file_id"])
    download = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    key = key_of(download)
    url = blob_signer(server).sign_url(
        "DELETE", key, expires_at=datetime.now(UTC) + timedelta(minutes=1)
    )
    assert httpx.delete(url).status_code == 204
    assert key not in local_objects(server)
    s3_error(httpx.get(download), 404, "NoSuchKey")
    assert backend.get(f"/v1/files/{ticket['file_id']}").status_code == 404


def test_signed_urls_of_unknown_keys_serve_nothing(server: LiveServer) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=1)
    url = blob_signer(server).sign_url("GET", "files/nothing-here", expires_at=soon)
    s3_error(httpx.get(url), 404, "NoSuchKey")
    put = blob_signer(server).sign_url(
        "PUT", "uploads/no-session", expires_at=soon, limits=UploadLimits(100, "text/csv")
    )
    response = httpx.put(put, content=b"a,b", headers={"Content-Type": "text/csv"})
    s3_error(response, 409, "OperationAborted")
    assert "uploads/no-session" not in local_objects(server)
