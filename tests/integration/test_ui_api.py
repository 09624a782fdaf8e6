"""`/ui/api/`, what the files page calls, over HTTP against a real server on every backend:
the page's flow without a browser, and every bad input answered 4xx in `{"error", "field"}`
with nothing changed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.server import LiveServer


def person(server: LiveServer, user: str | None = None) -> httpx.Client:
    return server.client(headers=server.auth(user or f"ui-{uuid.uuid4().hex[:10]}"))


def upload(api: httpx.Client, filename: str, content: bytes) -> dict[str, Any]:
    started = api.post("/ui/api/uploads", json={"filename": filename})
    assert started.status_code == 201, started.text
    body: dict[str, Any] = started.json()
    target = body["upload"]
    put = httpx.request(
        target["method"], target["url"], headers=target["headers"], content=content, timeout=30
    )
    assert put.status_code in (200, 201, 204), put.text
    return body


def settled(api: httpx.Client, file_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        file: dict[str, Any] = api.get(f"/ui/api/files/{file_id}").json()
        if file["status"] not in ("pending", "uploaded", "processing"):
            return file
        time.sleep(0.2)
    raise AssertionError(f"{file_id} still processing")


def assert_refused(response: httpx.Response, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "field"} and body["error"]
    assert body["field"] == field
    assert "Traceback" not in response.text


def test_the_pages_flow_uploads_lists_links_and_deletes(server: LiveServer) -> None:
    with person(server) as api:
        me = api.get("/ui/api/me").json()
        started = upload(api, "notes.txt", b"hello from the page\n")
        file_id = started["file"]["file_id"]
        assert started["file"]["status"] == "pending" and started["max_size"] == me["max_size"]
        assert settled(api, file_id)["status"] == "ready"

        listed = api.get("/ui/api/files").json()
        assert [f["file_id"] for f in listed["files"]] == [file_id] and listed["next"] is None
        link = api.post(f"/ui/api/files/{file_id}/link", json={"expires_in": 120}).json()
        assert link["expires_in"] == 120
        assert httpx.get(link["url"], timeout=30).content == b"hello from the page\n"

        assert api.delete(f"/ui/api/files/{file_id}").status_code == 204
        assert api.get("/ui/api/files").json()["files"] == []
        assert_refused(api.delete(f"/ui/api/files/{file_id}"), 404, None)


def test_a_signed_upload_url_from_the_page_cannot_be_used_twice(server: LiveServer) -> None:
    with person(server) as api:
        started = upload(api, "once.txt", b"first\n")
        assert settled(api, started["file"]["file_id"])["status"] == "ready"
        target = started["upload"]
        again = httpx.request(
            target["method"], target["url"], headers=target["headers"], content=b"second\n"
        )
        # The local store refuses it; S3 cannot refuse a presigned PUT before it expires, so
        # there the bytes land beside the file, which keeps what was processed.
        if not server.env.get("FILEDOCK_STORAGE_URL", "").startswith("s3://"):
            assert again.status_code >= 400
        time.sleep(1)  # a second arrival would be processed by now
        link = api.post(
            f"/ui/api/files/{started['file']['file_id']}/link", json={"expires_in": 60}
        ).json()
        assert httpx.get(link["url"], timeout=30).content == b"first\n"


def test_without_a_valid_token_every_call_is_401_and_nothing_is_recorded(
    server: LiveServer,
) -> None:
    with server.client() as anonymous:
        assert_refused(anonymous.get("/ui/api/me"), 401, None)
        assert_refused(anonymous.post("/ui/api/uploads", json={"filename": "a.txt"}), 401, None)
    forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}
    with server.client(headers=forged) as api:
        assert_refused(api.get("/ui/api/files"), 401, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b"{}", "filename"),
        (b'{"filename": 7}', "filename"),
        (b'{"filename": ""}', "filename"),
        (b'{"filename": "../../etc/passwd"}', "filename"),
        (b'{"filename": "' + b"a" * 5000 + b'.txt"}', "body"),
    ],
)
def test_a_bad_upload_request_is_400_and_records_nothing(
    server: LiveServer, body: bytes, field: str
) -> None:
    with person(server) as api:
        answer = api.post(
            "/ui/api/uploads", content=body, headers={"Content-Type": "application/json"}
        )
        assert_refused(answer, 400, field)
        assert api.get("/ui/api/files").json()["files"] == []


@pytest.mark.parametrize("expires_in", [0, -5, 604_801, "1h", True, None, 1.5])
def test_a_bad_link_lifetime_is_400(server: LiveServer, expires_in: Any) -> None:
    with person(server) as api:
        file_id = upload(api, "x.txt", b"x\n")["file"]["file_id"]
        settled(api, file_id)
        answer = api.post(f"/ui/api/files/{file_id}/link", json={"expires_in": expires_in})
        assert_refused(answer, 400, "expires_in")


def test_another_persons_file_is_forbidden_to_them_and_stays_untouched(
    server: LiveServer,
) -> None:
    with person(server) as owner, person(server) as other:
        file_id = upload(owner, "mine.txt", b"private\n")["file"]["file_id"]
        settled(owner, file_id)
        # 403, as every face that names files by id answers (core/files.py owns the rule).
        assert_refused(other.get(f"/ui/api/files/{file_id}"), 403, None)
        assert_refused(
            other.post(f"/ui/api/files/{file_id}/link", json={"expires_in": 60}), 403, None
        )
        assert_refused(other.delete(f"/ui/api/files/{file_id}"), 403, None)
        assert other.get("/ui/api/files").json()["files"] == []
        assert owner.get(f"/ui/api/files/{file_id}").json()["status"] == "ready"


def test_an_unknown_path_under_the_api_answers_in_its_error_shape(server: LiveServer) -> None:
    with person(server) as api:
        assert_refused(api.get("/ui/api/nothing-here"), 404, None)
        assert_refused(api.put("/ui/api/me"), 405, None)
