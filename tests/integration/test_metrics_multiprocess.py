"""`/metrics` of a real server at `--workers 2` (with the session's real clamd): one scrape
adds up every worker process, the gauges read from the database fall back to 0, and the
domain metrics (bytes, uploads by outcome, scan time, job latency, queue depth) move.

Scrapes are repeated: each lands on whichever process takes its connection, and every one
must tell the same story.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.clamd import ClamdServer
from tests.fixtures.server import LiveServer, server_env

TOKEN = "scraper-token-0123456789"
HASURA_ROUTE = "/v1/file/{file_id:path}"
SCRAPES = 6


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, clamd_server: ClamdServer
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("metrics")
    env = server_env(data_dir, metrics_token=TOKEN, clamd_url=clamd_server.unix_url)
    server = LiveServer(data_dir=data_dir, env=env, workers=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: LiveServer) -> Samples:
    # A new connection each time, so scrapes are spread over the processes too.
    response = httpx.get(
        f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value, 0 when absent (a counter nobody has moved yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_one_scrape_counts_the_requests_every_worker_answered(live: LiveServer) -> None:
    sent = 60
    for _ in range(sent):
        # HEAD: no other test, and no health poll, sends it, so the count is exactly ours.
        assert httpx.head(f"{live.base_url}/healthz", timeout=30).status_code == 200
    counts = {
        value(
            scrape(live),
            "filedock_http_requests_total",
            method="HEAD",
            route="/healthz",
            status="200",
        )
        for _ in range(SCRAPES)
    }
    assert counts == {sent}


def upload(live: LiveServer, data: bytes, content_type: str = "text/plain") -> str:
    file_id = str(uuid.uuid4())
    with live.client() as client:
        response = client.post(
            f"/v1/file/{file_id}",
            content=data,
            headers={**live.auth("42"), "Content-Type": content_type},
        )
    assert response.status_code == 200, response.text
    return file_id


def settled(live: LiveServer, file_id: str) -> httpx.Response:
    """The download once processing has decided (200 ready, 409 refused)."""
    deadline = time.monotonic() + 30
    with live.client() as client:
        while True:
            response = client.get(f"/v1/file/{file_id}", headers=live.auth("42"))
            if response.status_code != 409 or "processing" not in response.text:
                return response
            assert time.monotonic() < deadline, "processing never decided"
            time.sleep(0.1)


def test_a_file_upload_and_download_move_the_domain_metrics(
    live: LiveServer, clamd_server: ClamdServer
) -> None:
    data = b"a line of plain text\n" * 20_000  # 420 kB
    before = scrape(live)
    file_id = upload(live, data)
    download = settled(live, file_id)
    assert download.status_code == 200 and download.content == data
    after = scrape(live)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("filedock_uploads_processed_total", outcome="ready") == 1
    assert grew("filedock_http_received_bytes_total", method="POST", route=HASURA_ROUTE) >= len(
        data
    )
    # The download goes out without passing through Python (pathsend): counted all the same.
    assert grew("filedock_http_sent_bytes_total", method="GET", route=HASURA_ROUTE) >= len(data)
    assert grew("filedock_scan_seconds_count", verdict="clean") == 1
    assert grew("filedock_job_wait_seconds_count", kind="process_file") == 1
    assert grew("filedock_job_run_seconds_count", kind="process_file", outcome="done") == 1
    assert ("filedock_job_queue_depth", frozenset({("kind", "process_file")})) in after
    # Transfers of several GiB take minutes: the buckets reach an hour.
    hour = {"method": "GET", "route": HASURA_ROUTE, "le": "3600.0"}
    assert value(after, "filedock_http_request_seconds_bucket", **hour) >= 1


def test_an_infected_upload_is_counted_and_its_gauge_falls_back_to_zero(
    live: LiveServer, clamd_server: ClamdServer
) -> None:
    before = scrape(live)
    file_id = upload(live, clamd_server.eicar)
    assert settled(live, file_id).status_code != 200
    infected = scrape(live)
    grown = value(infected, "filedock_uploads_processed_total", outcome="infected") - value(
        before, "filedock_uploads_processed_total", outcome="infected"
    )
    assert grown == 1
    assert value(infected, "filedock_files", status="infected") == 1
    assert value(infected, "filedock_scan_seconds_count", verdict="infected") >= 1
    with live.client() as client:
        assert client.delete(f"/v1/file/{file_id}", headers=live.auth("42")).status_code == 200
    for _ in range(SCRAPES):
        samples = scrape(live)
        # Present and 0, not absent (a dashboard's "no data") nor the last non-zero value.
        assert ("filedock_files", frozenset({("status", "infected")})) in samples
        assert value(samples, "filedock_files", status="infected") == 0
        for status in ("queued", "running", "failed"):
            assert ("filedock_jobs", frozenset({("status", status)})) in samples
