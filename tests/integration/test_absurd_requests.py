"""Absurd but well-formed-looking input through a real server: a 4xx in the face's own shape,
never a 500. Ranges with thousands of digits, JSON nested tens of thousands deep, a form
boundary longer than any multipart parser takes, signed-URL numbers written with leading zeros.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import (
    PDF,
    Backend,
    blob_signer,
    key_of,
    local_objects,
    s3_error,
    with_query,
)

NOTIFY_TOKEN = "a-notification-token-for-these-tests"
SERVER_SETTINGS = {"bucket_notification_token": NOTIFY_TOKEN}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
HUGE = "9" * 5000  # past Python's 4300-digit limit on int(str)
NESTED = b"[" * 30_000 + b"]" * 30_000  # 60 KB: valid JSON, nested deeper than any parser goes
# Parses, but nests deeper (100 levels) than any body a face takes.
DEEP = b"[" * 100 + b"]" * 100

# Parsing does not depend on the backends; the local store serves `/_blobs/`.
LOCAL = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)


def hasura_ready_file(server: LiveServer) -> str:
    file_id = str(uuid.uuid4())
    with server.client() as client:
        headers = {**server.auth("42"), "Content-Type": "image/png"}
        assert client.post(f"/v1/file/{file_id}", content=PNG, headers=headers).status_code == 200
        deadline = time.monotonic() + 20
        while client.get(f"/v1/file/{file_id}", headers=server.auth("42")).status_code != 200:
            assert time.monotonic() < deadline, "the upload never became ready"
            time.sleep(0.05)
    return file_id


@pytest.mark.parametrize("server", ["sqlite-local", "sqlite-s3"], indirect=True)
def test_a_range_of_thousands_of_digits_is_unsatisfiable_or_clipped_never_a_500(
    server: LiveServer,
) -> None:
    file_id = hasura_ready_file(server)
    size = len(PNG)

    def get(range_header: str) -> httpx.Response:
        with server.client() as client:
            headers = {**server.auth("42"), "Range": range_header}
            return client.get(f"/v1/file/{file_id}", headers=headers)

    past_the_end = get(f"bytes={HUGE}-")
    assert past_the_end.status_code == 416, past_the_end.text
    assert past_the_end.headers["content-range"] == f"bytes */{size}"
    assert set(past_the_end.json()) == {"error"}
    for whole in (f"bytes=0-{HUGE}", f"bytes=-{HUGE}"):
        response = get(whole)
        assert response.status_code == 206, response.text
        assert response.content == PNG
        assert response.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
    padded = get(f"bytes={'0' * 5000}1-{'0' * 5000}3")
    assert padded.status_code == 206 and padded.content == PNG[1:4]


@LOCAL
def test_a_signed_get_with_an_unsatisfiable_range_is_s3s_invalid_range(backend: Backend) -> None:
    ticket = backend.upload_url("report.pdf")
    assert backend.put(ticket, PDF).status_code == 200
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    for past_the_end in (f"bytes={len(PDF)}-", f"bytes={HUGE}-"):
        response = httpx.get(url, headers={"Range": past_the_end}, timeout=30)
        s3_error(response, 416, "InvalidRange")
        assert response.headers["content-range"] == f"bytes */{len(PDF)}"
    clipped = httpx.get(url, headers={"Range": f"bytes=0-{HUGE}"}, timeout=30)
    assert clipped.status_code == 206 and clipped.content == PDF


def cosphere_admin_token(server: LiveServer) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
    server.cli("account", "create", "--email", email, "--type", "ADMIN")
    return server.cli("account", "token", "--email", email)


def post_json(server: LiveServer, path: str, body: bytes, token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with server.client() as client:
        return client.post(path, content=body, headers=headers)


@LOCAL
@pytest.mark.parametrize(
    "body",
    [
        NESTED,
        b'{"uuid": ' + NESTED + b"}",
        b'{"Records": ' + NESTED + b"}",
        b'{"uuid": ' + DEEP + b', "Records": ' + DEEP + b"}",
    ],
    ids=["nested-array", "nested-in-an-object", "nested-records", "100-levels"],
)
def test_deeply_nested_json_is_each_faces_not_json_400(server: LiveServer, body: bytes) -> None:
    command = post_json(server, "/api/v2/s3/create_signed_url", body, server.token("42"))
    assert command.status_code == 400, command.text
    assert command.json() == {
        "status": "rejected",
        "uuid": None,
        "errors": {"body": ["the body is not JSON"]},
    }
    for path, token in (
        ("/accounts/auth_tokens/", None),
        ("/catalogue/items/", cosphere_admin_token(server)),
    ):
        cosphere = post_json(server, path, body, token)
        assert cosphere.status_code == 400, cosphere.text
        assert cosphere.json()["@event"] == "BODY_JSON_DID_NOT_PARSE"
        assert cosphere.json()["@type"] == "error"
    hook = post_json(server, "/_hooks/bucket-events", body, NOTIFY_TOKEN)
    assert hook.status_code == 400, hook.text
    assert hook.json() == {"error": "the body is not JSON"}


@LOCAL
def test_a_form_boundary_longer_than_256_characters_is_s3s_invalid_request(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.pdf")
    boundary = "b" * 300
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n'
        f"{key_of(ticket['file_url'])}\r\n--{boundary}--\r\n"
    ).encode()
    response = httpx.post(
        f"{server.base_url}/_blobs/",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    s3_error(response, 400, "InvalidRequest")
    assert key_of(ticket["file_url"]) not in local_objects(server)


def with_leading_zero(url: str, name: str) -> str:
    value = httpx.URL(url).params[name]
    return with_query(url, **{name: "000" + value})


@LOCAL
@pytest.mark.parametrize("name", ["expires", "max_bytes"])
def test_a_signed_put_url_with_a_number_in_another_spelling_is_malformed(
    server: LiveServer, backend: Backend, name: str
) -> None:
    ticket = backend.upload_url("report.pdf")
    response = httpx.put(
        with_leading_zero(ticket["file_url"], name),
        content=PDF,
        headers=ticket["upload_headers"],
        timeout=30,
    )
    s3_error(response, 400, "InvalidRequest")
    assert key_of(ticket["file_url"]) not in local_objects(server)
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").json()["status"] == "pending"


@LOCAL
def test_a_signed_get_url_with_a_padded_expiry_is_malformed(server: LiveServer) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=1)
    url = blob_signer(server).sign_url("GET", "files/nothing-here", expires_at=soon)
    s3_error(httpx.get(with_leading_zero(url, "expires"), timeout=30), 400, "InvalidRequest")
