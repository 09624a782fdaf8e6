"""Seed 003's catalogue section through a real server, on every backend combination.

Accounts and tokens come from the CLI (`filedock account create` / `account token`), as
scripts get them; every event of the section is reproduced, and the anonymous / researcher /
admin matrix runs over every endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fixtures.server import LiveServer

COLUMN = {
    "distribution": None,
    "is_nullable": False,
    "name": "value",
    "size": 19203,
    "type": "FLOAT",
}


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    datasets = data_dir / "datasets"
    datasets.mkdir(exist_ok=True)
    table = pa.table(
        {
            "location": [["berlin", "paris"][i % 2] for i in range(200)],
            "value": [18.0 + i / 10 for i in range(200)],
        }
    )
    pq.write_table(table, datasets / "iot.parquet")
    return {"catalogue_data_roots": str(datasets)}


class Caller:
    def __init__(self, server: LiveServer, token: str | None) -> None:
        self.server = server
        self.headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.id: int | None = None

    def call(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        with self.server.client() as client:
            return client.request(
                method, path, json=body, params=params or None, headers=self.headers
            )


def account(server: LiveServer, kind: str) -> Caller:
    email = f"{kind.lower()}-{uuid.uuid4().hex[:8]}@example.org"
    account_id = int(server.cli("account", "create", "--email", email, "--type", kind))
    caller = Caller(server, server.cli("account", "token", "--email", email))
    caller.id = account_id
    return caller


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Caller:
    return account(server, "ADMIN")


@pytest.fixture(scope="module")
def researcher(server: LiveServer) -> Caller:
    return account(server, "RESEARCHER")


@pytest.fixture
def item_name() -> Iterator[str]:
    yield f"iot_events_{uuid.uuid4().hex[:8]}"


def body(name: str, maintainer: int | None, **changes: Any) -> dict[str, Any]:
    return {
        "executor_type": "DATABRICKS",
        "maintained_by_id": maintainer,
        "name": name,
        "sample": [],
        "spec": [dict(COLUMN)],
    } | changes


def event(response: httpx.Response, status: int, name: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    assert answer["@event"] == name, answer
    return answer


def test_create_read_update_delete_as_in_the_seed(
    admin: Caller, researcher: Caller, item_name: str
) -> None:
    created = event(
        admin.call("POST", "/catalogue/items/", body(item_name, researcher.id)),
        201,
        "CATALOGUEITEM_CREATED",
    )
    assert created["@type"] == "catalogue_item" and created["spec"] == [COLUMN]
    assert created["created_by"] == created["updated_by"]
    assert created["created_by"]["@type"] == "account" and created["created_by"]["type"] == "ADMIN"
    assert created["maintained_by"]["id"] == researcher.id
    assert created["maintained_by"]["type"] == "RESEARCHER"
    item_id = created["id"]

    read = event(researcher.call("GET", f"/catalogue/items/{item_id}"), 200, "CATALOGUEITEM_READ")
    assert {k: read[k] for k in ("name", "executor_type", "spec")} == {
        "name": item_name,
        "executor_type": "DATABRICKS",
        "spec": [COLUMN],
    }
    changed = body(item_name, researcher.id, executor_type="ATHENA")
    updated = event(
        admin.call("PUT", f"/catalogue/items/{item_id}", changed), 200, "CATALOGUEITEM_UPDATED"
    )
    assert updated["executor_type"] == "ATHENA" and updated["updated_by"]["id"] == admin.id

    deleted = event(
        admin.call("DELETE", f"/catalogue/items/{item_id}"), 200, "CATALOGUEITEM_DELETED"
    )
    assert deleted == {"@event": "CATALOGUEITEM_DELETED", "@type": "empty"}
    gone = event(
        researcher.call("GET", f"/catalogue/items/{item_id}"), 404, "COULD_NOT_FIND_CATALOGUEITEM"
    )
    assert gone == {
        "@event": "COULD_NOT_FIND_CATALOGUEITEM",
        "@type": "error",
        "user_id": researcher.id,
    }


def test_the_seeds_own_item_names_with_spaces_are_created_and_found(
    admin: Caller, researcher: Caller
) -> None:
    tag = uuid.uuid4().hex[:6]
    for name in (f"Dian Flatley {tag}", f"Dr. Joselyn Franecki PhD {tag}"):
        created = event(
            admin.call("POST", "/catalogue/items/", body(f"  {name} ", None)),
            201,
            "CATALOGUEITEM_CREATED",
        )
        assert created["name"] == name  # stored trimmed
    found = event(
        researcher.call("GET", "/catalogue/items/", query=f"flatley {tag}"),
        200,
        "CATALOGUEITEMS_BULK_READ",
    )
    assert [item["name"] for item in found["items"]] == [f"Dian Flatley {tag}"]
    refused = event(
        admin.call("POST", "/catalogue/items/", body(f"Dian\nFlatley {tag}", None)),
        400,
        "BODY_DID_NOT_VALIDATE",
    )
    assert set(refused["errors"]) == {"name"}


def test_bulk_read_needs_a_query_and_matches_names_case_insensitively(
    admin: Caller, researcher: Caller
) -> None:
    tag = uuid.uuid4().hex[:6]
    for name in (f"iot_features_{tag}", f"IOT_events_{tag}", f"weather_{tag}"):
        event(
            admin.call("POST", "/catalogue/items/", body(name, None)), 201, "CATALOGUEITEM_CREATED"
        )
    found = event(
        researcher.call("GET", "/catalogue/items/", query=f"features_{tag}"),
        200,
        "CATALOGUEITEMS_BULK_READ",
    )
    assert found["@type"] == "catalogue_items_list"
    assert [item["name"] for item in found["items"]] == [f"iot_features_{tag}"]
    assert all(item["@type"] == "catalogue_item" for item in found["items"])
    matched = event(
        researcher.call("GET", "/catalogue/items/", query="IoT"), 200, "CATALOGUEITEMS_BULK_READ"
    )
    names = {item["name"] for item in matched["items"]}
    assert {f"iot_features_{tag}", f"IOT_events_{tag}"} <= names and f"weather_{tag}" not in names
    missing = event(researcher.call("GET", "/catalogue/items/"), 400, "QUERY_DID_NOT_VALIDATE")
    assert missing == {
        "@event": "QUERY_DID_NOT_VALIDATE",
        "@type": "error",
        "errors": {"query": ["This field is required."]},
        "user_id": researcher.id,
    }


def test_the_seeds_body_errors(admin: Caller, item_name: str) -> None:
    no_type = {k: v for k, v in COLUMN.items() if k != "type"}
    invalid = event(
        admin.call("POST", "/catalogue/items/", body(item_name, None, spec=[no_type])),
        400,
        "BODY_DID_NOT_VALIDATE",
    )
    assert invalid["errors"] == {
        "spec": ["JSON did not validate. PATH: '0' REASON: 'type' is a required property"]
    }
    unknown = event(
        admin.call("POST", "/catalogue/items/", body(item_name, 932039)),
        400,
        "BODY_JSON_DID_NOT_PARSE",
    )
    assert unknown["errors"] == {
        "maintained_by": ["account instance with id 932039 does not exist."]
    }
    with admin.server.client() as client:
        raw = client.post(
            "/catalogue/items/",
            content=b"{not json",
            headers={**admin.headers, "Content-Type": "application/json"},
        )
    event(raw, 400, "BODY_JSON_DID_NOT_PARSE")
    wrong_value = [{**COLUMN, "distribution": [{"value": "warm", "count": 3}]}]
    event(
        admin.call("POST", "/catalogue/items/", body(item_name, None, spec=wrong_value)),
        400,
        "BODY_DID_NOT_VALIDATE",
    )
    assert (
        event(
            admin.call("GET", "/catalogue/items/", query=item_name), 200, "CATALOGUEITEMS_BULK_READ"
        )["items"]
        == []
    )


def test_an_item_with_live_download_requests_is_not_deleted(
    server: LiveServer, admin: Caller, researcher: Caller, item_name: str
) -> None:
    # A DuckDB item over the generated data: its request runs to `done`, which is still live
    # (not cancelled) and so keeps the item.
    location = str(server.data_dir / "datasets" / "iot.parquet")
    created = event(
        admin.call(
            "POST",
            "/catalogue/items/",
            body(item_name, None, executor_type="DUCKDB", location=location),
        ),
        201,
        "CATALOGUEITEM_CREATED",
    )
    spec = {"columns": ["value"], "filters": [], "randomize_ratio": 1}
    request = event(
        researcher.call(
            "POST", "/downloader/requests/", {"catalogue_item_id": created["id"], "spec": spec}
        ),
        201,
        "DOWNLOADREQUEST_CREATED",
    )
    refused = event(
        admin.call("DELETE", f"/catalogue/items/{created['id']}"),
        400,
        "NOT_CANCELLED_DOWNLOAD_REQEUSTS_DETECTED",
    )
    assert refused == {
        "@event": "NOT_CANCELLED_DOWNLOAD_REQEUSTS_DETECTED",
        "@type": "error",
        "item_id": created["id"],
        "not_cancelled_count": 1,
        "user_id": admin.id,
    }
    event(admin.call("GET", f"/catalogue/items/{created['id']}"), 200, "CATALOGUEITEM_READ")
    # Its only waiter leaves: the request is cancelled, and the item can go.
    event(
        researcher.call("DELETE", f"/downloader/requests/{request['id']}"),
        200,
        "DOWNLOADREQUEST_DELETED",
    )
    event(admin.call("DELETE", f"/catalogue/items/{created['id']}"), 200, "CATALOGUEITEM_DELETED")


def test_profiling_a_generated_parquet_file_fills_spec_and_sample(
    server: LiveServer, admin: Caller, item_name: str
) -> None:
    location = str(server.data_dir / "datasets" / "iot.parquet")
    created = event(
        admin.call("POST", "/catalogue/items/", body(item_name, None, location=location)),
        201,
        "CATALOGUEITEM_CREATED",
    )
    profiled = event(
        admin.call("POST", f"/catalogue/items/{created['id']}/profile/"),
        200,
        "CATALOGUEITEM_PROFILED",
    )
    spec = {column["name"]: column for column in profiled["spec"]}
    assert spec["location"]["type"] == "STRING" and spec["value"]["type"] == "FLOAT"
    assert spec["location"]["distribution"] == [
        {"value": "berlin", "count": 100},
        {"value": "paris", "count": 100},
    ]
    assert len(spec["value"]["distribution"]) == 10 and len(profiled["sample"]) == 5
    outside = body(f"{item_name}_x", None, location="/etc/passwd")
    other = event(admin.call("POST", "/catalogue/items/", outside), 201, "CATALOGUEITEM_CREATED")
    refused = event(
        admin.call("POST", f"/catalogue/items/{other['id']}/profile/"), 400, "BODY_DID_NOT_VALIDATE"
    )
    assert "location" in refused["errors"]


def test_a_store_location_outside_the_datasets_prefix_is_refused_as_a_bad_body(
    admin: Caller, researcher: Caller, item_name: str
) -> None:
    private = body(item_name, None, location=f"store:files/{researcher.id}/private.csv")
    refused = event(admin.call("POST", "/catalogue/items/", private), 400, "BODY_DID_NOT_VALIDATE")
    assert list(refused["errors"]) == ["location"]
    assert "datasets/" in refused["errors"]["location"][0]
    found = admin.call("GET", "/catalogue/items/", query=item_name)
    assert event(found, 200, "CATALOGUEITEMS_BULK_READ")["items"] == []
    public = body(item_name, None, location="store:datasets/x/")
    created = event(admin.call("POST", "/catalogue/items/", public), 201, "CATALOGUEITEM_CREATED")
    escaping = body(item_name, None, location="store:datasets/../uploads/")
    event(
        admin.call("PUT", f"/catalogue/items/{created['id']}", escaping),
        400,
        "BODY_DID_NOT_VALIDATE",
    )
    read = admin.call("GET", f"/catalogue/items/{created['id']}")
    assert event(read, 200, "CATALOGUEITEM_READ")["location"] == "store:datasets/x/"


@pytest.mark.parametrize("who", ["anonymous", "researcher", "admin"])
def test_authorization_matrix(
    server: LiveServer, admin: Caller, researcher: Caller, who: str, item_name: str
) -> None:
    item = event(
        admin.call("POST", "/catalogue/items/", body(item_name, None)), 201, "CATALOGUEITEM_CREATED"
    )
    caller = {"anonymous": Caller(server, None), "researcher": researcher, "admin": admin}[who]
    reads = [
        caller.call("GET", "/catalogue/items/", query="iot"),
        caller.call("GET", f"/catalogue/items/{item['id']}"),
    ]
    writes = [
        caller.call("POST", "/catalogue/items/", body(f"{item_name}_new", None)),
        caller.call("PUT", f"/catalogue/items/{item['id']}", body(item_name, None)),
        caller.call("POST", f"/catalogue/items/{item['id']}/profile/"),
        caller.call("DELETE", f"/catalogue/items/{item['id']}"),
    ]
    if who == "anonymous":
        for response in reads + writes:
            assert event(response, 401, "COULD_NOT_FIND_AUTH_TOKEN")["user_id"] is None
    elif who == "researcher":
        assert [r.status_code for r in reads] == [200, 200]
        for response in writes:
            assert event(response, 403, "ACCESS_DENIED")["user_id"] == researcher.id
    else:
        assert [r.status_code for r in reads] == [200, 200]
        # Create, update, profile (no location: 400), delete.
        assert [r.status_code for r in writes] == [201, 200, 400, 200]
