"""Seed 000 (the schedules face) through a real server, on every backend combination.

Callers carry ACCESSTOKEN/IDTOKEN pairs signed by the tests' own Cognito pool
(tests/fixtures/cognito.py), which the server trusts through FILEDOCK_COGNITO_*.
"""

from __future__ import annotations

import base64
import json
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


def test_the_form_is_the_seeds_without_success_action_status_and_its_post_answers_204(
    server: LiveServer,
) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    fields = attached["presigned_data"]["fields"]
    assert "success_action_status" not in {name.lower() for name in fields}
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert not [c for c in policy["conditions"] if "success_action_status" in str(c)]
    posted = upload(attached)
    assert posted.status_code == 204 and posted.content == b"", posted.text
    assert wait_readable(owner, attached["id"])


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


SEED_HEADERS = {"vary": "Accept, Cookie, Origin", "x-frame-options": "SAMEORIGIN"}


def assert_seed_headers(response: httpx.Response, allow: str = "GET, HEAD, OPTIONS") -> None:
    for name, value in {"allow": allow, **SEED_HEADERS}.items():
        assert response.headers.get_list(name) == [value], (name, response.status_code)


def test_every_answer_carries_the_seeds_headers_errors_included(server: LiveServer) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    with server.client() as client:
        not_allowed = client.post("/api/v1/presigned-urls/", headers=owner.headers)
    presigned_answers = {
        400: owner.presigned(method_name="list_s3_objects"),
        401: Caller(server, POOL, None).presigned(method_name="get_s3_object", document="x"),
        403: Caller(server, POOL, str(uuid.uuid4())).read_url(attached["id"]),
        404: owner.read_url(str(uuid.uuid4())),
        405: not_allowed,
        409: owner.read_url(attached["id"]),
        200: owner.presigned(method_name="delete_s3_object", document=attached["id"]),
    }
    for status, response in presigned_answers.items():
        assert response.status_code == status, response.text
        assert_seed_headers(response)
    documents = {200: owner.documents(schedule), 204: owner.remove(schedule, attached["id"])}
    for status, response in documents.items():
        assert response.status_code == status, response.text
        assert_seed_headers(response, "GET, DELETE, HEAD, OPTIONS")


def test_head_answers_like_get_without_a_body(server: LiveServer) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    upload(attached)
    wait_readable(owner, attached["id"])
    listing = f"/api/v1/schedules/{schedule}/documents/"
    with server.client() as client:
        heads = {
            listing: client.head(listing, headers=owner.headers),
            "read url": client.head(
                "/api/v1/presigned-urls/",
                params={"method_name": "get_s3_object", "document": attached["id"]},
                headers=owner.headers,
            ),
            "anonymous": client.head(listing),
        }
    assert [response.status_code for response in heads.values()] == [200, 200, 401]
    assert all(response.content == b"" for response in heads.values())
    listed = owner.documents(schedule)
    assert heads[listing].headers["content-length"] == listed.headers["content-length"]
    assert heads[listing].headers["content-type"] == listed.headers["content-type"]
    assert int(heads["read url"].headers["content-length"]) > 0
    assert_seed_headers(heads[listing], "GET, DELETE, HEAD, OPTIONS")
    assert_seed_headers(heads["read url"])
    assert_seed_headers(heads["anonymous"], "GET, DELETE, HEAD, OPTIONS")


def test_head_never_attaches_a_document(server: LiveServer) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    with server.client() as client:
        head = client.head(
            "/api/v1/presigned-urls/",
            params={"method_name": "post_s3_object", "schedule": schedule, "filename": "a.pdf"},
            headers=owner.headers,
        )
    assert head.status_code == 400 and head.content == b""
    assert_seed_headers(head)
    assert owner.documents(schedule).json() == {"data": []}
    assert owner.attach(schedule, "a.pdf")["slug"] == "a.pdf"


def test_options_names_the_allowed_methods_without_credentials(server: LiveServer) -> None:
    with server.client() as client:
        presigned = client.options("/api/v1/presigned-urls/")
        documents = client.options(f"/api/v1/schedules/{uuid.uuid4()}/documents/")
    assert (presigned.status_code, documents.status_code) == (200, 200)
    assert_seed_headers(presigned)
    assert_seed_headers(documents, "GET, DELETE, HEAD, OPTIONS")
