"""One installation split over processes, as on several hosts: API processes (`filedock serve`
with FILEDOCK_WORKER=false) and `filedock worker` processes, each in a data folder of its own,
sharing only their settings, one PostgreSQL database and one S3 bucket; and the database
read behind their backs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from tests.fixtures.postgres import run_in_own_loop
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.server import LiveServer, server_env

T = TypeVar("T")

SETTLED = frozenset({"ready", "rejected", "infected", "failed", "deleted"})


@dataclass
class Installation:
    """The settings every process gets, as one shared env file would give them."""

    root: Path
    env: dict[str, str]
    database_url: str
    bucket: str
    s3: S3Endpoint

    def api_server(self, name: str) -> LiveServer:
        """A server process with its own folder and public URL; started by the caller."""
        data_dir = self.root / name
        data_dir.mkdir()
        return LiveServer(data_dir=data_dir, env={**self.env, "FILEDOCK_DATA_DIR": str(data_dir)})

    def worker(self, name: str, *, stop_grace: float = 10.0) -> WorkerProcess:
        data_dir = self.root / name
        data_dir.mkdir()
        env = {**self.env, "FILEDOCK_DATA_DIR": str(data_dir)}
        return WorkerProcess(data_dir, env, stop_grace=stop_grace)

    def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def fetch() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(self.database_url, timeout=10)
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return run_in_own_loop(fetch())

    def statuses(self, ids: list[str]) -> dict[str, str]:
        rows = self.query("SELECT id, status FROM files WHERE id = ANY($1::text[])", ids)
        return {row["id"]: row["status"] for row in rows}

    def processing_jobs(self, ids: list[str]) -> list[dict[str, Any]]:
        """The `process_file` job rows of these files (a finished job leaves none)."""
        rows = self.query(
            "SELECT payload->>'file_id' AS file_id, status, attempts, locked_until FROM jobs"
            " WHERE kind = 'process_file' AND payload->>'file_id' = ANY($1::text[])",
            ids,
        )
        return [dict(row) for row in rows]

    def wait_settled(self, ids: list[str], timeout: float = 120) -> dict[str, str]:
        def settled() -> dict[str, str] | None:
            now = self.statuses(ids)
            return now if len(now) == len(ids) and set(now.values()) <= SETTLED else None

        return wait_for(settled, timeout, lambda: f"files never settled: {self.statuses(ids)}")

    def multipart_uploads(self) -> list[dict[str, Any]]:
        found = self.s3.client().list_multipart_uploads(Bucket=self.bucket)
        return list(found.get("Uploads", []))


def installation(root: Path, database_url: str, s3: S3Endpoint, **settings: str) -> Installation:
    bucket = f"filedock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    env = server_env(
        root,
        database_url=database_url,
        storage_url=f"s3://{bucket}/objects",
        s3_endpoint_url=s3.url,
        s3_region=s3.region,
        # The API processes leave the queue to the workers; the workers get the same
        # variable, as from one env file, and work regardless.
        worker="false",
        log_format="json",
        **settings,
    )
    env.update(AWS_ACCESS_KEY_ID=s3.access_key_id, AWS_SECRET_ACCESS_KEY=s3.secret_access_key)
    return Installation(root, env, database_url, bucket, s3)


@dataclass
class WorkerProcess:
    """`filedock worker` in a subprocess, as an operator runs it on a host of its own."""

    data_dir: Path
    env: dict[str, str]
    stop_grace: float = 10.0
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        """Start it (again) and return once it says it runs; each run logs to its own file."""
        log_path = self.data_dir / f"worker-run-{len(self.logs) + 1}.log"
        self.logs.append(log_path)
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "filedock", "worker", "--stop-grace", f"{self.stop_grace}"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process
        wait_for(
            lambda: self.started() or process.poll() is not None or None,
            60,
            lambda: f"the worker did not start:\n{self.text()[-4000:]}",
        )
        assert process.poll() is None, f"the worker exited:\n{self.text()[-4000:]}"

    def started(self) -> dict[str, Any] | None:
        """This run's start line."""
        return next(iter(self.events("filedock worker is running", run=-1)), None)

    def kill(self) -> None:
        """kill -9, as a lost host or the OOM killer would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def text(self, run: int | None = None) -> str:
        paths = self.logs if run is None else [self.logs[run]]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def events(self, event: str, run: int | None = None) -> list[dict[str, Any]]:
        """Its JSON log lines whose `event` is `event`: every run's, or run `run`'s."""
        return [line for line in json_lines(self.text(run)) if line.get("event") == event]


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    for raw in text.splitlines():
        if raw.startswith("{"):
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue


def hasura_upload(
    server: LiveServer, file_id: str, body: bytes | Iterator[bytes], content_type: str
) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/v1/file/{file_id}",
        content=body,
        headers={**server.auth("ann"), "Content-Type": content_type},
        timeout=120,
    )


def wait_for(probe: Callable[[], T | None], timeout: float, failure: Callable[[], str] | str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(failure() if callable(failure) else failure)


@contextmanager
def started(*servers: LiveServer) -> Iterator[None]:
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in servers:
            server.stop()
