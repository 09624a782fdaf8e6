"""The signed-url face's additions for the Python client and the CLI, through a real server on
every backend combination: `GET /v1/files/` (the caller's files, a page at a time),
`download-url?expires_in=` (a share link living as long as asked), and `Range` on the signed
download URL (how a client resumes), on the local store's `/_blobs/` and on S3 (moto).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import CSV, Backend, query_of

# The listing tests make more requests per second than the default rate allows one user.
SERVER_SETTINGS = {"rate_limit_per_second": "0"}


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    return server.create_api_key(f"listing-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def backend(server: LiveServer, api_key: str) -> Backend:
    return Backend(server, api_key)


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "detail"} and body["error_code"] == code, body
    return str(body["detail"])


def ready_file(backend: Backend, data: bytes = CSV, name: str = "notes.csv") -> str:
    ticket = backend.upload_url(name)
    assert backend.put(ticket, data).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    return str(ticket["file_id"])


def arrived(backend: Backend, name: str) -> str:
    """An upload whose bytes arrived: only then is it a file (issuing a URL records nothing)."""
    ticket = backend.upload_url(name)
    assert backend.put(ticket, CSV).status_code == 200
    # On S3 the bytes went to the bucket: the poll is what finds them.
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").status_code == 200
    return str(ticket["file_id"])


def listing(backend: Backend, **params: Any) -> dict[str, Any]:
    response = backend.get("/v1/files/", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"files", "next"}
    return body


def every_page(backend: Backend, limit: int) -> tuple[list[dict[str, Any]], int]:
    files: list[dict[str, Any]] = []
    pages, after = 0, None
    while True:
        body = listing(backend, limit=limit, **({"after": after} if after else {}))
        files += body["files"]
        pages += 1
        after = body["next"]
        if after is None:
            return files, pages


def signed_lifetime(server: LiveServer, url: str) -> float:
    """How long a signed GET was signed for, read from the URL (S3's or the local store's)."""
    query = query_of(url)
    if "X-Amz-Expires" in query:
        return float(query["X-Amz-Expires"])
    return int(query["expires"]) - time.time()


# Listing ----------------------------------------------------------------------------------


def test_listing_walks_the_users_files_a_page_at_a_time_by_id(backend: Backend) -> None:
    ready = ready_file(backend)
    pending = [arrived(backend, f"draft-{n}.csv") for n in range(4)]

    files, pages = every_page(backend, limit=2)

    assert [f["file_id"] for f in files] == sorted([ready, *pending])
    assert pages == 3
    # Each entry is what GET /v1/files/{id} answers.
    entry = next(f for f in files if f["file_id"] == ready)
    assert entry == backend.get(f"/v1/files/{ready}").json()
    assert entry["status"] == "ready" and entry["filename"] == "notes.csv"


def test_listing_defaults_to_50_a_page(backend: Backend) -> None:
    for n in range(51):
        arrived(backend, f"f{n}.csv")
    first = listing(backend)
    assert len(first["files"]) == 50 and first["next"] == first["files"][-1]["file_id"]
    assert len(listing(backend, after=first["next"])["files"]) == 1


def test_deleted_files_are_not_listed(backend: Backend) -> None:
    kept, gone = ready_file(backend), ready_file(backend)
    assert backend.delete(f"/v1/files/{gone}").status_code == 204
    assert [f["file_id"] for f in listing(backend)["files"]] == [kept]


def test_another_users_files_are_not_listed(server: LiveServer, backend: Backend) -> None:
    mine = arrived(backend, "mine.csv")
    arrived(backend.as_user(str(uuid.uuid4())), "theirs.csv")
    # The same user id through another back-end's key is another user.
    other_key = Backend(server, server.create_api_key(f"other-{uuid.uuid4().hex[:8]}"))
    arrived(other_key.as_user(backend.user), "other-backend.csv")

    assert [f["file_id"] for f in listing(backend)["files"]] == [mine]
    assert listing(backend.as_user(str(uuid.uuid4())))["files"] == []


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"after": ".."}]
)
def test_a_bad_page_size_or_cursor_is_a_400(backend: Backend, params: dict[str, Any]) -> None:
    error(backend.get("/v1/files/", **params), 400, "attachment_url_invalid")


def test_listing_needs_a_valid_api_key(backend: Backend) -> None:
    with backend.server.client() as client:
        response = client.get("/v1/files/", headers={"api-key": "nope", "user-id": backend.user})
    error(response, 401, "unauthorized")


# Share links ------------------------------------------------------------------------------


def test_a_download_url_lives_as_long_as_asked(server: LiveServer, backend: Backend) -> None:
    file_id = ready_file(backend)
    for seconds in (1, 3600, 604800):
        link = backend.get(f"/v1/files/{file_id}/download-url", expires_in=seconds).json()
        assert link["expires_in"] == seconds
        assert seconds - 2 <= signed_lifetime(server, link["url"]) <= seconds
        if seconds > 1:
            assert httpx.get(link["url"], timeout=30).content == CSV
    default = backend.get(f"/v1/files/{file_id}/download-url").json()
    assert default["expires_in"] == 300


def test_a_short_share_link_stops_working_when_it_expires(
    server: LiveServer, backend: Backend
) -> None:
    file_id = ready_file(backend)
    link = backend.get(f"/v1/files/{file_id}/download-url", expires_in=2).json()
    assert httpx.get(link["url"], timeout=30).content == CSV
    if "FILEDOCK_STORAGE_URL" in server.env:
        # moto does not check a presigned URL's expiry (S3 does): what S3 is told is checked.
        assert query_of(link["url"])["X-Amz-Expires"] == "2"
        return
    time.sleep(2.5)
    expired = httpx.get(link["url"], timeout=30)
    assert expired.status_code == 403 and "<Code>AccessDenied</Code>" in expired.text


@pytest.mark.parametrize("seconds", ["0", "-1", "604801", "soon"])
def test_a_lifetime_outside_1s_to_7_days_is_a_400(backend: Backend, seconds: str) -> None:
    file_id = ready_file(backend)
    detail = error(
        backend.get(f"/v1/files/{file_id}/download-url", expires_in=seconds),
        400,
        "attachment_url_invalid",
    )
    assert "expires_in" in detail


# Range (resume) -----------------------------------------------------------------------------


def test_a_signed_download_url_serves_the_range_asked_for(backend: Backend) -> None:
    file_id = ready_file(backend)
    url = backend.get(f"/v1/files/{file_id}/download-url").json()["url"]
    middle = httpx.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert middle.status_code == 206 and middle.content == CSV[10:20]
    assert middle.headers["content-range"] == f"bytes 10-19/{len(CSV)}"
    rest = httpx.get(url, headers={"Range": f"bytes={len(CSV) // 2}-"}, timeout=30)
    assert rest.status_code == 206 and rest.content == CSV[len(CSV) // 2 :]
