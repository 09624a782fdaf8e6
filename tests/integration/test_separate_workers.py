"""Scale-out beyond one machine: API processes that do not work the queue
(FILEDOCK_WORKER=false) and `filedock worker` processes that do, on one PostgreSQL database and
one S3 bucket (moto).

clamd is reached through a proxy the test can stall, so "mid-job" is real: a worker's scan
waits on clamd with the job claimed, as a scan of a large file would. Jobs are counted from
the database (a job's row goes when it is done; `attempts` counts its claims) and from each
worker's `job done` lines.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures.clamd import ClamdServer
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.server import LiveServer, free_port, server_env
from tests.fixtures.stall_proxy import StallProxy
from tests.integration.separate_workers_support import (
    Installation,
    WorkerProcess,
    hasura_upload,
    installation,
    started,
    wait_for,
)

CSV = b"name,size\nreport,12\nsummary,7\n" * 50
# An ELF header: an executable, whatever type its uploader declares.
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 400
MIB = 1024 * 1024


@pytest.fixture
def clamd_proxy(clamd: ClamdServer) -> Iterator[StallProxy]:
    with StallProxy(("127.0.0.1", clamd.port)) as proxy:
        yield proxy


@pytest.fixture
def shared(
    tmp_path: Path, postgres_url: str, s3_endpoint: S3Endpoint, clamd_proxy: StallProxy
) -> Installation:
    # A short lease, so a killed worker's jobs are taken over in seconds; two jobs at a time
    # a worker, so a kill catches two mid-job and two workers' scans tell them apart.
    return installation(
        tmp_path,
        postgres_url,
        s3_endpoint,
        clamd_url=f"tcp://127.0.0.1:{clamd_proxy.port}",
        job_lease_seconds="3",
        job_concurrency="2",
    )


def test_api_processes_queue_and_workers_process_every_upload_once_even_across_a_sigkill(
    shared: Installation, clamd_proxy: StallProxy, clamd: ClamdServer
) -> None:
    expected: dict[str, str] = {}
    bodies: list[tuple[str, bytes, str]] = []
    for n in range(40):
        file_id = str(uuid.uuid4())
        if n % 13 == 5:
            bodies.append((file_id, ELF, "text/plain"))  # 3 of them: n = 5, 18, 31
            expected[file_id] = "rejected"
        elif n % 13 == 9:
            bodies.append((file_id, clamd.eicar, "text/plain"))  # n = 9, 22, 35
            expected[file_id] = "infected"
        else:
            bodies.append((file_id, CSV + f"{n},1\n".encode(), "text/csv"))
            expected[file_id] = "ready"
    api = [shared.api_server("api-1"), shared.api_server("api-2")]
    workers = (shared.worker("worker"), shared.worker("another-worker"))
    with started(*api):
        try:
            check_separate_workers(shared, api, workers, clamd_proxy, bodies, expected)
        finally:
            for worker in workers:
                worker.stop()


def check_separate_workers(
    shared: Installation,
    api: list[LiveServer],
    workers: tuple[WorkerProcess, WorkerProcess],
    clamd_proxy: StallProxy,
    bodies: list[tuple[str, bytes, str]],
    expected: dict[str, str],
) -> None:
    worker, another = workers
    ids = list(expected)
    # The burst, through both API processes at once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda n: hasura_upload(api[n % 2], *bodies[n]), range(len(bodies)))
        )
    assert [a.status_code for a in answers] == [200] * len(ids), [a.text for a in answers]
    assert {a.json()["file_status"] for a in answers} == {"uploaded"}

    # No worker yet: the API processes queue the jobs (with the upload, in one transaction)
    # and, given ten of their job polls (0.2 s), run none of them.
    time.sleep(2)
    assert set(shared.statuses(ids).values()) == {"uploaded"}
    jobs = shared.processing_jobs(ids)
    assert len(jobs) == len(ids)
    assert {(j["status"], j["attempts"]) for j in jobs} == {("queued", 0)}

    # A worker claims two jobs at once and their scans hang on clamd: killed there, mid-job.
    clamd_proxy.stall()
    worker.start()
    running = wait_for(
        lambda: [j for j in shared.processing_jobs(ids) if j["status"] == "running"],
        30,
        "the worker claimed no job",
    )
    wait_for(lambda: clamd_proxy.accepted >= 2 or None, 30, "the scans never began")
    worker.kill()
    assert len(running) == 2 and {j["attempts"] for j in running} == {1}
    killed = {j["file_id"] for j in running}
    assert worker.events("job done") == []
    assert set(shared.statuses(list(killed)).values()) == {"processing"}

    # Started again, beside a second worker, they finish everything: the killed jobs once
    # their lease ran out, and every other job on one of the two. Each begins with two scans
    # waiting on clamd (two more than one worker's concurrency), so they work side by side.
    worker.start()
    another.start()
    wait_for(lambda: clamd_proxy.accepted >= 6 or None, 30, "the two workers never both scanned")
    clamd_proxy.resume()
    assert shared.wait_settled(ids) == expected
    assert shared.processing_jobs(ids) == []  # every job done; none failed or waiting
    done = [
        line
        for line in [*worker.events("job done"), *another.events("job done")]
        if line["kind"] == "process_file"
    ]
    runs = Counter(line["payload"]["file_id"] for line in done)
    assert runs == Counter(ids), "a job ran twice, or not at all"
    claims = {line["payload"]["file_id"]: line["attempts"] for line in done}
    assert claims == {file_id: 2 if file_id in killed else 1 for file_id in ids}
    for each in workers:
        assert each.events("job lost its lease") == []
    for server in api:
        assert '"job done"' not in server.log_text()

    for each in workers:
        each.signal(signal.SIGTERM)
        assert each.wait_exit(timeout=30) == 0
        assert each.events("filedock worker stopped", run=-1)


def test_the_worker_says_what_it_runs_and_on_which_database_and_store(
    shared: Installation, s3_endpoint: S3Endpoint, clamd_proxy: StallProxy
) -> None:
    worker = shared.worker("worker")
    worker.start()
    try:
        line = worker.started()
    finally:
        worker.stop()
    assert line is not None
    database = shared.database_url.rsplit("/", 1)[1]
    assert line["database"].startswith("postgresql") and line["database"].endswith(database)
    assert line["store"] == f"s3://{shared.bucket}/objects at {s3_endpoint.url}"
    assert line["scanner"] == f"tcp://127.0.0.1:{clamd_proxy.port}"
    for part in ("processing", "extracts", "sweeper", "reconciler"):
        assert part in line["runs"]
    assert line["logger"] == "filedock.worker"


def test_a_stopping_worker_finishes_the_job_it_runs_when_it_ends_within_the_grace(
    shared: Installation, clamd_proxy: StallProxy
) -> None:
    api = shared.api_server("api")
    worker = shared.worker("worker", stop_grace=60)
    file_id = str(uuid.uuid4())
    with started(api):
        clamd_proxy.stall()
        assert hasura_upload(api, file_id, CSV, "text/csv").status_code == 200
        worker.start()
        wait_for(lambda: clamd_proxy.accepted >= 1 or None, 30, "the scan never began")
        worker.signal(signal.SIGTERM)
        wait_for(lambda: worker.events("filedock worker is stopping"), 10, "no stop began")
        assert worker.process is not None and worker.process.poll() is None
        clamd_proxy.resume()  # the scan's answer arrives within the grace
        assert worker.wait_exit(timeout=30) == 0
    assert shared.statuses([file_id]) == {file_id: "ready"}
    assert shared.processing_jobs([file_id]) == []
    assert [line["attempts"] for line in worker.events("job done")] == [1]
    assert worker.events("job handed back") == []


def test_a_worker_stopped_past_its_grace_hands_its_job_back_for_another_to_take_at_once(
    tmp_path: Path, postgres_url: str, s3_endpoint: S3Endpoint, clamd_proxy: StallProxy
) -> None:
    # A five-minute lease: only the hand-back lets the job run again in time.
    shared = installation(
        tmp_path,
        postgres_url,
        s3_endpoint,
        clamd_url=f"tcp://127.0.0.1:{clamd_proxy.port}",
        job_lease_seconds="300",
    )
    api = shared.api_server("api")
    stopping = shared.worker("worker-a", stop_grace=1)
    taking_over = shared.worker("worker-b")
    file_id = str(uuid.uuid4())
    with started(api):
        clamd_proxy.stall()
        assert hasura_upload(api, file_id, CSV, "text/csv").status_code == 200
        stopping.start()
        wait_for(lambda: clamd_proxy.accepted >= 1 or None, 30, "the scan never began")
        stopping.signal(signal.SIGTERM)
        # Bounded: the grace, then at most a few seconds to stop the scan and hand back.
        assert stopping.wait_exit(timeout=30) == 0
        assert stopping.events("job handed back")
        (job,) = shared.processing_jobs([file_id])
        assert (job["status"], job["attempts"], job["locked_until"]) == ("queued", 1, None)

        clamd_proxy.resume()
        taking_over.start()
        try:
            assert shared.wait_settled([file_id], timeout=60) == {file_id: "ready"}
        finally:
            taking_over.stop()
    assert [line["attempts"] for line in taking_over.events("job done")] == [2]
    assert stopping.events("job done") == []


def test_a_worker_starting_leaves_an_upload_in_flight_on_an_api_process_alone(
    tmp_path: Path, postgres_url: str, s3_endpoint: S3Endpoint
) -> None:
    """At start a worker removes writes a crash left unfinished: only those nobody has
    touched for an hour, never a live multipart upload another process is writing."""
    shared = installation(tmp_path, postgres_url, s3_endpoint, body_idle_seconds="120")
    api = shared.api_server("api")
    worker = shared.worker("worker")
    file_id = str(uuid.uuid4())
    gate = threading.Event()

    def body() -> Iterator[bytes]:
        for _ in range(6):  # over one 5 MiB part: the store begins a multipart upload
            yield b"a,b\n" * (MIB // 4)
        gate.wait(timeout=60)
        yield b"a,b\n" * (MIB // 4)

    with started(api), ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(hasura_upload, api, file_id, body(), "text/csv")
        try:
            wait_for(
                lambda: [u for u in shared.multipart_uploads() if _parts(shared, u)],
                60,
                "the upload never began a multipart upload",
            )
            worker.start()  # its start-up cleaning has run once it says it runs
            assert shared.multipart_uploads(), "the worker aborted a live upload"
        finally:
            gate.set()
        answer = pending.result(timeout=120)
        assert answer.status_code == 200, answer.text
        try:
            assert shared.wait_settled([file_id]) == {file_id: "ready"}
        finally:
            worker.stop()
    assert answer.json()["file_size"] == 7 * MIB


def _parts(shared: Installation, upload: dict[str, str]) -> list[object]:
    listed = shared.s3.client().list_parts(
        Bucket=shared.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
    )
    return list(listed.get("Parts", []))


def test_a_worker_that_cannot_reach_its_database_says_so_in_one_line(tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/filedock"
    done = subprocess.run(
        [sys.executable, "-m", "filedock", "worker"],
        env=server_env(tmp_path, database_url=nowhere),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("filedock: the database is unavailable: "), line
