"""The catalogue refuses ids no store can hold and queries a store would cut, in the cosphere
envelope, on SQLite and PostgreSQL: never a 500 from an integer overflow, never a NUL that
makes a search match everything."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)

# Past a 32-bit serial, past a 64-bit one, far past both, and past Python's int(str) limit.
OUT_OF_RANGE = [2**31, 2**63, 2**64, 10**30]
COLUMN = {"distribution": None, "is_nullable": False, "name": "v", "size": 1, "type": "FLOAT"}


class Admin:
    def __init__(self, server: LiveServer) -> None:
        email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
        self.id = int(server.cli("account", "create", "--email", email, "--type", "ADMIN"))
        self.server = server
        self.headers = {
            "Authorization": f"Bearer {server.cli('account', 'token', '--email', email)}"
        }

    def call(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        with self.server.client() as client:
            return client.request(
                method, path, json=body, params=params or None, headers=self.headers
            )


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Admin:
    return Admin(server)


def item_body(**changes: Any) -> dict[str, Any]:
    name = f"iot_{uuid.uuid4().hex[:8]}"
    return {"name": name, "spec": [COLUMN], "maintained_by_id": None} | changes


def refused(response: httpx.Response, status: int, event: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    assert answer["@event"] == event and answer["@type"] == "error", answer
    return answer


EVERY_ITEM_ENDPOINT = [
    ("GET", "", None),
    ("PUT", "", item_body()),
    ("DELETE", "", None),
    ("POST", "/profile/", None),
]


@pytest.mark.parametrize("item_id", OUT_OF_RANGE)
def test_an_item_id_beyond_any_stored_id_is_not_found(admin: Admin, item_id: int) -> None:
    for method, suffix, body in EVERY_ITEM_ENDPOINT:
        answer = refused(
            admin.call(method, f"/catalogue/items/{item_id}{suffix}", body),
            404,
            "COULD_NOT_FIND_CATALOGUEITEM",
        )
        assert answer["user_id"] == admin.id


def test_an_item_id_too_long_to_read_as_an_integer_is_a_bad_path_like_any_non_integer(
    admin: Admin,
) -> None:
    for item_id in ("9" * 5000, "iot"):
        for method, suffix, body in EVERY_ITEM_ENDPOINT:
            answer = refused(
                admin.call(method, f"/catalogue/items/{item_id}{suffix}", body),
                400,
                "BODY_DID_NOT_VALIDATE",
            )
            assert list(answer["errors"]) == ["item_id"]


@pytest.mark.parametrize("maintainer", OUT_OF_RANGE)
def test_a_maintainer_id_beyond_any_stored_id_names_no_account(
    admin: Admin, maintainer: int
) -> None:
    created = admin.call("POST", "/catalogue/items/", item_body())
    assert created.status_code == 201, created.text
    for method, path in (
        ("POST", "/catalogue/items/"),
        ("PUT", f"/catalogue/items/{created.json()['id']}"),
    ):
        answer = refused(
            admin.call(method, path, item_body(maintained_by_id=maintainer)),
            400,
            "BODY_JSON_DID_NOT_PARSE",
        )
        assert answer["errors"] == {
            "maintained_by": [f"account instance with id {maintainer} does not exist."]
        }
    unchanged = admin.call("GET", f"/catalogue/items/{created.json()['id']}").json()
    assert unchanged["name"] == created.json()["name"] and unchanged["maintained_by"] is None


@pytest.mark.parametrize("query", ["\x00", "iot\x00", "\x00iot"])
def test_a_nul_in_the_search_query_is_refused_not_matched_against_everything(
    admin: Admin, query: str
) -> None:
    created = admin.call("POST", "/catalogue/items/", item_body())
    assert created.status_code == 201, created.text
    answer = refused(
        admin.call("GET", "/catalogue/items/", query=query), 400, "QUERY_DID_NOT_VALIDATE"
    )
    assert list(answer["errors"]) == ["query"] and answer["errors"]["query"]


@pytest.mark.parametrize(
    "location", ["datasets/iot\x00.parquet", "store:datasets/\x00", "a\nb.csv"]
)
def test_a_location_holding_a_control_character_is_a_bad_body(admin: Admin, location: str) -> None:
    answer = refused(
        admin.call("POST", "/catalogue/items/", item_body(location=location)),
        400,
        "BODY_DID_NOT_VALIDATE",
    )
    assert list(answer["errors"]) == ["location"]
