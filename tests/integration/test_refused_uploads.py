"""A large upload refused before its body is read still gets its status, not a broken pipe.

The clients here use `http.client`, which sends the whole body before it reads a byte of the
answer, as simple HTTP clients do. (curl and httpx read an early answer while still
sending, so they never showed the defect.) Before the body guard drained the unread body,
the server answered and closed the connection under such a client, which saw a broken pipe
or a reset instead of the 503 or 401.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.pg_proxy import PgProxy
from tests.fixtures.server import LiveServer, server_env

BODY = b"id,name\n" + b"1,ada\n" * (20 * 1024 * 1024 // 6)  # 20 MB of CSV


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(data_dir=tmp_path, env=server_env(tmp_path))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_on_postgres(tmp_path: Path, postgres_url: str, pg_proxy: PgProxy) -> Iterator[LiveServer]:
    env = server_env(tmp_path, database_url=pg_proxy.url_for(postgres_url))
    server = LiveServer(data_dir=tmp_path, env=env)
    server.start()
    yield server
    server.stop()


def test_a_large_upload_during_a_database_outage_gets_the_503(
    live_on_postgres: LiveServer, pg_proxy: PgProxy
) -> None:
    pg_proxy.cut()
    connection = http.client.HTTPConnection("127.0.0.1", live_on_postgres.port, timeout=30)
    try:
        headers = {**live_on_postgres.auth("42"), "Content-Type": "text/csv"}
        connection.request("POST", f"/v1/file/{uuid.uuid4()}", body=BODY, headers=headers)
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()

    assert status == 503
    assert set(body) == {"error"} and "try again" in body["error"]


def test_a_large_upload_refused_for_its_token_gets_the_401_on_a_connection_still_usable(
    live: LiveServer,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        headers = {"Authorization": "Bearer not-a-token", "Content-Type": "text/csv"}
        connection.request("POST", f"/v1/file/{uuid.uuid4()}", body=BODY, headers=headers)
        refused = connection.getresponse()
        refused_status, refused_body = refused.status, json.loads(refused.read())
        # The body was read to its end, so the connection can carry the next request.
        connection.request("GET", "/healthz")
        health = connection.getresponse()
        health_status = health.status
        health.read()
    finally:
        connection.close()

    assert refused_status == 401 and set(refused_body) == {"error"}
    assert health_status == 200
