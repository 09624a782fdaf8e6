"""Browser form uploads (multipart POST to `/_blobs/`) on the local store, through a real server.

The forms are signed here the way the schedules and s3-command faces will sign them (the
store's `presign_post`), for the pending upload a signed-url ticket created.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from filedock.ports.blob_signing import SIGNATURE_FIELD
from filedock.ports.presign import UploadLimits
from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import (
    PDF,
    Backend,
    blob_signer,
    key_of,
    local_objects,
    s3_error,
    unfinished_writes,
)

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)


def signed_form(
    server: LiveServer,
    key: str,
    *,
    max_bytes: int = 10_485_760,
    expires_in: float = 300,
    success_status: str | None = None,
) -> tuple[str, dict[str, str]]:
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    return blob_signer(server).post_form(
        key,
        expires_at,
        UploadLimits(max_bytes, "application/pdf"),
        success_status=success_status,
    )


def post(url: str, fields: dict[str, str], data: bytes) -> httpx.Response:
    return httpx.post(
        url, data=fields, files={"file": ("report.pdf", data, "application/pdf")}, timeout=30
    )


def pending(server: LiveServer, backend: Backend) -> tuple[dict[str, Any], str]:
    ticket = backend.upload_url("report.pdf")
    return ticket, key_of(ticket["file_url"])


def assert_nothing_stored(server: LiveServer, key: str) -> None:
    assert key not in local_objects(server)
    assert unfinished_writes(server) == []


def test_form_upload_stores_the_file_and_processing_makes_it_ready(
    server: LiveServer, backend: Backend
) -> None:
    ticket, key = pending(server, backend)
    url, fields = signed_form(server, key)
    assert url == f"{server.base_url}/_blobs/"
    response = post(url, fields, PDF)
    assert response.status_code == 204, response.text
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    download = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(download).content == PDF


def test_a_form_without_success_action_status_answers_204_with_no_body_as_s3_does(
    server: LiveServer, backend: Backend
) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key)
    assert "success_action_status" not in fields
    response = post(url, fields, PDF)
    assert response.status_code == 204 and response.content == b"", response.text


def test_a_form_signed_for_201_answers_s3s_post_response_document(
    server: LiveServer, backend: Backend
) -> None:
    ticket, key = pending(server, backend)
    url, fields = signed_form(server, key, success_status="201")
    assert fields["success_action_status"] == "201"
    response = post(url, fields, PDF)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/xml"
    document = ElementTree.fromstring(response.content)
    assert document.tag == "PostResponse"
    assert [(child.tag, child.text) for child in document] == [
        ("Location", f"{server.base_url}/_blobs/{key}"),
        ("Bucket", "_blobs"),
        ("Key", key),
        ("ETag", f'"{hashlib.sha256(PDF).hexdigest()}"'),
    ]
    assert response.headers["location"] == f"{server.base_url}/_blobs/{key}"
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"


def test_a_form_signed_for_200_answers_200_with_no_body(
    server: LiveServer, backend: Backend
) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key, success_status="200")
    response = post(url, fields, PDF)
    assert response.status_code == 200 and response.content == b"", response.text


def test_a_signed_success_status_cannot_be_changed_or_dropped(
    server: LiveServer, backend: Backend
) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key, success_status="201")
    s3_error(post(url, {**fields, "success_action_status": "200"}, PDF), 403)
    without = {name: value for name, value in fields.items() if name != "success_action_status"}
    s3_error(post(url, without, PDF), 403)
    assert_nothing_stored(server, key)


def test_an_oversize_form_upload_is_refused_and_stores_nothing(
    server: LiveServer, backend: Backend
) -> None:
    ticket, key = pending(server, backend)
    url, fields = signed_form(server, key, max_bytes=100)
    s3_error(post(url, fields, PDF), 403)
    assert_nothing_stored(server, key)
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").json()["status"] == "pending"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", "uploads/someone-elses"),
        ("Content-Type", "text/html"),
        ("success_action_status", "200"),
    ],
)
def test_a_field_outside_the_policy_is_refused_and_stores_nothing(
    server: LiveServer, backend: Backend, field: str, value: str
) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key)
    s3_error(post(url, {**fields, field: value}, PDF), 403)
    assert_nothing_stored(server, key)
    assert_nothing_stored(server, value)


def test_an_unsigned_extra_field_is_s3_error(server: LiveServer, backend: Backend) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key)
    s3_error(post(url, {**fields, "acl": "public-read"}, PDF), 403)
    assert_nothing_stored(server, key)


def test_a_tampered_policy_is_refused_and_stores_nothing(
    server: LiveServer, backend: Backend
) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key, max_bytes=100)
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"][1] = ["content-length-range", 0, 10**12]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    s3_error(post(url, {**fields, "policy": forged}, PDF), 403)
    s3_error(post(url, {**fields, SIGNATURE_FIELD: "0" * 64}, PDF), 403)
    assert_nothing_stored(server, key)


def test_an_expired_form_is_refused_and_stores_nothing(
    server: LiveServer, backend: Backend
) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key, expires_in=-60)
    response = post(url, fields, PDF)
    s3_error(response, 403)
    assert "expired" in response.text
    assert_nothing_stored(server, key)


def test_a_form_without_a_file_or_not_multipart_is_a_400(
    server: LiveServer, backend: Backend
) -> None:
    _, key = pending(server, backend)
    url, fields = signed_form(server, key)
    s3_error(httpx.post(url, data=fields, files={"other": ("x", b"y")}), 400)
    s3_error(httpx.post(url, data=fields), 400)
    s3_error(httpx.post(url, content=b"file=1", headers={"Content-Type": "text/plain"}), 400)
    truncated = httpx.Request("POST", url, data=fields, files={"file": ("r.pdf", PDF)})
    body = truncated.read()[:-200]
    cut = httpx.post(url, content=body, headers={"Content-Type": truncated.headers["content-type"]})
    s3_error(cut, 400)
    assert_nothing_stored(server, key)
