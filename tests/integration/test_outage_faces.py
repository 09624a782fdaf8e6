"""PostgreSQL stops answering while a real server runs: every face says "try later" (503, or
the schedules seed's 410) in its own envelope, leaks nothing, and works again afterwards.

The server reaches PostgreSQL through a proxy the test can cut (tests/fixtures/pg_proxy.py):
open connections drop and new ones are closed at once, as a dead database host looks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.pg_proxy import PgProxy
from tests.fixtures.server import LiveServer, server_env
from tests.integration.signed_url_support import CSV, Backend

POOL = CognitoPool.create()
SCHEDULES_UNAVAILABLE = "Our file upload service is currently unavailable, please try again later"


@pytest.fixture
def live(tmp_path: Path, postgres_url: str, pg_proxy: PgProxy) -> Iterator[LiveServer]:
    settings = {**POOL.settings_in(tmp_path), "database_url": pg_proxy.url_for(postgres_url)}
    server = LiveServer(data_dir=tmp_path, env=server_env(tmp_path, **settings))
    server.start()
    yield server
    server.stop()


def test_a_database_outage_is_a_retryable_error_on_every_face(
    live: LiveServer, pg_proxy: PgProxy
) -> None:
    user, file_id = str(uuid.uuid4()), str(uuid.uuid4())
    bearer = {**live.auth(user), "Content-Type": "text/csv"}
    with live.client() as client:
        assert client.post(f"/v1/file/{file_id}", content=CSV, headers=bearer).status_code == 200
    backend = Backend(live, live.create_api_key("outage"), user)
    ticket = backend.upload_url("report.csv")
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
    live.cli("account", "create", "--email", admin_email, "--type", "ADMIN")
    cosphere = {"Authorization": f"Bearer {live.cli('account', 'token', '--email', admin_email)}"}
    cognito = POOL.headers(user)
    time.sleep(5.5)  # the API key cache (5 s) must not answer for the database

    pg_proxy.cut()
    with live.client() as client:
        hasura = client.get(f"/v1/file/{file_id}", headers=bearer)
        hasura_upload = client.post(f"/v1/file/{uuid.uuid4()}", content=CSV, headers=bearer)
        signed_url = client.get(f"/v1/files/{ticket['file_id']}/status", headers=backend.headers)
        new_url = client.get(
            "/v1/files/signed-url", params={"filename": "a.csv"}, headers=backend.headers
        )
        command = client.post(
            "/api/v2/s3/create_signed_url",
            json={"uuid": str(uuid.uuid4()), "command": "CreateSignedS3FormData", "data": None},
            headers=live.auth(user),
        )
        schedules = client.get(
            "/api/v1/presigned-urls/",
            params={"method_name": "get_s3_object", "document": str(uuid.uuid4())},
            headers=cognito,
        )
        me = client.get("/accounts/me/", headers=cosphere)
        catalogue = client.get("/catalogue/items/", params={"query": "x"}, headers=cosphere)
        ready = client.get("/readyz")
        alive = client.get("/healthz")

    for response in (hasura, hasura_upload):
        assert response.status_code == 503, response.text
        assert set(response.json()) == {"error"}
    for response in (signed_url, new_url):
        assert response.status_code == 503, response.text
        assert response.json()["error_code"] == "attachment_document_not_reachable"
    assert command.status_code == 503, command.text
    assert command.json()["status"] == "rejected"
    assert schedules.status_code == 410, schedules.text
    assert schedules.json()["errors"][0]["detail"] == SCHEDULES_UNAVAILABLE
    for response in (me, catalogue):
        assert response.status_code == 503, response.text
        assert response.json()["@event"] == "SERVICE_UNAVAILABLE"
    assert ready.status_code == 503 and alive.status_code == 200
    for response in (hasura, hasura_upload, signed_url, new_url, command, schedules, me):
        assert "Traceback" not in response.text and "asyncpg" not in response.text

    pg_proxy.restore()
    with live.client() as client:
        again = _eventually(lambda: client.get(f"/v1/file/{file_id}", headers=bearer))
    assert again.status_code == 200 and again.content == CSV
    assert backend.get(f"/v1/files/{ticket['file_id']}/status").status_code == 200


def _eventually(call: Callable[[], httpx.Response]) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        response = call()
        if response.status_code not in (409, 503) or time.monotonic() > deadline:
            return response
        time.sleep(0.2)
