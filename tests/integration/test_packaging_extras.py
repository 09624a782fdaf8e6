"""Installs without some extras: the base serves files on the embedded default, and a setting
or a request that needs a missing extra says which one to install.

The missing packages are hidden from the server's processes (tests/integration/
hidden_modules.py explains how), so the real `filedock` runs as after `pip install filedock`
alone, or with only the catalogue extra.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from tests.fixtures.server import LiveServer, free_port, server_env
from tests.integration.hidden_modules import (
    ENGINES,
    EVERY_EXTRA,
    HIDDEN_VARIABLE,
    POSTGRES,
    S3,
    env_without,
    run_filedock,
)

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(50_000)
PRODUCTS = ["apple", "bread", "cake"]
ROWS = [{"id": i, "product": PRODUCTS[i % 3], "price": i % 100} for i in range(300)]


@pytest.mark.parametrize("hidden", [("obstore",), ("botocore",)])
def test_an_s3_store_without_the_s3_extra_stops_start_up_naming_it(
    tmp_path: Path, hidden: tuple[str, ...]
) -> None:
    env = env_without(
        tmp_path / "site",
        *hidden,
        FILEDOCK_DATA_DIR=str(tmp_path / "data"),
        FILEDOCK_STORAGE_URL="s3://files-bucket/objects",
    )
    result = run_filedock(env, "serve", "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "filedock: FILEDOCK_STORAGE_URL: an s3:// store needs the s3 extra: "
        "pip install 'filedock[s3]'"
    ]


@pytest.mark.parametrize(
    "command", [("serve", "--port", "0"), ("migrate",), ("apikey", "create", "--name", "ops")]
)
def test_a_postgresql_database_without_the_postgres_extra_stops_start_up_naming_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    if command[0] == "serve":
        command = ("serve", "--port", str(free_port()))
    env = env_without(
        tmp_path / "site",
        *POSTGRES,
        FILEDOCK_DATA_DIR=str(tmp_path / "data"),
        # Never reached: the driver is missing before any connection is tried.
        FILEDOCK_DATABASE_URL="postgresql://filedock@127.0.0.1:5432/filedock",
    )
    result = run_filedock(env, *command)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "filedock: FILEDOCK_DATABASE_URL: a postgresql:// database needs the postgres extra: "
        "pip install 'filedock[postgres]'"
    ]


@pytest.mark.parametrize(
    ("extra", "settings", "hidden"),
    [
        ("spark", {"FILEDOCK_SPARK_REMOTE": "sc://127.0.0.1:15002"}, ("pyspark",)),
        (
            "athena",
            {
                "FILEDOCK_ATHENA_OUTPUT_LOCATION": "s3://results-bucket/athena/",
                "FILEDOCK_ATHENA_REGION": "eu-west-1",
            },
            ("pyathena",),
        ),
    ],
)
def test_an_extract_engine_without_its_extra_stops_the_server_naming_it(
    tmp_path: Path, extra: str, settings: dict[str, str], hidden: tuple[str, ...]
) -> None:
    # The engines are built by each server process as it starts (runtime.py), after `serve`
    # has checked the settings it checks itself: the server stops, its log saying why.
    env = env_without(tmp_path / "site", *hidden, FILEDOCK_DATA_DIR=str(tmp_path), **settings)
    result = run_filedock(env, "serve", "--port", str(free_port()))
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert f"the {extra.upper()} executor needs the {extra} extra: " in log
    assert f"pip install 'filedock[{extra}]'" in log


def test_the_base_install_serves_files_and_its_catalogue_names_the_missing_extra(
    tmp_path: Path,
) -> None:
    with live_server(tmp_path, hidden=EVERY_EXTRA) as server:
        assert_serves_files(server)
        admin, researcher = Caller(server, "ADMIN"), Caller(server, "RESEARCHER")
        item = admin.create_item(str(server.data_dir / "datasets" / "shop.csv"))
        hint = "pip install 'filedock[catalogue]'"

        profiled = admin.call("POST", f"/catalogue/items/{item}/profile/")
        assert profiled.status_code == 400, profiled.text
        assert hint in profiled.text

        spec = {"columns": ["id", "price"], "filters": [], "randomize_ratio": 1}
        body = {"catalogue_item_id": item, "spec": spec}
        estimated = researcher.call("POST", "/downloader/requests/estimate/", body)
        assert estimated.status_code == 400, estimated.text
        assert hint in estimated.text

        created = researcher.call("POST", "/downloader/requests/", body)
        assert created.status_code == 201, created.text
        done = researcher.wait(created.json()["id"])
        assert done["status"] == "failed" and hint in done["failure"], done


def test_the_catalogue_extra_runs_duckdb_extracts_without_pyarrow(tmp_path: Path) -> None:
    # The catalogue extra is DuckDB and sqlglot; PyArrow (170 MB) comes only with the Spark
    # and Athena extras, whose executors stream rows through it.
    with live_server(tmp_path, hidden=(*S3, *POSTGRES, *ENGINES)) as server:
        admin, researcher = Caller(server, "ADMIN"), Caller(server, "RESEARCHER")
        item = admin.create_item(str(server.data_dir / "datasets" / "shop.csv"))
        profiled = admin.call("POST", f"/catalogue/items/{item}/profile/")
        assert profiled.status_code == 200, profiled.text
        for form in ("csv", "parquet"):
            spec = {
                "columns": ["id", "product"],
                "filters": [{"name": "price", "operator": ">=", "value": 90}],
                "randomize_ratio": 1,
                "format": form,
            }
            created = researcher.call(
                "POST", "/downloader/requests/", {"catalogue_item_id": item, "spec": spec}
            )
            assert created.status_code == 201, created.text
            done = researcher.wait(created.json()["id"])
            assert done["status"] == "done", done
            data = httpx.get(done["uri"], timeout=30).content
            want = [(r["id"], r["product"]) for r in ROWS if r["price"] >= 90]
            assert sorted(extract_rows(data, form)) == want


# Helpers --------------------------------------------------------------------------------


@contextlib.contextmanager
def live_server(tmp_path: Path, *, hidden: tuple[str, ...]) -> Iterator[LiveServer]:
    """A real server whose processes cannot import `hidden`, with a CSV dataset to read."""
    data_dir = tmp_path / "data"
    datasets = data_dir / "datasets"
    datasets.mkdir(parents=True)
    with (datasets / "shop.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["id", "product", "price"])
        writer.writeheader()
        writer.writerows(ROWS)
    env = server_env(data_dir, catalogue_data_roots=str(datasets))
    hiding = env_without(tmp_path / "site", *hidden)
    env.update(PYTHONPATH=hiding["PYTHONPATH"], **{HIDDEN_VARIABLE: hiding[HIDDEN_VARIABLE]})
    server = LiveServer(data_dir=data_dir, env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def assert_serves_files(server: LiveServer) -> None:
    file_id = str(uuid.uuid4())
    with server.client() as client:
        stored = client.post(
            f"/v1/file/{file_id}",
            content=PNG,
            headers={**server.auth("42"), "Content-Type": "image/png"},
        )
        assert stored.status_code == 200, stored.text
        read = client.get(f"/v1/file/{file_id}", headers=server.auth("42"))
        assert read.status_code == 200, read.text
        assert read.content == PNG


class Caller:
    def __init__(self, server: LiveServer, kind: str) -> None:
        email = f"{kind.lower()}-{uuid.uuid4().hex[:8]}@example.org"
        server.cli("account", "create", "--email", email, "--type", kind)
        token = server.cli("account", "token", "--email", email)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.server = server

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        with self.server.client() as client:
            return client.request(method, path, json=body, headers=self.headers)

    def create_item(self, location: str) -> int:
        spec = [
            {"name": name, "type": kind, "is_nullable": False, "size": None, "distribution": None}
            for name, kind in (("id", "INTEGER"), ("product", "STRING"), ("price", "INTEGER"))
        ]
        body = {
            "name": f"shop {uuid.uuid4().hex[:8]}",
            "executor_type": "DUCKDB",
            "spec": spec,
            "sample": [],
            "location": location,
        }
        created = self.call("POST", "/catalogue/items/", body)
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    def wait(self, request_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            read = self.call("GET", f"/downloader/requests/{request_id}").json()
            if read["status"] in ("done", "failed"):
                return dict(read)
            time.sleep(0.1)
        raise AssertionError(f"request {request_id} never ended: {read}")


def extract_rows(data: bytes, form: str) -> list[tuple[int, str]]:
    if form == "csv":
        return [(int(r["id"]), r["product"]) for r in csv.DictReader(io.StringIO(data.decode()))]
    table = pq.read_table(io.BytesIO(data))
    return list(zip(table["id"].to_pylist(), table["product"].to_pylist(), strict=True))
