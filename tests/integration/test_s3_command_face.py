"""Seed 002 (the s3-command face) through a real server, on every backend combination.

The form is posted exactly as returned, to the local store's `/_blobs/` or to S3 (moto);
the sweeper notices the upload (no client polls on this face) and processing decides.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from filedock.config import Settings
from filedock.core.model import File, FileStatus
from filedock.db.file_records import SqlFileRecords
from filedock.db.session import create_engine, session_factory
from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import PDF

SERVER_SETTINGS = {"sweep_seconds": "0.3"}
SEED_UUID = "e090cbd2-ded4-4fd4-be23-4c17ad77ca07"


def command(command_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "uuid": command_id,
        "command": "CreateSignedS3FormData",
        "data": None,
        "async": False,
    } | changes


def create(server: LiveServer, body: Any, user: str = "42") -> httpx.Response:
    with server.client() as client:
        return client.post("/api/v2/s3/create_signed_url", json=body, headers=server.auth(user))


def rejected(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "rejected" and set(body) == {"status", "uuid", "errors"}
    assert field in body["errors"] and all(body["errors"][field]), body
    return body


async def command_file(server: LiveServer, command_id: str) -> File | None:
    url = server.env.get("FILEDOCK_DATABASE_URL") or f"sqlite:///{server.data_dir / 'filedock.db'}"
    engine = create_engine(Settings(database_url=url).resolved_database_url)
    try:
        files = await SqlFileRecords(session_factory(engine)).find_by_parent(
            "upload_command", command_id
        )
    finally:
        await engine.dispose()
    return files[0] if files else None


async def wait_settled(server: LiveServer, command_id: str) -> File:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        file = await command_file(server, command_id)
        if file is not None and file.status.is_terminal:
            return file
        time.sleep(0.2)
    raise AssertionError(f"the upload of command {command_id} never settled")


async def test_seed_command_gives_a_form_whose_upload_is_processed(server: LiveServer) -> None:
    command_id = str(uuid.uuid4())
    response = create(server, command(command_id))
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"status", "meta", "uuid", "data"}
    assert (body["status"], body["meta"], body["uuid"]) == ("accepted", {}, command_id)
    fields, url = body["data"]["fields"], body["data"]["url"]
    # `direct_uploads/<uuid4>`, after the store's own prefix in the bucket if it has one.
    folder, name = fields["key"].split("/")[-2:]
    assert folder == "direct_uploads" and uuid.UUID(name).version == 4
    assert fields["success_action_status"] == "201" and "policy" in fields

    posted = httpx.post(url, data=fields, files={"file": ("report.pdf", PDF)}, timeout=30)
    assert posted.status_code == 201, posted.text
    file = await wait_settled(server, command_id)
    assert file.status is FileStatus.READY and file.owner_id == "42"
    assert (
        file.sha256 == hashlib.sha256(PDF).hexdigest() and file.detected_type == "application/pdf"
    )
    # The same command after its upload was processed: still exactly the first answer, not
    # the processed copy's key.
    again = create(server, command(command_id))
    assert again.status_code == 202 and again.json() == body


def test_answers_carry_the_seeds_content_type_and_cache_control(server: LiveServer) -> None:
    accepted = create(server, command(str(uuid.uuid4())))
    refused = create(server, command("not-a-uuid"))
    assert (accepted.status_code, refused.status_code) == (202, 400)
    for response in (accepted, refused):
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"


def test_the_form_post_answers_201_with_s3s_post_response(server: LiveServer) -> None:
    answer = create(server, command(str(uuid.uuid4()))).json()["data"]
    fields, url = answer["fields"], answer["url"]
    posted = httpx.post(url, data=fields, files={"file": ("report.pdf", PDF)}, timeout=30)
    assert posted.status_code == 201, posted.text
    if server.env.get("FILEDOCK_STORAGE_URL", "").startswith("s3://"):
        return  # moto answers the status S3 does, with an empty body; S3's body is below
    assert posted.headers["content-type"] == "application/xml"
    document = ElementTree.fromstring(posted.content)
    assert document.tag == "PostResponse"
    parts = {child.tag: child.text for child in document}
    assert set(parts) == {"Location", "Bucket", "Key", "ETag"}
    assert parts["Key"] == fields["key"] and parts["Bucket"] == "_blobs"
    assert parts["Location"] == posted.headers["location"] == f"{url}{fields['key']}"
    assert parts["ETag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'


async def test_the_seed_example_body_is_accepted_and_repeats_idempotently(
    server: LiveServer,
) -> None:
    first = create(server, command(SEED_UUID), user="seed-user")
    assert first.status_code == 202, first.text
    time.sleep(1.1)  # signatures carry whole seconds: a re-signed answer would differ
    again = create(server, command(SEED_UUID), user="seed-user")
    assert again.status_code == 202
    assert again.json() == first.json()  # exactly the first answer
    file = await command_file(server, SEED_UUID)
    assert file is not None and file.status is FileStatus.PENDING


async def test_another_users_command_uuid_is_refused(server: LiveServer) -> None:
    command_id = str(uuid.uuid4())
    assert create(server, command(command_id), user="alice").status_code == 202
    body = rejected(create(server, command(command_id), user="mallory"), 403, "command")
    assert body["uuid"] == command_id
    file = await command_file(server, command_id)
    assert file is not None and file.owner_id == "alice"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (command("not-a-uuid"), "uuid"),
        (command(str(uuid.uuid4()), command="DeleteEverything"), "command"),
        (command(str(uuid.uuid4()), data={"key": "../../etc"}), "data"),
        (command(str(uuid.uuid4()), extra=1), "extra"),
        ({"command": "CreateSignedS3FormData"}, "uuid"),
        (["not", "an", "object"], "body"),
    ],
)
def test_a_malformed_command_is_rejected_with_the_field(
    server: LiveServer, body: Any, field: str
) -> None:
    rejected(create(server, body), 400, field)


def test_a_body_that_is_not_json_is_rejected(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v2/s3/create_signed_url",
            content=b"uuid=1",
            headers={**server.auth("42"), "Content-Type": "application/json"},
        )
    assert rejected(response, 400, "body")["uuid"] is None


def test_without_a_token_the_command_is_rejected_as_unauthorized(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/api/v2/s3/create_signed_url", json=command(str(uuid.uuid4())))
    rejected(response, 401, "authorization")


@pytest.mark.parametrize("who", ["anonymous", "other user", "owner", "admin"])
def test_authorization_matrix(server: LiveServer, who: str) -> None:
    command_id = str(uuid.uuid4())
    assert create(server, command(command_id), user="owner").status_code == 202
    headers = {
        "anonymous": {},
        "other user": server.auth("other"),
        "owner": server.auth("owner"),
        "admin": server.auth("root", "admin"),
    }[who]
    with server.client() as client:
        again = client.post(
            "/api/v2/s3/create_signed_url", json=command(command_id), headers=headers
        )
        fresh = client.post(
            "/api/v2/s3/create_signed_url", json=command(str(uuid.uuid4())), headers=headers
        )
    # A command id is one user's: even an admin cannot take over another user's upload.
    expected_again = {"anonymous": 401, "other user": 403, "owner": 202, "admin": 403}[who]
    assert again.status_code == expected_again, again.text
    assert fresh.status_code == (401 if who == "anonymous" else 202), fresh.text
