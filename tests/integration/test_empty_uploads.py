"""An empty file is refused on every upload path unless its upload policy allows empty files
(none of the built-in ones does), through a real server on the local store and on S3.

The local store serves its signed uploads itself, so it refuses the empty body before storing
anything and the upload stays open; S3 takes whatever the client sends, so processing rejects
the 0-byte object with its reason.
"""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import (
    CSV,
    Backend,
    form_for,
    local_objects,
    s3_error,
    upload_key,
)

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "sqlite-s3"], indirect=True)


def send_empty(
    server: LiveServer, backend: Backend, ticket: dict[str, str], way: str
) -> httpx.Response:
    if way == "put":
        return backend.put(ticket, b"")
    url, fields = form_for(server, upload_key(server, ticket), "text/csv")
    return httpx.post(url, data=fields, files={"file": ("notes.csv", b"", "text/csv")}, timeout=30)


@pytest.mark.parametrize("way", ["put", "form"])
def test_an_empty_signed_upload_is_refused_on_the_local_store_and_rejected_on_s3(
    server: LiveServer, backend: Backend, way: str
) -> None:
    ticket = backend.upload_url("notes.csv")
    response = send_empty(server, backend, ticket, way)
    if "FILEDOCK_STORAGE_URL" not in server.env:
        s3_error(response, 400, "InvalidRequest")
        assert "empty" in response.text
        assert not [key for key in local_objects(server) if upload_key(server, ticket) in key]
        assert backend.get(f"/v1/files/{ticket['file_id']}/status").json()["status"] == "pending"
        # Still open: the same URL takes the real bytes.
        assert backend.put(ticket, CSV).status_code == 200
        assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
        return
    assert response.status_code in (200, 201, 204), response.text
    settled = backend.wait_settled(ticket["file_id"])
    assert settled["status"] == "rejected", settled
    assert "empty" in settled["reason"]


def test_the_hasura_face_still_refuses_an_empty_body_in_its_words(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post(
            "/v1/file/empty-body",
            content=b"",
            headers={**server.auth("42"), "Content-Type": "text/plain"},
        )
    assert response.status_code == 400
    assert response.json() == {"path": "$.body", "error": "the body is empty"}
