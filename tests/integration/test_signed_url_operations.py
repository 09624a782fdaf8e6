"""Running the signed-url path: rate limits, a store that goes away, bucket notifications and
reconciliation, each through a real server started for the purpose."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.server import LiveServer, server_env
from tests.integration.signed_url_support import CSV, Backend, local_objects

NOTIFY_TOKEN = "bucket-notification-token-for-tests"


def started(data_dir: Path, **settings: str) -> LiveServer:
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir, **settings))
    live.start()
    return live


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LiveServer]:
    live = started(tmp_path, rate_limit_per_second="0.5", rate_limit_burst="3")
    yield live
    live.stop()


def test_rate_limit_is_per_key_and_user_with_the_seed_body(limited: LiveServer) -> None:
    alice = Backend(limited, limited.create_api_key("limited"))
    answers = [alice.get("/v1/files/signed-url", filename="a.csv") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[-1].json() == {"message": "Rate limit exceeded!"}
    assert int(answers[-1].headers["retry-after"]) >= 1
    bob = alice.as_user(str(uuid.uuid4()))
    assert bob.get("/v1/files/signed-url", filename="a.csv").status_code == 200


def test_a_store_that_stops_answering_is_a_503_not_reachable(
    tmp_path: Path, s3_endpoint: S3Endpoint
) -> None:
    own = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    own.start()
    host, port = own.get_host_and_port()
    endpoint = S3Endpoint(
        f"http://{host}:{port}", s3_endpoint.region, "key-id", "secret-for-this-moto"
    )
    endpoint.create_bucket("going-away")
    live = started(
        tmp_path,
        storage_url="s3://going-away/objects",
        s3_endpoint_url=endpoint.url,
        s3_region=endpoint.region,
    )
    try:
        backend = Backend(live, live.create_api_key("outage"))
        ticket = backend.upload_url("notes.csv")
        own.stop()
        response = backend.get(f"/v1/files/{ticket['file_id']}/status")
        assert response.status_code == 503, response.text
        assert response.json()["error_code"] == "attachment_document_not_reachable"
        assert "Traceback" not in response.text
    finally:
        live.stop()


@pytest.fixture
def notified(tmp_path: Path, s3_endpoint: S3Endpoint) -> Iterator[tuple[LiveServer, str]]:
    bucket = f"notify-{uuid.uuid4().hex[:12]}"
    s3_endpoint.create_bucket(bucket)
    live = started(
        tmp_path,
        storage_url=f"s3://{bucket}/objects",
        s3_endpoint_url=s3_endpoint.url,
        s3_region=s3_endpoint.region,
        bucket_notification_token=NOTIFY_TOKEN,
        sweep_seconds="3600",  # only the notification can notice the upload
    )
    yield live, bucket
    live.stop()


def s3_event(name: str, bucket: str, key: str) -> dict[str, object]:
    """An S3 event message as MinIO's webhook sends it (key URL-encoded)."""
    encoded = key.replace("/", "%2F")
    return {
        "EventName": f"s3:{name}",
        "Key": f"{bucket}/{key}",
        "Records": [
            {
                "eventName": f"s3:{name}",
                "s3": {"bucket": {"name": bucket}, "object": {"key": encoded}},
            }
        ],
    }


def test_a_bucket_notification_starts_processing_without_polling(
    notified: tuple[LiveServer, str],
) -> None:
    live, bucket = notified
    backend = Backend(live, live.create_api_key("notify"))
    ticket = backend.upload_url("notes.csv")
    assert backend.put(ticket, CSV).status_code == 200
    object_name = urlsplit(ticket["file_url"]).path.removeprefix(f"/{bucket}/")
    assert object_name.startswith("objects/uploads/")
    hook = "/_hooks/bucket-events"
    auth = {"Authorization": f"Bearer {NOTIFY_TOKEN}"}
    with live.client() as client:
        event = s3_event("ObjectCreated:Put", bucket, object_name)
        assert client.post(hook, json=event).status_code == 401
        wrong = {"Authorization": "Bearer " + "x" * len(NOTIFY_TOKEN)}
        assert client.post(hook, json=event, headers=wrong).status_code == 401
        assert client.post(hook, json={"no": "records"}, headers=auth).status_code == 400
        other = s3_event("ObjectCreated:Put", "someone-elses", object_name)
        assert client.post(hook, json=other, headers=auth).json() == {"received": 1, "noticed": 0}
        answer = client.post(hook, json=event, headers=auth)
        assert answer.status_code == 200 and answer.json() == {"received": 1, "noticed": 1}
    # noticed: 1 means the notification moved the upload on; polling only watches now.
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"


def test_bucket_notifications_are_off_unless_configured(tmp_path: Path) -> None:
    live = started(tmp_path)
    try:
        with live.client() as client:
            response = client.post("/_hooks/bucket-events", json={"Records": []})
        assert response.status_code == 404
    finally:
        live.stop()


def test_reconciliation_removes_old_orphans_and_reports_in_metrics(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    (objects / "files").mkdir(parents=True)
    orphan, young = objects / "files" / "crashed-before-commit", objects / "files" / "in-flight"
    orphan.write_bytes(b"left by a crash")
    young.write_bytes(b"being written")
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    live = started(tmp_path, reconcile_seconds="0.5", metrics_public="true")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and orphan.exists():
            time.sleep(0.1)
        assert not orphan.exists() and young.exists()
        assert "files/in-flight" in local_objects(live)
        with live.client() as client:
            metrics = client.get("/metrics").text
        assert "filedock_reconcile_orphans_removed" in metrics
        stamp = next(
            line
            for line in metrics.splitlines()
            if line.startswith("filedock_reconcile_last_run_timestamp_seconds ")
        )
        assert float(stamp.split()[1]) > time.time() - 60
    finally:
        live.stop()


def test_upload_ticket_urls_never_carry_the_filename(tmp_path: Path) -> None:
    live = started(tmp_path)
    try:
        backend = Backend(live, live.create_api_key("names"))
        ticket = backend.upload_url("secret-plans.csv")
        assert "secret" not in ticket["file_url"]
        response = httpx.get(ticket["file_url"])  # a PUT URL, not a GET one
        assert response.status_code == 403
    finally:
        live.stop()
