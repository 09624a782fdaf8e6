"""Seed 003's downloader section through a real server: requests run to `done` on DuckDB and
their signed `uri` downloads the right rows; joining, leaving and cancelling; and a test for
each bug of the system this face replaces.

Accounts and tokens come from the CLI, as in the catalogue tests; the data is a generated
Parquet file in a data root of the server.
"""

from __future__ import annotations

import csv
import io
import random
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-s3"], indirect=True)

ROWS = 4000
PRODUCTS = ["apple", "bread", "cake", "dates", "eggs", ""]
TYPES = {
    "id": "INTEGER",
    "product": "STRING",
    "price": "INTEGER",
    "weight": "FLOAT",
    "available": "BOOLEAN",
    "seen_at": "DATETIME",
    "born_on": "DATE",
}
START = datetime(2024, 1, 1)


def generated_rows() -> list[dict[str, Any]]:
    rng = random.Random(5)
    return [
        {
            "id": i,
            "product": rng.choice(PRODUCTS),
            "price": rng.randint(0, 100),
            "weight": round(rng.uniform(0, 50), 2),
            "available": rng.random() < 0.5,
            "seen_at": START + timedelta(minutes=17 * i),
            "born_on": date(2020, 1, 1) + timedelta(days=i % 900),
        }
        for i in range(ROWS)
    ]


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    datasets = data_dir / "datasets"
    datasets.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(generated_rows()), datasets / "shop.parquet")
    # The job fills in estimated_size too (off by default: one more pass over the data).
    return {"catalogue_data_roots": str(datasets), "extract_estimate_first": "true"}


class Caller:
    def __init__(self, server: LiveServer, kind: str) -> None:
        email = f"{kind.lower()}-{uuid.uuid4().hex[:8]}@example.org"
        self.id = int(server.cli("account", "create", "--email", email, "--type", kind))
        self.headers = {
            "Authorization": f"Bearer {server.cli('account', 'token', '--email', email)}"
        }
        self.server = server

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        with self.server.client() as client:
            return client.request(method, path, json=body, headers=self.headers)

    def request(self, item_id: int, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"catalogue_item_id": item_id, "spec": spec}
        return event(
            self.call("POST", "/downloader/requests/", body), 201, "DOWNLOADREQUEST_CREATED"
        )

    def wait(self, request_id: int, until: tuple[str, ...] = ("done", "failed")) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            read = event(
                self.call("GET", f"/downloader/requests/{request_id}"), 200, "DOWNLOADREQUEST_READ"
            )
            if read["status"] in until:
                return read
            time.sleep(0.1)
        raise AssertionError(f"request {request_id} never reached {until}: {read}")


def event(response: httpx.Response, status: int, name: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    assert answer["@event"] == name, answer
    return answer


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Caller:
    return Caller(server, "ADMIN")


@pytest.fixture(scope="module")
def researcher(server: LiveServer) -> Caller:
    return Caller(server, "RESEARCHER")


@pytest.fixture(scope="module")
def item(server: LiveServer, admin: Caller) -> dict[str, Any]:
    spec = [
        {"name": name, "type": kind, "is_nullable": False, "size": None, "distribution": None}
        for name, kind in TYPES.items()
    ]
    body = {
        "name": f"shop {uuid.uuid4().hex[:8]}",
        "executor_type": "DUCKDB",
        "spec": spec,
        "sample": [],
        "location": str(server.data_dir / "datasets" / "shop.parquet"),
    }
    return event(admin.call("POST", "/catalogue/items/", body), 201, "CATALOGUEITEM_CREATED")


def download_rows(server: LiveServer, uri: str) -> list[dict[str, str]]:
    with httpx.Client(timeout=30) as client:
        response = client.get(uri)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def expected(columns: list[str], keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, str]]:
    """What DuckDB's CSV holds for these rows: booleans `true`/`false`, times with a space."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.isoformat(sep=" ")
        return str(value)

    return [{c: text(row[c]) for c in columns} for row in generated_rows() if keep(row)]


# The seed's section -----------------------------------------------------------------------


def test_a_request_runs_to_done_and_its_uri_downloads_the_filtered_rows(
    server: LiveServer, researcher: Caller, item: dict[str, Any]
) -> None:
    spec = {
        "columns": ["id", "product", "price"],
        "filters": [
            {"name": "price", "operator": ">=", "value": 78},
            {"name": "product", "operator": "!=", "value": "cake"},
        ],
        "randomize_ratio": 1,
    }
    created = researcher.request(item["id"], spec)
    assert created["status"] in ("pending", "running", "done")
    assert created["uri"] is None or created["status"] == "done"
    assert created["created_by"]["id"] == researcher.id
    assert created["catalogue_item"]["id"] == item["id"]
    assert created["spec"] == spec | {"format": "csv"}
    done = researcher.wait(created["id"])
    assert done["status"] == "done", done
    assert done["is_cancelled"] is False and done["failure"] is None
    assert done["executor_job_id"].startswith("duckdb:")
    rows = download_rows(server, done["uri"])
    want = expected(
        ["id", "product", "price"], lambda r: r["price"] >= 78 and r["product"] != "cake"
    )
    assert sorted(rows, key=lambda r: int(r["id"])) == want
    assert done["real_size"] > 0
    # The estimate (the endpoint's, and the one the job filled in) lands within 20 % of the
    # file the request became.
    estimated = event(
        researcher.call(
            "POST",
            "/downloader/requests/estimate/",
            {"catalogue_item_id": item["id"], "spec": spec},
        ),
        200,
        "SIZE_OF_DOWNLOAD_REQUEST_ESTIMATED",
    )["estimated_size"]
    for estimate in (estimated, done["estimated_size"]):
        assert abs(estimate - done["real_size"]) <= 0.2 * done["real_size"]


def test_bulk_read_lists_only_the_requests_the_caller_waits_for(
    server: LiveServer, admin: Caller, item: dict[str, Any]
) -> None:
    mine, other = Caller(server, "RESEARCHER"), Caller(server, "RESEARCHER")
    spec = {"columns": ["product"], "filters": [{"name": "price", "operator": "=", "value": 18}]}
    own = mine.request(item["id"], spec | {"randomize_ratio": 0.8})
    other.request(item["id"], spec | {"randomize_ratio": 0.7})
    listed = event(mine.call("GET", "/downloader/requests/"), 200, "DOWNLOADREQUESTS_BULK_READ")
    assert listed["@type"] == "download_requests_list"
    assert [r["id"] for r in listed["requests"]] == [own["id"]]
    shape = listed["requests"][0]
    assert set(shape) >= {
        "@type", "catalogue_item", "created_by", "estimated_size", "executor_job_id",
        "is_cancelled", "real_size", "spec", "uri", "id", "status",
    }  # fmt: skip


def test_the_seeds_errors(researcher: Caller, item: dict[str, Any]) -> None:
    spec = {"columns": ["product", "price"], "filters": [], "randomize_ratio": 0.9}
    bad = researcher.call(
        "POST", "/downloader/requests/", {"catalogue_item_id": "TEXT", "spec": spec}
    )
    assert event(bad, 400, "BODY_DID_NOT_VALIDATE") == {
        "@event": "BODY_DID_NOT_VALIDATE",
        "@type": "error",
        "errors": {"catalogue_item_id": ["A valid integer is required."]},
        "user_id": researcher.id,
    }
    with researcher.server.client() as client:
        not_json = client.post(
            "/downloader/requests/",
            content=b"{not json",
            headers=researcher.headers | {"Content-Type": "application/json"},
        )
    assert event(not_json, 400, "BODY_JSON_DID_NOT_PARSE")["user_id"] == researcher.id
    missing = researcher.call(
        "POST", "/downloader/requests/", {"catalogue_item_id": 58495, "spec": spec}
    )
    event(missing, 404, "COULD_NOT_FIND_CATALOGUEITEM")
    for method in ("GET", "DELETE"):
        event(
            researcher.call(method, "/downloader/requests/69506"),
            404,
            "COULD_NOT_FIND_DOWNLOADREQUEST",
        )
    anonymous = httpx.post(f"{researcher.server.base_url}/downloader/requests/", json={})
    event(anonymous, 401, "COULD_NOT_FIND_AUTH_TOKEN")


def test_render_ui_data_gives_each_columns_operators_datetime_included(
    researcher: Caller, item: dict[str, Any]
) -> None:
    rendered = event(
        researcher.call(
            "POST", "/downloader/requests/render_ui_data/", {"catalogue_item_id": item["id"]}
        ),
        200,
        "DOWNLOAD_REQUEST_UI_DATA_RENDERED",
    )
    ordered = [">", ">=", "<", "<=", "=", "!="]
    assert rendered == {
        "@event": "DOWNLOAD_REQUEST_UI_DATA_RENDERED",
        "@type": "download_request_render",
        "columns_operators": [
            {
                "@type": "column_operators",
                "name": name,
                "operators": ["=", "!="] if kind == "BOOLEAN" else ordered,
            }
            for name, kind in TYPES.items()
        ],
    }


def test_the_estimate_counts_and_follows_the_spec(researcher: Caller, item: dict[str, Any]) -> None:
    def estimate(spec: dict[str, Any]) -> int:
        answer = event(
            researcher.call(
                "POST",
                "/downloader/requests/estimate/",
                {"catalogue_item_id": item["id"], "spec": spec},
            ),
            200,
            "SIZE_OF_DOWNLOAD_REQUEST_ESTIMATED",
        )
        assert answer["@type"] == "download_request_estimated_size"
        return int(answer["estimated_size"])

    everything = estimate({"columns": ["id", "product", "price"], "randomize_ratio": 1})
    half = estimate({"columns": ["id", "product", "price"], "randomize_ratio": 0.5})
    narrow = estimate({"columns": ["id"], "randomize_ratio": 1})
    # The old system answered a constant: this one follows rows, ratio and columns.
    assert len({everything, half, narrow}) == 3
    assert 0.4 * everything < half < 0.6 * everything
    assert narrow < everything


# Joining, leaving, cancelling --------------------------------------------------------------


def test_an_identical_request_is_joined_not_repeated(
    server: LiveServer, item: dict[str, Any]
) -> None:
    first, second = Caller(server, "RESEARCHER"), Caller(server, "RESEARCHER")
    spec = {"columns": ["id"], "filters": [{"name": "weight", "operator": "<", "value": 10}]}
    a = first.request(item["id"], spec)
    # The same extract, written differently: the ratio's default spelled out.
    b = second.request(item["id"], spec | {"randomize_ratio": 1.0, "format": "csv"})
    assert a["id"] == b["id"]
    assert a["created_by"]["id"] == b["created_by"]["id"] == first.id
    # Both wait for it; one leaving does not cancel it for the other.
    event(first.call("DELETE", f"/downloader/requests/{a['id']}"), 200, "DOWNLOADREQUEST_DELETED")
    event(
        first.call("GET", f"/downloader/requests/{a['id']}"), 404, "COULD_NOT_FIND_DOWNLOADREQUEST"
    )
    kept = second.wait(b["id"])
    assert kept["status"] == "done" and kept["is_cancelled"] is False


def test_nobody_but_a_waiter_can_read_or_leave_a_request(
    server: LiveServer, researcher: Caller, item: dict[str, Any]
) -> None:
    stranger = Caller(server, "ADMIN")  # not even an admin
    mine = researcher.request(item["id"], {"columns": ["price"], "randomize_ratio": 0.25})
    path = f"/downloader/requests/{mine['id']}"
    event(stranger.call("GET", path), 404, "COULD_NOT_FIND_DOWNLOADREQUEST")
    event(stranger.call("DELETE", path), 404, "COULD_NOT_FIND_DOWNLOADREQUEST")
    listed = event(stranger.call("GET", "/downloader/requests/"), 200, "DOWNLOADREQUESTS_BULK_READ")
    assert mine["id"] not in [r["id"] for r in listed["requests"]]
    # Still there for its waiter, not cancelled.
    assert researcher.wait(mine["id"])["status"] == "done"


def test_the_last_waiter_leaving_cancels_and_a_new_request_starts_afresh(
    server: LiveServer, item: dict[str, Any]
) -> None:
    alone = Caller(server, "RESEARCHER")
    spec = {
        "columns": ["born_on"],
        "filters": [{"name": "available", "operator": "=", "value": True}],
    }
    first = alone.request(item["id"], spec)
    done = alone.wait(first["id"])
    event(
        alone.call("DELETE", f"/downloader/requests/{first['id']}"), 200, "DOWNLOADREQUEST_DELETED"
    )
    # Its result goes with it (the clear job queued with the cancel runs at once): the signed
    # link it had stops serving.
    with httpx.Client(timeout=30) as client:
        deadline = time.monotonic() + 10
        while client.get(done["uri"]).status_code == 200:
            assert time.monotonic() < deadline, "the cancelled request's file is still served"
            time.sleep(0.1)
        assert client.get(done["uri"]).status_code in (403, 404)
    again = alone.request(item["id"], spec)
    assert again["id"] != first["id"]
    assert alone.wait(again["id"])["real_size"] == done["real_size"]


# The old system's bugs ---------------------------------------------------------------------


def test_ratio_one_keeps_every_filtered_row_and_a_ratio_keeps_that_share(
    server: LiveServer, researcher: Caller, item: dict[str, Any]
) -> None:
    # The old sampling condition kept 1 - ratio of the rows: ratio 1 returned nothing.
    whole = researcher.wait(
        researcher.request(item["id"], {"columns": ["id"], "randomize_ratio": 1})["id"]
    )
    assert len(download_rows(server, whole["uri"])) == ROWS
    tenth = researcher.wait(
        researcher.request(item["id"], {"columns": ["id"], "randomize_ratio": 0.1})["id"]
    )
    kept = download_rows(server, tenth["uri"])
    assert 0.07 * ROWS < len(kept) < 0.13 * ROWS
    assert {row["id"] for row in kept} <= {str(i) for i in range(ROWS)}


def test_hostile_names_and_values_are_refused_or_harmless(
    server: LiveServer, researcher: Caller, item: dict[str, Any]
) -> None:
    hostile_column = {"columns": ['id" FROM x; DROP TABLE files; --'], "randomize_ratio": 1}
    refused = researcher.call(
        "POST", "/downloader/requests/", {"catalogue_item_id": item["id"], "spec": hostile_column}
    )
    assert event(refused, 400, "BODY_DID_NOT_VALIDATE")["errors"]["spec.columns"]
    # A value is only ever a value: this one matches no product, and breaks nothing.
    injection = "' OR 1=1; DROP TABLE download_requests; --"
    spec = {
        "columns": ["id", "product"],
        "filters": [{"name": "product", "operator": "=", "value": injection}],
    }
    done = researcher.wait(researcher.request(item["id"], spec)["id"])
    assert done["status"] == "done"
    assert download_rows(server, done["uri"]) == []
    # Everything still works afterwards.
    event(researcher.call("GET", "/downloader/requests/"), 200, "DOWNLOADREQUESTS_BULK_READ")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("price", ""),
        ("price", False),
        ("price", "0"),
        ("available", 0),
        ("available", ""),
        ("product", 0),
        ("weight", False),
    ],
)
def test_falsy_filter_values_are_type_checked_like_any_other(
    researcher: Caller, item: dict[str, Any], column: str, value: Any
) -> None:
    spec = {"columns": ["id"], "filters": [{"name": column, "operator": "=", "value": value}]}
    refused = researcher.call(
        "POST", "/downloader/requests/", {"catalogue_item_id": item["id"], "spec": spec}
    )
    assert list(event(refused, 400, "BODY_DID_NOT_VALIDATE")["errors"]) == ["spec.filters.0.value"]


def test_falsy_values_of_the_right_type_are_filters_too(
    server: LiveServer, researcher: Caller, item: dict[str, Any]
) -> None:
    for column, value, keep in [
        ("price", 0, lambda r: r["price"] == 0),
        ("available", False, lambda r: r["available"] is False),
        ("product", "", lambda r: r["product"] == ""),
    ]:
        spec = {"columns": ["id"], "filters": [{"name": column, "operator": "=", "value": value}]}
        done = researcher.wait(researcher.request(item["id"], spec)["id"])
        ids = sorted(int(row["id"]) for row in download_rows(server, done["uri"]))
        assert ids == [row["id"] for row in generated_rows() if keep(row)], column


def test_the_result_is_no_public_link_and_no_other_face_serves_it(
    server: LiveServer, researcher: Caller, item: dict[str, Any]
) -> None:
    done = researcher.wait(researcher.request(item["id"], {"columns": ["weight"]})["id"])
    uri = done["uri"]
    unsigned = uri.split("?", 1)[0]
    with httpx.Client(timeout=30) as client:
        assert client.get(unsigned).status_code in (400, 403, 404)
    # Minted on each read, and short-lived: five minutes at most.
    query = parse_qs(urlsplit(uri).query)
    if "expires" in query:  # our own store's link: an absolute expiry
        assert int(query["expires"][0]) <= time.time() + 300
    else:  # S3's
        assert int(query["X-Amz-Expires"][0]) <= 300
    # The result File is owned by the downloader realm: the hasura face's callers, whatever
    # their id, cannot read it.
    with server.client() as client:
        for user in (str(researcher.id), "downloader", str(done["id"])):
            answer = client.get(f"/v1/file/extract-{done['id']}", headers=server.auth(user))
            assert answer.status_code == 404, answer.text


def test_creating_a_request_answers_before_its_job_runs(
    server: LiveServer, researcher: Caller, item: dict[str, Any]
) -> None:
    # The old system ran the query on the request's thread. Here the answer comes at once
    # with the request pending (or already picked up), and the job does the work.
    spec = {
        "columns": ["seen_at", "id"],
        "filters": [{"name": "seen_at", "operator": ">", "value": "2024-01-02T00:00:00Z"}],
    }
    created = researcher.request(item["id"], spec)
    assert created["real_size"] is None and created["uri"] is None
    done = researcher.wait(created["id"])
    rows = download_rows(server, done["uri"])
    assert len(rows) == sum(1 for r in generated_rows() if r["seen_at"] > datetime(2024, 1, 2))
