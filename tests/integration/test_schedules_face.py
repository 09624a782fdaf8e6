"""Seed 000 (the schedules face) through a real server, on every backend combination.

Callers carry ACCESSTOKEN/IDTOKEN pairs signed by the tests' own Cognito pool
(tests/fixtures/cognito.py), which the server trusts through FILEDOCK_COGNITO_*.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer
from tests.integration.schedules_support import Caller, json_api_error, upload, wait_readable
from tests.integration.signed_url_support import PDF

POOL = CognitoPool.create()


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    return {**POOL.settings_in(data_dir), "sweep_seconds": "0.3"}


def test_seed_flow_post_upload_get_delete_url_then_remove(server: LiveServer) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    assert set(attached) == {"id", "slug", "delete", "presigned_data"}
    assert attached["slug"] == "file.pdf" and attached["delete"] is True
    key = attached["presigned_data"]["fields"]["key"]
    assert key.endswith(f"schedules/{schedule}/{attached['id']}.pdf") and "file.pdf" not in key

    posted = upload(attached)
    assert posted.status_code in (201, 204), posted.text
    url = wait_readable(owner, attached["id"])
    assert httpx.get(url, timeout=30).content == PDF

    listed = owner.documents(schedule).json()["data"]
    assert [(d["id"], d["slug"], d["status"]) for d in listed] == [
        (attached["id"], "file.pdf", "ready")
    ]
    delete = owner.presigned(method_name="delete_s3_object", document=attached["id"])
    assert delete.status_code == 200 and set(delete.json()["data"]) == {"url"}
    assert httpx.delete(delete.json()["data"]["url"], timeout=30).status_code in (200, 204)
    assert httpx.get(url, timeout=30).status_code in (403, 404)

    assert owner.remove(schedule, attached["id"]).status_code == 204
    assert owner.documents(schedule).json() == {"data": []}
    json_api_error(owner.read_url(attached["id"]), 404, "Not found.")


def test_rules_and_errors_in_the_seeds_words(server: LiveServer) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    json_api_error(
        owner.presigned(method_name="list_s3_objects"), 400, "Unrecognized method: list_s3_objects"
    )
    json_api_error(owner.presigned(), 400, "The 'method_name' parameter is required")
    json_api_error(
        owner.presigned(method_name="post_s3_object", filename="file.pdf"),
        400,
        "The 'schedule' parameter is required",
    )
    json_api_error(
        owner.presigned(method_name="get_s3_object"), 400, "The 'document' parameter is required"
    )
    unsupported = owner.presigned(method_name="post_s3_object", schedule=schedule, filename="x.exe")
    json_api_error(unsupported, 400, "x.exe is not in supported format")
    owner.attach(schedule, "file.pdf")
    twice = owner.presigned(method_name="post_s3_object", schedule=schedule, filename="file.pdf")
    json_api_error(twice, 400, "Dublicate file name. Please choose another one.")
    json_api_error(owner.read_url(str(uuid.uuid4())), 404, "Not found.")
    json_api_error(owner.remove(schedule, ""), 400, "The 'document' parameter is required")


@pytest.mark.parametrize("who", ["anonymous", "other user", "owner", "admin"])
def test_authorization_matrix_on_every_endpoint(server: LiveServer, who: str) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    upload(attached)
    wait_readable(owner, attached["id"])
    caller = {
        "anonymous": Caller(server, POOL, None),
        "other user": Caller(server, POOL, str(uuid.uuid4())),
        "owner": owner,
        "admin": Caller(server, POOL, str(uuid.uuid4()), admin=True),
    }[who]
    answers = {
        "post": caller.presigned(method_name="post_s3_object", schedule=schedule, filename="b.pdf"),
        "get": caller.read_url(attached["id"]),
        "delete-url": caller.presigned(method_name="delete_s3_object", document=attached["id"]),
        "list": caller.documents(schedule),
    }
    expected = {"anonymous": 401, "other user": 403, "owner": 200, "admin": 200}[who]
    for endpoint, response in answers.items():
        assert response.status_code == expected, (endpoint, response.text)
        if expected != 200:
            json_api_error(response, expected)
    removed = caller.remove(schedule, attached["id"])
    assert removed.status_code == (204 if expected == 200 else expected), removed.text
    still_there = owner.read_url(attached["id"]).status_code
    assert still_there == (404 if expected == 200 else 200)
