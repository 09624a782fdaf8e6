"""Downloads when the store fails: the face's own error before the first byte, a logged failure
after it, and never a server's plain-text 500 logged as a 200.

Real servers on real stores: S3 (moto) that the test stops, hangs behind a proxy
(tests/fixtures/stall_proxy.py) or whose object it deletes behind filedock's back, and the
local folder whose file it removes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.server import LiveServer, server_env
from tests.fixtures.stall_proxy import StallProxy
from tests.integration.signed_url_support import CSV, Backend, s3_error

# Four of the store's 1 MiB chunks, so that a download has a first chunk and a rest.
BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * (4 * 4096)
BUCKET = "faults"


@contextmanager
def own_moto() -> Iterator[tuple[ThreadedMotoServer, S3Endpoint]]:
    """A moto server of this test's own, which it may stop."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = S3Endpoint(f"http://{host}:{port}", "us-east-1", "key-id", "a-secret")
    endpoint.create_bucket(BUCKET)
    try:
        yield moto, endpoint
    finally:
        moto.stop()


@contextmanager
def live_server(
    tmp_path: Path, endpoint_url: str | None = None, **extra: str
) -> Iterator[LiveServer]:
    """A server on SQLite and, with `endpoint_url`, on S3 there; else on the local folder."""
    settings = dict(extra)
    if endpoint_url is not None:
        settings.update(
            storage_url=f"s3://{BUCKET}/objects",
            s3_endpoint_url=endpoint_url,
            s3_region="us-east-1",
        )
    env = server_env(tmp_path, **settings)
    # moto takes any credentials; without some, the store would ask the instance metadata.
    env.update(AWS_ACCESS_KEY_ID="key-id", AWS_SECRET_ACCESS_KEY="a-secret")
    live = LiveServer(data_dir=tmp_path, env=env)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def ready_file(live: LiveServer, client: httpx.Client, data: bytes = BODY) -> str:
    file_id = str(uuid.uuid4())
    headers = {**live.auth("7"), "Content-Type": "image/png"}
    assert client.post(f"/v1/file/{file_id}", content=data, headers=headers).status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = client.get(f"/v1/file/{file_id}", headers=live.auth("7"))
        if response.status_code == 200:
            assert response.content == data
            return file_id
        time.sleep(0.05)
    raise AssertionError(f"{file_id} never became ready")


def access_line(live: LiveServer, request_id: str) -> dict[str, Any]:
    """The server's access log line for one request (it is written as the request ends)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in live.log_text().splitlines():
            if line.startswith("{") and f'"{request_id}"' in line:
                fields: dict[str, Any] = json.loads(line)
                if fields.get("event") == "request":
                    return fields
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id}")


def assert_hasura_error(live: LiveServer, response: httpx.Response, status: int) -> None:
    """The hasura face's JSON error, logged with the status the client got."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert access_line(live, response.headers["x-request-id"])["status"] == status


def get(live: LiveServer, client: httpx.Client, path: str, **headers: str) -> httpx.Response:
    return client.get(path, headers={**live.auth("7"), **headers})


def test_a_hasura_download_from_a_stopped_s3_store_is_a_503_in_the_faces_envelope(
    tmp_path: Path,
) -> None:
    with (
        own_moto() as (moto, endpoint),
        live_server(tmp_path, endpoint.url) as live,
        live.client() as client,
    ):
        file_id = ready_file(live, client)
        moto.stop()
        whole = get(live, client, f"/v1/file/{file_id}")
        ranged = get(live, client, f"/v1/file/{file_id}", Range="bytes=10-99")
    assert_hasura_error(live, whole, 503)
    assert_hasura_error(live, ranged, 503)


def test_a_hasura_download_whose_s3_object_vanished_is_a_404_in_the_faces_envelope(
    tmp_path: Path,
) -> None:
    with own_moto() as (_, endpoint), live_server(tmp_path, endpoint.url) as live:
        with live.client() as client:
            file_id = ready_file(live, client)
            s3 = endpoint.client()
            for stored in s3.list_objects_v2(Bucket=BUCKET)["Contents"]:
                s3.delete_object(Bucket=BUCKET, Key=stored["Key"])
            whole = get(live, client, f"/v1/file/{file_id}")
            ranged = get(live, client, f"/v1/file/{file_id}", Range="bytes=10-99")
            headed = client.head(f"/v1/file/{file_id}", headers=live.auth("7"))
        logged = live.log_text()
    assert_hasura_error(live, whole, 404)
    assert_hasura_error(live, ranged, 404)
    assert headed.status_code == 404
    # Records and objects drifted apart: operators must hear of it, not only the client.
    assert "a ready file's object is missing" in logged


def test_a_hasura_download_whose_local_object_vanished_is_a_404_in_the_faces_envelope(
    tmp_path: Path,
) -> None:
    with live_server(tmp_path) as live, live.client() as client:
        file_id = ready_file(live, client)
        for stored in (tmp_path / "objects" / "files").iterdir():
            stored.unlink()
        whole = get(live, client, f"/v1/file/{file_id}")
        ranged = get(live, client, f"/v1/file/{file_id}", Range="bytes=10-99")
        headed = client.head(f"/v1/file/{file_id}", headers=live.auth("7"))
    assert_hasura_error(live, whole, 404)
    assert_hasura_error(live, ranged, 404)
    assert headed.status_code == 404


def test_a_signed_blobs_download_whose_local_object_vanished_is_s3s_no_such_key(
    tmp_path: Path,
) -> None:
    with live_server(tmp_path) as live:
        backend = Backend(live, live.create_api_key("faults"))
        ticket = backend.upload_url("report.csv")
        assert backend.put(ticket, CSV).status_code == 200
        assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
        signed = backend.get(f"/v1/files/{ticket['file_id']}/download-url")
        assert signed.status_code == 200, signed.text
        url = signed.json()["url"]
        assert httpx.get(url).content == CSV
        for stored in (tmp_path / "objects" / "files").rglob("*"):
            if stored.is_file():
                stored.unlink()
        whole = httpx.get(url)
        ranged = httpx.get(url, headers={"Range": "bytes=0-9"})
    for response in (whole, ranged):
        s3_error(response, 404, "NoSuchKey")
        assert access_line(live, response.headers["x-request-id"])["status"] == 404


def test_a_hung_s3_store_answers_a_hasura_download_with_503_within_the_store_timeout(
    tmp_path: Path, s3_endpoint: S3Endpoint
) -> None:
    s3_endpoint.create_bucket(BUCKET)
    host, port = s3_endpoint.url.removeprefix("http://").split(":")
    with (
        StallProxy((host, int(port))) as proxy,
        live_server(tmp_path, proxy.url, store_timeout_seconds="1") as live,
        live.client() as client,
    ):
        file_id = ready_file(live, client)
        proxy.stall()
        started = time.monotonic()
        response = get(live, client, f"/v1/file/{file_id}")
        waited = time.monotonic() - started
    assert_hasura_error(live, response, 503)
    assert waited < 2.5, f"the download waited {waited:.1f} s on a hung store"


def test_a_store_that_hangs_after_the_first_bytes_is_logged_and_counted_as_a_failure(
    tmp_path: Path, s3_endpoint: S3Endpoint
) -> None:
    s3_endpoint.create_bucket(BUCKET)
    host, port = s3_endpoint.url.removeprefix("http://").split(":")
    with (
        StallProxy((host, int(port))) as proxy,
        live_server(tmp_path, proxy.url, store_timeout_seconds="1", metrics_public="true") as live,
        live.client() as client,
    ):
        file_id = ready_file(live, client)
        # The headers and the first chunk reach the client; then the store says no more.
        proxy.stall_after(len(BODY) // 2)
        with client.stream("GET", f"/v1/file/{file_id}", headers=live.auth("7")) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            with pytest.raises(httpx.HTTPError):  # cut short: fewer bytes than Content-Length
                response.read()
        line = access_line(live, request_id)
        proxy.resume()
        metrics = client.get("/metrics").text
        logged = live.log_text()
    assert line["status"] == 500
    errors = [json.loads(x) for x in logged.splitlines() if x.startswith("{") and request_id in x]
    assert any(e["level"] == "error" and e["event"] != "request" for e in errors), errors
    assert 'route="/v1/file/{file_id:path}",status="500"' in metrics
