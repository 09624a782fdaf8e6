"""The last waiter leaving stops a running extract: the engine's work is interrupted, the
request is cancelled, and nothing of its result is kept. Through a real server, on DuckDB, over
a generated data set big enough that its export runs for seconds here."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)

BIG_ROWS = 8_000_000


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    datasets = data_dir / "datasets"
    datasets.mkdir(exist_ok=True)
    connection = duckdb.connect()
    try:
        connection.execute(
            "COPY (SELECT range AS id, range % 1000 AS price, 'product-' || (range % 997) AS name "
            f"FROM range({BIG_ROWS})) TO '{datasets / 'big.parquet'}' (FORMAT parquet)"
        )
    finally:
        connection.close()
    return {"catalogue_data_roots": str(datasets)}


def test_the_last_waiter_leaving_stops_the_running_extract_and_keeps_nothing(
    server: LiveServer,
) -> None:
    with server.client(headers=admin_headers(server)) as client:
        item = big_item(
            client, server, [("id", "INTEGER"), ("price", "INTEGER"), ("name", "STRING")]
        )
        spec = {"columns": ["id", "name", "price"], "randomize_ratio": 0.99}
        created = client.post(
            "/downloader/requests/", json={"catalogue_item_id": item["id"], "spec": spec}
        ).json()
        path = f"/downloader/requests/{created['id']}"
        running = wait_for(client, path, lambda r: r["executor_job_id"] is not None)
        assert running["status"] == "running", running
        left_at = time.monotonic()
        gone = client.delete(path)
        assert gone.status_code == 200, gone.text
        assert client.get(path).status_code == 404  # nobody waits for it any more

    stopped = wait_for_log(server, "extract stopped: request cancelled", created["id"])
    assert stopped - left_at < 5, "the export went on after its last waiter left"
    # The job ended without storing anything: no result File, no object, no scratch left.
    time.sleep(1)
    assert not any(
        entry.get("event") == "extract done" and entry.get("request") == created["id"]
        for entry in log_entries(server)
    )
    extracts = server.data_dir / "objects" / "extracts"
    assert not extracts.exists() or not any(extracts.iterdir())


def test_uploads_are_processed_while_a_long_extract_runs(server: LiveServer) -> None:
    """Extracts run on a lane of their own: an upload is not held behind one."""
    with server.client(headers=admin_headers(server)) as client:
        item = big_item(client, server, [("id", "INTEGER")])
        spec = {"columns": ["id"], "randomize_ratio": 0.98}
        created = client.post(
            "/downloader/requests/", json={"catalogue_item_id": item["id"], "spec": spec}
        ).json()
        path = f"/downloader/requests/{created['id']}"
        wait_for(client, path, lambda r: r["executor_job_id"] is not None)
        file_id = f"upload-{uuid.uuid4().hex[:8]}"
        with server.client() as uploads:
            auth = server.auth("ann")
            made = uploads.post(
                f"/v1/file/{file_id}",
                content=b"id,name\n1,ann\n",
                headers={**auth, "Content-Type": "text/csv"},
            )
            assert made.status_code == 200, made.text
            # A read right after an upload waits for processing (10 s at most), then 409.
            read = uploads.get(f"/v1/file/{file_id}", headers=auth)
            assert read.status_code == 200, read.text
        assert client.get(path).json()["status"] == "running"
        client.delete(path)


def admin_headers(server: LiveServer) -> dict[str, str]:
    email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    server.cli("account", "create", "--email", email, "--type", "ADMIN")
    return {"Authorization": f"Bearer {server.cli('account', 'token', '--email', email)}"}


def big_item(
    client: httpx.Client, server: LiveServer, columns: list[tuple[str, str]]
) -> dict[str, Any]:
    """A DuckDB catalogue item over the big generated data set, naming `columns` of it."""
    blank = {"is_nullable": False, "size": None, "distribution": None}
    created = client.post(
        "/catalogue/items/",
        json={
            "name": f"big {uuid.uuid4().hex[:6]}",
            "executor_type": "DUCKDB",
            "spec": [{**blank, "name": name, "type": kind} for name, kind in columns],
            "sample": [],
            "location": str(server.data_dir / "datasets" / "big.parquet"),
        },
    )
    assert created.status_code == 201, created.text
    item: dict[str, Any] = created.json()
    return item


def wait_for(client: httpx.Client, path: str, ready: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(path).json()
        if ready(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} never got there: {body}")


def wait_for_log(server: LiveServer, message: str, request_id: int) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in log_entries(server):
            if entry.get("event") == message and entry.get("request") == request_id:
                return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"the server never logged {message!r} for request {request_id}")


def log_entries(server: LiveServer) -> list[dict[str, Any]]:
    entries = []
    for line in server.log_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries
