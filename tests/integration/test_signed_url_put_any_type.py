"""Seed 001's PUT as clients written from the seed send it: any Content-Type, or none.

`curl -T file URL` and `requests.put(url, data=…)` send no Content-Type (or
`application/octet-stream`); the seed names no header. The URL binds no type on either store:
what the file is, and whether the upload path takes it, is decided by processing from the
bytes, against the type the filename announced.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import CSV, PDF, Backend, query_of

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "sqlite-s3"], indirect=True)

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 400


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    return server.create_api_key(f"any-type-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def client_of_the_seed(server: LiveServer, api_key: str) -> Backend:
    return Backend(server, api_key)


def put_like_curl(url: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    # httpx sends raw content with no Content-Type unless one is given, as `curl -T` does.
    return httpx.put(url, content=data, headers=headers or {}, timeout=30)


def test_the_upload_url_asks_for_no_headers(client_of_the_seed: Backend) -> None:
    ticket = client_of_the_seed.upload_url("report.pdf")
    assert ticket["upload_method"] == "PUT"
    assert ticket["upload_headers"] == {}
    # moto checks no signatures; what S3 would enforce is what the URL signs: the host only.
    signed = query_of(ticket["file_url"])
    assert signed.get("X-Amz-SignedHeaders", "host") == "host"
    assert "content_type" not in signed


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/octet-stream"}, {"Content-Type": "text/html"}],
    ids=["no-type", "octet-stream", "wrong-type"],
)
def test_a_put_with_any_content_type_of_allowed_bytes_is_accepted_and_served(
    client_of_the_seed: Backend, headers: dict[str, str]
) -> None:
    ticket = client_of_the_seed.upload_url("report.pdf")
    stored = put_like_curl(ticket["file_url"], PDF, headers)
    assert stored.status_code == 200, stored.text
    settled = client_of_the_seed.wait_settled(ticket["file_id"])
    assert settled["status"] == "ready", settled
    meta = client_of_the_seed.get(f"/v1/files/{ticket['file_id']}").json()
    assert meta["content_type"] == meta["detected_type"] == "application/pdf"
    link = client_of_the_seed.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(link, timeout=30).content == PDF


def test_a_csv_put_without_a_type_is_ready_as_csv(client_of_the_seed: Backend) -> None:
    ticket = client_of_the_seed.upload_url("notes.csv")
    assert put_like_curl(ticket["file_url"], CSV).status_code == 200
    assert client_of_the_seed.wait_settled(ticket["file_id"])["status"] == "ready"


def test_an_executable_put_as_a_pdf_without_a_type_ends_rejected(
    client_of_the_seed: Backend,
) -> None:
    ticket = client_of_the_seed.upload_url("report.pdf")
    assert put_like_curl(ticket["file_url"], ELF).status_code == 200
    settled = client_of_the_seed.wait_settled(ticket["file_id"])
    assert settled["status"] == "rejected", settled
    assert "application/x-" in settled["reason"] and "application/pdf" in settled["reason"]
    refused = client_of_the_seed.get(f"/v1/files/{ticket['file_id']}/download-url")
    assert refused.status_code == 422, refused.text
