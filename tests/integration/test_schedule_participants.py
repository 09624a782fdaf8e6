"""Schedule participants (an addition to seed 000) through a real server, on SQLite and
PostgreSQL: a back-end declares a schedule's parties with its API key, and they use the
schedule as its owner does.

Users carry ACCESSTOKEN/IDTOKEN pairs signed by the tests' own Cognito pool
(tests/fixtures/cognito.py); back-ends carry keys made with `filedock apikey create`.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer
from tests.integration.schedules_support import (
    JSON_API,
    Caller,
    json_api_error,
    upload,
    wait_readable,
)
from tests.integration.signed_url_support import PDF

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)

POOL = CognitoPool.create()


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    return POOL.settings_in(data_dir)


class BackEnd:
    """A trusted back-end: its API key, and nobody named beside it."""

    def __init__(self, server: LiveServer, headers: dict[str, str]) -> None:
        self.server = server
        self.headers = headers

    def declare(self, schedule: str, body: Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self.server.client() as client:
            return client.put(
                f"/api/v1/schedules/{schedule}/participants/",
                content=content,
                headers={**self.headers, "Content-Type": "application/json"},
            )

    def participants(self, schedule: str) -> httpx.Response:
        with self.server.client() as client:
            return client.get(f"/api/v1/schedules/{schedule}/participants/", headers=self.headers)


@pytest.fixture(scope="module")
def back_end(server: LiveServer) -> BackEnd:
    return BackEnd(server, {"api-key": server.create_api_key(f"payments-{uuid.uuid4().hex[:8]}")})


def declared(response: httpx.Response, schedule: str) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(JSON_API)
    body = response.json()
    assert set(body) == {"data"} and body["data"]["schedule"] == schedule
    participants: list[str] = body["data"]["participants"]
    return participants


def test_declared_participants_use_the_schedule_as_its_owner_does(
    server: LiveServer, back_end: BackEnd
) -> None:
    payer_id, payee_id = str(uuid.uuid4()), str(uuid.uuid4())
    payer, payee = Caller(server, POOL, payer_id), Caller(server, POOL, payee_id)
    outsider, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    first = payer.attach(schedule, "contract.pdf")
    assert upload(first).status_code in (201, 204)
    wait_readable(payer, first["id"])
    json_api_error(payee.documents(schedule), 403)

    assert declared(back_end.declare(schedule, {"participants": [payer_id, payee_id]}), schedule)
    second = payee.attach(schedule, "invoice.pdf")
    assert upload(second, PDF).status_code in (201, 204)
    listed = payee.documents(schedule).json()["data"]
    assert [d["id"] for d in listed] == [first["id"], second["id"]]
    url = wait_readable(payee, first["id"])
    assert httpx.get(url, timeout=30).content == PDF
    delete = payee.presigned(method_name="delete_s3_object", document=first["id"])
    assert delete.status_code == 200, delete.text
    assert payee.remove(schedule, first["id"]).status_code == 204
    assert [d["id"] for d in payer.documents(schedule).json()["data"]] == [second["id"]]

    for response in (
        outsider.documents(schedule),
        outsider.read_url(second["id"]),
        outsider.presigned(method_name="post_s3_object", schedule=schedule, filename="x.pdf"),
        outsider.remove(schedule, second["id"]),
    ):
        json_api_error(response, 403, "You do not have permission to perform this action.")

    # The list is replaced: the payee is gone, the owner stays the owner.
    assert declared(back_end.declare(schedule, {"participants": [payer_id]}), schedule)
    json_api_error(payee.documents(schedule), 403)
    json_api_error(payee.read_url(second["id"]), 403)
    assert payer.documents(schedule).status_code == 200


def test_put_replaces_the_list_and_get_answers_it_sorted(back_end: BackEnd) -> None:
    schedule = str(uuid.uuid4())
    assert declared(back_end.participants(schedule), schedule) == []
    body = {"participants": ["zed", "amy", "zed", "Amy"]}
    assert declared(back_end.declare(schedule, body), schedule) == ["Amy", "amy", "zed"]
    assert declared(back_end.declare(schedule, body), schedule) == ["Amy", "amy", "zed"]
    assert declared(back_end.participants(schedule), schedule) == ["Amy", "amy", "zed"]
    assert declared(back_end.declare(schedule, {"participants": ["bob"]}), schedule) == ["bob"]
    assert declared(back_end.participants(schedule.upper()), schedule) == ["bob"]


def test_a_declared_schedule_is_claimed_only_by_a_participant(
    server: LiveServer, back_end: BackEnd
) -> None:
    payee_id, schedule = str(uuid.uuid4()), str(uuid.uuid4())
    declared(back_end.declare(schedule, {"participants": [payee_id]}), schedule)
    outsider = Caller(server, POOL, str(uuid.uuid4()))
    refused = outsider.presigned(method_name="post_s3_object", schedule=schedule, filename="a.pdf")
    json_api_error(refused, 403)
    Caller(server, POOL, payee_id).attach(schedule, "a.pdf")
    json_api_error(outsider.documents(schedule), 403)


@pytest.mark.parametrize("key", ["none", "unknown", "malformed", "revoked", "cognito tokens"])
def test_a_missing_or_bad_api_key_is_401_and_changes_nothing(
    server: LiveServer, back_end: BackEnd, key: str
) -> None:
    schedule = str(uuid.uuid4())
    declared(back_end.declare(schedule, {"participants": ["payee"]}), schedule)
    headers: dict[str, str] = {
        "none": {},
        "unknown": {"api-key": "fdk_" + "A" * 43},
        "malformed": {"api-key": "let-me-in"},
        "cognito tokens": POOL.headers(str(uuid.uuid4()), admin=True),
    }.get(key, {})
    if key == "revoked":
        name = f"revoked-{uuid.uuid4().hex[:8]}"
        headers = {"api-key": server.create_api_key(name)}
        server.cli("apikey", "revoke", "--name", name)
    caller = BackEnd(server, headers)
    json_api_error(caller.declare(schedule, {"participants": ["intruder"]}), 401)
    json_api_error(caller.participants(schedule), 401)
    assert declared(back_end.participants(schedule), schedule) == ["payee"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "the body is not JSON"),
        (b"{not json", "the body is not JSON"),
        ([], "The body must be a JSON object"),
        ({}, "'participants' must be a list of user ids"),
        ({"participants": "payee"}, "'participants' must be a list of user ids"),
        ({"participants": []}, "'participants' must hold 1 to 20 user ids"),
        ({"participants": [f"u{n}" for n in range(21)]}, "'participants' must hold 1 to 20"),
        ({"participants": [""]}, "each participant must be a non-empty string"),
        ({"participants": ["x" * 257]}, "each participant must be a non-empty string"),
        ({"participants": [42]}, "each participant must be a non-empty string"),
        ({"participants": ["payee"], "owner": "me"}, "Unknown field: owner"),
    ],
)
def test_a_bad_body_is_400_and_changes_nothing(back_end: BackEnd, body: Any, detail: str) -> None:
    schedule = str(uuid.uuid4())
    declared(back_end.declare(schedule, {"participants": ["payee"]}), schedule)
    refused = back_end.declare(schedule, body)
    message = json_api_error(refused, 400)
    assert message.startswith(detail), message
    assert refused.headers["allow"] == "GET, PUT"
    assert declared(back_end.participants(schedule), schedule) == ["payee"]


@pytest.mark.parametrize(
    "schedule", ["not-a-uuid", "7e06b0da", "7e06b0da-5959-40bc-b583-464b721b3f7g"]
)
def test_a_schedule_id_that_is_not_a_uuid_is_400(back_end: BackEnd, schedule: str) -> None:
    json_api_error(
        back_end.declare(schedule, {"participants": ["payee"]}),
        400,
        "The 'schedule' parameter must be a UUID",
    )
    json_api_error(back_end.participants(schedule), 400, "The 'schedule' parameter must be a UUID")
