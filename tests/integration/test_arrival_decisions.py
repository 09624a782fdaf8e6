"""Small uploads decided where they arrive (issue 14, "processing keeps up").

A body of at most `ARRIVAL_DECISION_BYTES` sent to `POST /v1/file/<id>` is in memory when its
record is made: in a server that runs the job worker, with no virus scanner to wait on,
processing's own rules decide it there and the record is inserted `ready`, with no job.
Everything else (a refusal, a scanner that must read the bytes, a larger body, a server that
leaves processing to `filedock worker`) goes to the processing job as before. Whether a job
ran is read from `/metrics` (`filedock_job_run_seconds_count`), and reads do not wait
(FILEDOCK_READ_WAIT_SECONDS=0), so a file not yet decided answers 409 at once.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

import httpx

from filedock.core.arriving_body import ARRIVAL_DECISION_BYTES
from tests.fixtures.clamd import ClamdServer
from tests.fixtures.server import LiveServer, server_env
from tests.integration.separate_workers_support import hasura_upload

METRICS_TOKEN = "arrival-scraper-token-0123"
SERVER_SETTINGS = {"read_wait_seconds": "0", "metrics_token": METRICS_TOKEN}
# An ELF header: an executable, whatever type its uploader declares.
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 400
CSV = b"name,size\nreport,12\n"
UPLOADER = "ann"  # hasura_upload's


def post(server: LiveServer, file_id: str, data: bytes, content_type: str) -> httpx.Response:
    answer = hasura_upload(server, file_id, data, content_type)
    assert answer.status_code == 200, answer.text
    return answer


def download(server: LiveServer, file_id: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/v1/file/{file_id}", headers=server.auth(UPLOADER))


def jobs_run(server: LiveServer) -> float:
    """Processing jobs this server has run to their end, whatever they decided."""
    samples = server.metric_samples("filedock_job_run_seconds_count", METRICS_TOKEN)
    return sum(value for labels, value in samples if 'kind="process_file"' in labels)


def outcomes(server: LiveServer, outcome: str) -> float:
    samples = server.metric_samples("filedock_uploads_processed_total", METRICS_TOKEN)
    return sum(value for labels, value in samples if f'outcome="{outcome}"' in labels)


def after_its_job(server: LiveServer, jobs_before: float, file_id: str) -> httpx.Response:
    """The file's download once one more processing job has run."""
    deadline = time.monotonic() + 20
    while jobs_run(server) < jobs_before + 1:
        assert time.monotonic() < deadline, "no processing job ran"
        time.sleep(0.05)
    return download(server, file_id)


def test_a_small_clean_upload_is_ready_when_answered_and_runs_no_job(server: LiveServer) -> None:
    data = os.urandom(1000)
    file_id = str(uuid.uuid4())
    jobs, ready = jobs_run(server), outcomes(server, "ready")
    answer = post(server, file_id, data, "application/octet-stream")
    # The seed's answer says `uploaded` whatever happened next.
    assert answer.json()["file_status"] == "uploaded"
    got = download(server, file_id)
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    # Counted with the jobs' outcomes, though no job ran (nor runs later).
    assert outcomes(server, "ready") == ready + 1
    time.sleep(0.5)
    assert jobs_run(server) == jobs
    removed = httpx.delete(f"{server.base_url}/v1/file/{file_id}", headers=server.auth(UPLOADER))
    assert removed.json()["file_status"] == "ready"


def test_a_body_at_the_arrival_limit_is_decided_and_one_byte_more_goes_to_its_job(
    server: LiveServer,
) -> None:
    at_limit, over = str(uuid.uuid4()), str(uuid.uuid4())
    jobs = jobs_run(server)
    post(server, at_limit, os.urandom(ARRIVAL_DECISION_BYTES), "application/octet-stream")
    assert download(server, at_limit).status_code == 200
    time.sleep(0.5)
    assert jobs_run(server) == jobs  # decided on arrival: no job ran
    post(server, over, os.urandom(ARRIVAL_DECISION_BYTES + 1), "application/octet-stream")
    assert after_its_job(server, jobs, over).status_code == 200


def test_a_small_disguised_executable_is_left_to_the_job_and_never_served(
    server: LiveServer,
) -> None:
    file_id = str(uuid.uuid4())
    jobs = jobs_run(server)
    post(server, file_id, ELF, "text/plain")
    refused = after_its_job(server, jobs, file_id)
    assert refused.status_code == 409, refused.text
    assert "rejected" in refused.json()["error"] and "executable" in refused.json()["error"]


def test_with_a_virus_scanner_a_small_upload_is_scanned_by_its_job_not_while_answered(
    tmp_path: Path, clamd: ClamdServer
) -> None:
    env = server_env(
        tmp_path, read_wait_seconds="0", metrics_token=METRICS_TOKEN, clamd_url=clamd.unix_url
    )
    live = LiveServer(data_dir=tmp_path, env=env)
    live.start()
    try:
        file_id = str(uuid.uuid4())
        jobs = jobs_run(live)
        post(live, file_id, CSV, "text/csv")
        assert after_its_job(live, jobs, file_id).status_code == 200
    finally:
        live.stop()


def test_a_server_that_leaves_processing_to_separate_workers_decides_nothing_on_arrival(
    tmp_path: Path,
) -> None:
    env = server_env(tmp_path, worker="false", read_wait_seconds="0")
    live = LiveServer(data_dir=tmp_path, env=env)
    live.start()
    try:
        file_id = str(uuid.uuid4())
        post(live, file_id, CSV, "text/csv")
        time.sleep(0.3)
        assert download(live, file_id).status_code == 409
    finally:
        live.stop()
