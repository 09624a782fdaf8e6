"""Seed 004 through a real server on loopback, on every backend combination."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.server import LiveServer

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(300_000)


def new_id() -> str:
    return f"{uuid.uuid4()}"


def wait_ready(client: httpx.Client, file_id: str, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = client.get(f"/v1/file/{file_id}", headers=headers)
        if response.status_code != 409:
            return response
        time.sleep(0.05)
    raise AssertionError(f"{file_id} never became ready")


def upload(
    server: LiveServer,
    client: httpx.Client,
    file_id: str,
    data: bytes,
    user: str = "42",
    content_type: str = "image/png",
) -> httpx.Response:
    return client.post(
        f"/v1/file/{file_id}",
        content=data,
        headers={**server.auth(user), "Content-Type": content_type},
    )


def stored_objects(server: LiveServer) -> list[str]:
    root = server.data_dir / "objects"
    if "FILEDOCK_STORAGE_URL" in server.env:
        import boto3

        bucket = server.env["FILEDOCK_STORAGE_URL"].removeprefix("s3://").split("/")[0]
        s3 = boto3.client(
            "s3",
            endpoint_url=server.env["FILEDOCK_S3_ENDPOINT_URL"],
            region_name=server.env["FILEDOCK_S3_REGION"],
            aws_access_key_id=server.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=server.env["AWS_SECRET_ACCESS_KEY"],
        )
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return (
        [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()] if root.exists() else []
    )


def test_seed_flow_upload_download_delete_then_gone(server: LiveServer) -> None:
    file_id = new_id()
    with server.client() as client:
        created = upload(server, client, file_id, PNG)
        assert created.status_code == 200, created.text
        body: dict[str, Any] = created.json()
        assert set(body) == {
            "file_id",
            "content_type",
            "file_status",
            "file_size",
            "user_id",
            "user_role",
            "created_at",
        }
        assert body["file_id"] == file_id
        assert body["content_type"] == "image/png"
        assert body["file_status"] == "uploaded"
        assert body["file_size"] == len(PNG)
        assert body["user_id"] == 42 and body["user_role"] == "user"

        fetched = wait_ready(client, file_id, server.auth("42"))
        assert fetched.status_code == 200
        assert fetched.content == PNG
        assert fetched.headers["content-type"] == "image/png"
        assert fetched.headers["content-length"] == str(len(PNG))
        assert fetched.headers["etag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
        assert "last-modified" in fetched.headers
        assert fetched.headers["content-disposition"].startswith("inline;")
        assert fetched.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in fetched.headers["content-security-policy"]

        deleted = client.delete(f"/v1/file/{file_id}", headers=server.auth("42"))
        assert deleted.status_code == 200
        assert deleted.json()["file_id"] == file_id and deleted.json()["file_size"] == len(PNG)
        gone = client.get(f"/v1/file/{file_id}", headers=server.auth("42"))
        assert gone.status_code == 404 and set(gone.json()) == {"error"}


def test_range_request_returns_206_with_the_slice(server: LiveServer) -> None:
    file_id = new_id()
    with server.client() as client:
        assert upload(server, client, file_id, PNG).status_code == 200
        wait_ready(client, file_id, server.auth("42"))
        headers = {**server.auth("42"), "Range": "bytes=100-199"}
        part = client.get(f"/v1/file/{file_id}", headers=headers)
        assert part.status_code == 206
        assert part.content == PNG[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(PNG)}"
        tail = client.get(
            f"/v1/file/{file_id}", headers={**server.auth("42"), "Range": "bytes=-10"}
        )
        assert tail.status_code == 206 and tail.content == PNG[-10:]
        past = client.get(
            f"/v1/file/{file_id}", headers={**server.auth("42"), "Range": f"bytes={len(PNG)}-"}
        )
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(PNG)}"


def test_if_none_match_with_current_etag_returns_304(server: LiveServer) -> None:
    file_id = new_id()
    with server.client() as client:
        upload(server, client, file_id, PNG)
        etag = wait_ready(client, file_id, server.auth("42")).headers["etag"]
        cached = client.get(
            f"/v1/file/{file_id}", headers={**server.auth("42"), "If-None-Match": etag}
        )
        assert cached.status_code == 304 and cached.content == b""
        stale = client.get(
            f"/v1/file/{file_id}", headers={**server.auth("42"), "If-None-Match": '"other"'}
        )
        assert stale.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/html", "image/svg+xml", "application/javascript", "text/xml"]
)
def test_active_content_is_sent_as_attachment(server: LiveServer, content_type: str) -> None:
    file_id = new_id()
    with server.client() as client:
        upload(server, client, file_id, b"<script>alert(1)</script>", content_type=content_type)
        fetched = wait_ready(client, file_id, server.auth("42"))
        assert fetched.headers["content-disposition"].startswith("attachment;")
        assert fetched.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/csv; charset=latin-1", "application/x-thing"]
)
def test_download_content_type_is_exactly_the_uploaded_one(
    server: LiveServer, content_type: str
) -> None:
    file_id = new_id()
    with server.client() as client:
        upload(server, client, file_id, "caf\xe9".encode("latin-1"), content_type=content_type)
        fetched = wait_ready(client, file_id, server.auth("42"))
        assert fetched.headers["content-type"] == content_type
        ranged = client.get(
            f"/v1/file/{file_id}", headers={**server.auth("42"), "Range": "bytes=0-1"}
        )
        assert ranged.headers["content-type"] == content_type


def test_head_returns_the_headers_without_a_body(server: LiveServer) -> None:
    file_id = new_id()
    with server.client() as client:
        upload(server, client, file_id, PNG)
        wait_ready(client, file_id, server.auth("42"))
        head = client.head(f"/v1/file/{file_id}", headers=server.auth("42"))
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(PNG))


def test_other_users_get_403_and_admins_get_through(server: LiveServer) -> None:
    file_id = new_id()
    with server.client() as client:
        upload(server, client, file_id, PNG, user="alice")
        wait_ready(client, file_id, server.auth("alice"))
        assert client.get(f"/v1/file/{file_id}", headers=server.auth("mallory")).status_code == 403
        assert (
            client.delete(f"/v1/file/{file_id}", headers=server.auth("mallory")).status_code == 403
        )
        assert (
            client.get(f"/v1/file/{file_id}", headers=server.auth("root", "admin")).content == PNG
        )
        assert (
            client.delete(f"/v1/file/{file_id}", headers=server.auth("root", "admin")).status_code
            == 200
        )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["missing", "malformed", "other-scheme"],
)
def test_requests_without_a_valid_token_get_401(
    server: LiveServer, headers: dict[str, str]
) -> None:
    file_id = new_id()
    with server.client() as client:
        response = client.post(
            f"/v1/file/{file_id}", content=b"x", headers={**headers, "Content-Type": "text/plain"}
        )
        assert response.status_code == 401 and set(response.json()) == {"error"}
        assert client.get(f"/v1/file/{file_id}", headers=headers).status_code == 401
    assert not any(file_id in key for key in stored_objects(server))


def test_expired_token_gets_401(server: LiveServer) -> None:
    from datetime import UTC, datetime, timedelta

    from filedock.auth.tokens import issue_token

    long_ago = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(server.secret, "42", "user", timedelta(hours=1), now=long_ago)
    with server.client() as client:
        response = client.get(f"/v1/file/{new_id()}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


def test_existing_id_gets_409_and_keeps_the_first_bytes(server: LiveServer) -> None:
    file_id = new_id()
    with server.client() as client:
        assert upload(server, client, file_id, b"first").status_code == 200
        again = upload(server, client, file_id, b"second", user="someone-else")
        assert again.status_code == 409 and set(again.json()) == {"error"}
        assert wait_ready(client, file_id, server.auth("42")).content == b"first"


@pytest.mark.parametrize("size", [6, 2 * 1024 * 1024], ids=["small", "large"])
def test_an_upload_to_a_taken_id_gets_409_and_leaves_no_object(
    server: LiveServer, size: int
) -> None:
    # A small body is stored, then refused by the insert and removed; a large one is refused
    # before it is stored. Either way the answer and what remains are the same.
    file_id = new_id()
    with server.client() as client:
        assert upload(server, client, file_id, b"first").status_code == 200
        assert wait_ready(client, file_id, server.auth("42")).status_code == 200
        before = stored_objects(server)
        again = upload(server, client, file_id, os.urandom(size))
        assert again.status_code == 409 and set(again.json()) == {"error"}
    assert stored_objects(server) == before


@pytest.mark.parametrize(
    ("file_id", "expected"),
    [("a..b", 400), ("a%2Fb", 400), ("x" * 129, 400), ("%2e%2e", 400), ("a b", 400)],
)
def test_bad_ids_get_400_with_path_and_store_nothing(
    server: LiveServer, file_id: str, expected: int
) -> None:
    before = stored_objects(server)
    with server.client() as client:
        response = upload(server, client, file_id, b"data")
    assert response.status_code == expected
    assert set(response.json()) == {"path", "error"}
    assert stored_objects(server) == before


def test_empty_body_and_missing_content_type_get_400_and_store_nothing(server: LiveServer) -> None:
    before = stored_objects(server)
    with server.client() as client:
        empty = upload(server, client, new_id(), b"")
        assert empty.status_code == 400 and empty.json()["path"] == "$.body"
        no_type = client.post(f"/v1/file/{new_id()}", content=b"data", headers=server.auth("42"))
        assert no_type.status_code == 400 and no_type.json()["path"] == "$.content-type"
    assert stored_objects(server) == before


def test_a_get_right_after_the_upload_waits_for_processing_and_serves_the_whole_file(
    server: LiveServer,
) -> None:
    # Upload then fetch at once, many times: the read waits for processing, never a 409.
    with server.client() as client:
        for _ in range(5):
            file_id = new_id()
            upload(server, client, file_id, PNG)
            response = client.get(f"/v1/file/{file_id}", headers=server.auth("42"))
            assert response.status_code == 200, response.text
            assert response.content == PNG


def test_unknown_file_gets_404(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get(f"/v1/file/{new_id()}", headers=server.auth("42"))
        assert response.status_code == 404 and set(response.json()) == {"error"}
