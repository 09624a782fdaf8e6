"""Seed 001 (the signed-url face) through a real server, on every backend combination.

On the local store the upload URL points at the app's `/_blobs/`; on S3 (moto) it is a SigV4
presigned PUT straight to the bucket. Clients cannot tell, and these tests do not care.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import CSV, PDF, Backend, form_for, upload_key

SEED_TYPES = [
    "text/csv",
    "text/plain",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
]


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    return server.create_api_key(f"face-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def backend(server: LiveServer, api_key: str) -> Iterator[Backend]:
    yield Backend(server, api_key)


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "detail"} and body["error_code"] == code, body
    assert "Traceback" not in body["detail"]
    return str(body["detail"])


def test_seed_flow_url_put_poll_ready_download_delete(backend: Backend) -> None:
    ticket = backend.upload_url("report.pdf")
    assert {"expires_in", "file_id", "file_limits", "file_url"} <= set(ticket)
    assert ticket["expires_in"] == 600
    assert ticket["file_limits"] == {"allowed_types": SEED_TYPES, "max_size": 10_485_760}
    assert uuid.UUID(ticket["file_id"])
    assert ticket["upload_method"] == "PUT"
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").json()["status"] == "pending"

    put = backend.put(ticket, PDF)
    assert put.status_code == 200, put.text
    settled = backend.wait_settled(ticket["file_id"])
    assert settled == {"file_id": ticket["file_id"], "status": "ready", "reason": None}

    meta = backend.get(f"/v1/files/{ticket['file_id']}").json()
    assert meta["filename"] == "report.pdf" and meta["size"] == len(PDF)
    assert meta["content_type"] == meta["detected_type"] == "application/pdf"
    assert len(meta["sha256"]) == 64 and meta["persist"] is True and meta["expires_at"] is None

    link = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()
    assert link["expires_in"] == 300
    download = httpx.get(link["url"], timeout=30)
    assert download.status_code == 200 and download.content == PDF

    assert backend.delete(f"/v1/files/{ticket['file_id']}").status_code == 204
    error(
        backend.get(f"/v1/files/{ticket['file_id']}/status"),
        404,
        "attachment_document_does_not_exist",
    )
    assert httpx.get(link["url"], timeout=30).status_code in (403, 404)


def test_form_post_flow_reaches_ready_and_serves_the_same_bytes(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("notes.csv")
    url, fields = form_for(server, upload_key(server, ticket), "text/csv")
    posted = httpx.post(
        url, data=fields, files={"file": ("notes.csv", CSV, "text/csv")}, timeout=30
    )
    assert posted.status_code == 204, posted.text  # no success_action_status: S3's answer
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    link = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(link, timeout=30).content == CSV


def test_a_temporary_file_expires_a_day_after_it_was_made(backend: Backend) -> None:
    ticket = backend.upload_url("notes.csv", persist="false")
    meta = backend.get(f"/v1/files/{ticket['file_id']}").json()
    made = datetime.fromisoformat(meta["created_at"])
    assert meta["persist"] is False
    assert datetime.fromisoformat(meta["expires_at"]) - made == timedelta(hours=24)


def test_a_pdf_that_is_an_executable_is_rejected_with_its_reason(backend: Backend) -> None:
    ticket = backend.upload_url("invoice.pdf")
    elf = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 400
    assert backend.put(ticket, elf).status_code == 200
    settled = backend.wait_settled(ticket["file_id"])
    assert settled["status"] == "rejected" and "application/x-" in settled["reason"]
    detail = error(
        backend.get(f"/v1/files/{ticket['file_id']}/download-url"),
        422,
        "attachment_document_raised_an_error",
    )
    assert "rejected" in detail


def test_a_file_not_yet_processed_has_no_download_url(backend: Backend) -> None:
    ticket = backend.upload_url("notes.csv")
    error(backend.get(f"/v1/files/{ticket['file_id']}/download-url"), 409, "conflict")


@pytest.mark.parametrize("headers", [{}, {"api-key": "fdk_" + "x" * 43}, {"api-key": "nope"}])
def test_missing_or_unknown_api_key_is_401_and_creates_nothing(
    server: LiveServer, headers: dict[str, str]
) -> None:
    with server.client() as client:
        response = client.get(
            "/v1/files/signed-url",
            params={"filename": "a.csv"},
            headers={**headers, "user-id": str(uuid.uuid4())},
        )
    assert error(response, 401, "unauthorized") == "Missing or invalid API key"


@pytest.mark.parametrize("user", [None, "", "42", "not-a-uuid"])
def test_missing_or_malformed_user_id_is_a_400(backend: Backend, user: str | None) -> None:
    headers = {"api-key": backend.api_key} | ({} if user is None else {"user-id": user})
    with backend.server.client() as client:
        response = client.get("/v1/files/signed-url", params={"filename": "a.csv"}, headers=headers)
    assert "user-id" in error(response, 400, "attachment_url_invalid")


@pytest.mark.parametrize(
    "filename", ["", "virus.exe", "page.html", "../etc/passwd", "a\x00b.csv", "x" * 300 + ".csv"]
)
def test_a_filename_this_path_does_not_take_is_a_400(backend: Backend, filename: str) -> None:
    error(backend.get("/v1/files/signed-url", filename=filename), 400, "attachment_url_invalid")


def test_persist_must_be_a_boolean(backend: Backend) -> None:
    response = backend.get("/v1/files/signed-url", filename="a.csv", persist="sometimes")
    assert "persist" in error(response, 400, "attachment_url_invalid")


def test_another_users_file_is_forbidden_on_every_endpoint(backend: Backend) -> None:
    ticket = backend.upload_url("notes.csv")
    backend.put(ticket, CSV)
    backend.wait_settled(ticket["file_id"])
    mallory = backend.as_user(str(uuid.uuid4()))
    for path in ("/status", "", "/download-url"):
        response = mallory.get(f"/v1/files/{ticket['file_id']}{path}")
        error(response, 403, "attachment_access_forbidden")
    error(mallory.delete(f"/v1/files/{ticket['file_id']}"), 403, "attachment_access_forbidden")
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"


def test_unknown_and_malformed_file_ids(backend: Backend) -> None:
    unknown = str(uuid.uuid4())
    for path in ("/status", "", "/download-url"):
        error(backend.get(f"/v1/files/{unknown}{path}"), 404, "attachment_document_does_not_exist")
    error(backend.delete(f"/v1/files/{unknown}"), 404, "attachment_document_does_not_exist")
    error(backend.get("/v1/files/not-a-uuid/status"), 400, "attachment_url_invalid")


def test_a_revoked_key_stops_working(server: LiveServer) -> None:
    name = f"revoked-{uuid.uuid4().hex[:8]}"
    backend = Backend(server, server.create_api_key(name))
    assert backend.get("/v1/files/signed-url", filename="a.csv").status_code == 200
    server.cli("apikey", "revoke", "--name", name)
    deadline = datetime.now() + timedelta(seconds=15)  # keys are cached for a few seconds
    while datetime.now() < deadline:
        response = backend.get("/v1/files/signed-url", filename="a.csv")
        if response.status_code == 401:
            break
    error(response, 401, "unauthorized")
