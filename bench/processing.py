"""Processing keeps up (issue 14): small uploads accepted against small files processed.

Run from the repository root with the project's venv:

    .venv/bin/python bench/processing.py [--files 500] [--clients 16] [--job-concurrency 1,64]
        [--before CHECKOUT]

For each processing concurrency (`FILEDOCK_JOB_CONCURRENCY`), and for the code of another
checkout (`--before`, its own defaults) when given, a fresh `filedock serve` (one
worker process, SQLite, local store, its in-process job worker, a real clamd) takes two bursts
of `--files` uploads of 1 KB through `POST /v1/file/<id>` from `--clients` keep-alive
connections, and the files' statuses are read from its database every 10 ms:

- the live burst, processing as it comes: uploads accepted per second, files processed per
  second over the same run (first upload sent to last file decided), and the backlog left
  when the last upload was answered;
- the held burst: clamd is paused (SIGSTOP) while the uploads arrive, so every job waits;
  then it resumes and the backlog is timed alone. Processed/s of that backlog against
  accepted/s of the same burst is the PASS line: processing at least as fast as uploads
  arrive, so no backlog can build.

The machine's cores are shared by the client, the server and clamd; the numbers are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loadgen import _Connection
from processes import cpu_seconds
from signing import HOST, clamd_running, filedock_cli, filedock_env, serving
from transfer import free_port

SETTLED = ("ready", "rejected", "infected", "failed")


@dataclass
class Burst:
    files: int
    accepted_s: float  # first upload sent -> last upload answered
    processed_s: float  # first upload sent -> last file decided
    backlog: int  # files not decided when the last upload was answered
    statuses: dict[str, int]
    # CPU seconds while the uploads were taken, then until the last file was decided.
    server_cpu: tuple[float, float] = (0.0, 0.0)
    clamd_cpu: tuple[float, float] = (0.0, 0.0)

    @property
    def accepted_rate(self) -> float:
        return self.files / self.accepted_s

    @property
    def processed_rate(self) -> float:
        return self.files / self.processed_s

    @property
    def drain_rate(self) -> float:
        """Processed/s of the backlog alone, from the moment it could be worked."""
        return self.files / (self.processed_s - self.accepted_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500, help="uploads per burst")
    parser.add_argument("--clients", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--job-concurrency", default="1,64", help="FILEDOCK_JOB_CONCURRENCY values")
    parser.add_argument(
        "--before", type=Path, help="also measure the code of this checkout (e.g. /work/main)"
    )
    parser.add_argument("--work-dir", type=Path, default=Path(__file__).resolve().parent / ".work")
    args = parser.parse_args()
    work = args.work_dir.resolve() / "processing"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: list[tuple[str, Burst, Burst]] = []
    servers: list[tuple[str, dict[str, str]]] = []
    if args.before:
        # The code of another checkout, with its own settings: a reference in the same run.
        servers.append(("before", {"PYTHONPATH": str(args.before.resolve() / "src")}))
    for level in args.job_concurrency.split(","):
        servers.append((level, {"FILEDOCK_JOB_CONCURRENCY": level}))
    with clamd_running(work / "clamd") as clamd_config:
        clamd_pid = int((work / "clamd" / "clamd.pid").read_text().split()[0])
        for n, (label, extra) in enumerate(servers):
            port = free_port()
            env = filedock_env(work / f"data-{n}", port, clamd_config, "warning")
            env.update(extra)
            database = work / f"data-{n}" / "filedock.db"
            command = [sys.executable, "-m", "filedock", "serve", "--port", str(port)]
            with serving(command, env, work / f"filedock-{n}.log", port) as server_pid:
                pids = (server_pid, clamd_pid)
                token = filedock_cli(env, "token", "create", "--user", "bench", "--role", "user")
                headers = {"Authorization": f"Bearer {token}"}
                burst(port, headers, database, 32, args.clients, pids, hold=False)  # warm-up
                live = burst(port, headers, database, args.files, args.clients, pids, hold=False)
                print(f"  concurrency {label}, live: {describe(live)}", flush=True)
                held = burst(port, headers, database, args.files, args.clients, pids, hold=True)
                print(f"  concurrency {label}, held: {describe(held)}", flush=True)
                results.append((label, live, held))
    report(results, args)
    shutil.rmtree(work, ignore_errors=True)


def burst(
    port: int,
    headers: dict[str, str],
    database: Path,
    files: int,
    clients: int,
    pids: tuple[int, int],
    *,
    hold: bool,
) -> Burst:
    """Upload `files` 1 KB files; time their acceptance and their processing."""
    server, clamd = pids
    ids = [str(uuid.uuid4()) for _ in range(files)]
    requests = [upload_request(port, file_id, headers, n) for n, file_id in enumerate(ids)]
    watch = _Watch(database, ids)
    cpu = [(cpu_seconds(server), cpu_seconds(clamd))]
    with watch, paused(clamd if hold else None):
        started = time.perf_counter()
        watch.start()
        statuses = asyncio.run(upload_all(port, requests, clients))
        accepted = time.perf_counter()
        backlog = files - watch.settled
        cpu.append((cpu_seconds(server), cpu_seconds(clamd)))
        if statuses != {200: files}:
            raise RuntimeError(f"uploads answered {statuses}")
    decided = watch.wait_all(timeout=600)
    cpu.append((cpu_seconds(server), cpu_seconds(clamd)))
    server_cpu = (cpu[1][0] - cpu[0][0], cpu[2][0] - cpu[1][0])
    clamd_cpu = (cpu[1][1] - cpu[0][1], cpu[2][1] - cpu[1][1])
    return Burst(
        files,
        accepted - started,
        decided - started,
        backlog,
        watch.outcomes(),
        server_cpu,
        clamd_cpu,
    )


def upload_request(port: int, file_id: str, headers: dict[str, str], n: int) -> bytes:
    body = (f"row,{n}\n" * 200).encode()[:1024]
    lines = [f"POST /v1/file/{file_id} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: text/plain", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def upload_all(port: int, requests: list[bytes], clients: int) -> dict[int, int]:
    loop = asyncio.get_running_loop()
    conns = [(await loop.create_connection(_Connection, HOST, port))[1] for _ in range(clients)]
    pending = iter(requests)
    statuses: dict[int, int] = {}

    async def client(conn: _Connection) -> None:
        for request in pending:
            status, _ = await conn.ask(request)
            statuses[status] = statuses.get(status, 0) + 1

    try:
        await asyncio.gather(*(client(conn) for conn in conns))
    finally:
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    return statuses


@contextlib.contextmanager
def paused(pid: int | None) -> Iterator[None]:
    """clamd stopped (SIGSTOP) inside the block: scans wait, so every job waits in line."""
    if pid is None:
        yield
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


class _Watch:
    """Reads the files' statuses from the server's SQLite database every 10 ms (WAL: a reader
    beside the server's writer), in a thread, and notes when the last one was decided."""

    def __init__(self, database: Path, ids: list[str]) -> None:
        self._database = database
        self._ids = ids
        self._marks = ",".join("?" * len(ids))
        self.settled = 0
        self._decided_at: float | None = None
        self._started = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._outcomes: dict[str, int] = {}

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self) -> None:
        self._started.set()

    def wait_all(self, timeout: float) -> float:
        if not self._done.wait(timeout) or self._decided_at is None:
            raise RuntimeError(f"only {self.settled} of {len(self._ids)} files were decided")
        return self._decided_at

    def outcomes(self) -> dict[str, int]:
        return self._outcomes

    def _run(self) -> None:
        self._started.wait()
        connection = sqlite3.connect(f"file:{self._database}?mode=ro", uri=True, timeout=30)
        query = f"SELECT status, count(*) FROM files WHERE id IN ({self._marks}) GROUP BY status"
        try:
            while True:
                rows = dict(connection.execute(query, self._ids).fetchall())
                now = time.perf_counter()
                self.settled = sum(rows.get(status, 0) for status in SETTLED)
                if self.settled == len(self._ids):
                    self._decided_at, self._outcomes = now, rows
                    self._done.set()
                    return
                time.sleep(0.01)
        finally:
            connection.close()


def describe(run: Burst) -> str:
    per_file = [f"{1000 * seconds / run.files:.1f}" for seconds in run.server_cpu]
    clamd = [f"{1000 * seconds / run.files:.1f}" for seconds in run.clamd_cpu]
    return (
        f"accepted {run.accepted_rate:.0f}/s in {run.accepted_s:.2f} s, all decided after "
        f"{run.processed_s:.2f} s ({run.processed_rate:.0f}/s), backlog at the last upload "
        f"{run.backlog}, outcomes {run.statuses}; CPU ms a file during / after the uploads: "
        f"server {' / '.join(per_file)}, clamd {' / '.join(clamd)}"
    )


def report(results: list[tuple[str, Burst, Burst]], args: argparse.Namespace) -> None:
    print()
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(
        f"{args.files} uploads of 1 KB through POST /v1/file/<id>, {args.clients} clients, "
        "one `filedock serve` worker (SQLite, local store, in-process job worker, clamd)"
    )
    print()
    print("| job concurrency | burst | accepted/s | processed/s | backlog at last upload |")
    print("|---|---|---|---|---|")
    for level, live, held in results:
        print(
            f"| {level} | live | {live.accepted_rate:.0f} | {live.processed_rate:.0f} "
            f"(first upload to last decided) | {live.backlog} |"
        )
        print(
            f"| {level} | clamd held | {held.accepted_rate:.0f} | {held.drain_rate:.0f} "
            f"(the backlog alone) | {held.backlog} |"
        )
    print()
    for level, _live, held in results:
        ratio = held.drain_rate / held.accepted_rate
        verdict = "PASS" if ratio >= 1.0 else "MISS"
        print(
            f"{verdict}: concurrency {level}: processed {held.drain_rate:.0f}/s >= accepted "
            f"{held.accepted_rate:.0f}/s ({ratio:.2f}x)"
        )


if __name__ == "__main__":
    main()
