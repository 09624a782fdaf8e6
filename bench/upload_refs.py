"""Upload references for bench/transfer.py (issue 14): bare endpoints and the small-file load.

The bare app is Starlette served by Granian with the options `filedock.server` uses, written
to a file and run as its own server, as bench/loadgen.py's BARE_APP is for the signing bench:

- `POST /discard/<id>` reads the body and drops it: what the ASGI server itself costs, the
  second reference of the 1 GiB upload;
- `POST /small/<id>` writes the body to a file and inserts one row into SQLite (WAL, the
  pragmas filedock uses), the least any upload that records its file must do: the reference
  of the small-file case. It does both inline, one request after another, so on a disk whose
  latency comes and goes its rate does too (2,400 to 6,200/s here, minutes apart); a second
  copy with its folder in memory (/dev/shm) runs in each round as well, as information: what
  the reference does when the disk does not hold it back.

The small-file case loads `POST /v1/file/<id>` with 1 KB bodies from keep-alive connections
(bench/loadgen.py's run_load), each request with an id never used before.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from argparse import Namespace
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, overload

from loadgen import LoadResult, fetch_once, run_load
from processes import cpu_seconds, process_tree, stop

HOST = "127.0.0.1"
SMALL_BYTES = 1000  # "1 KB"

BARE_UPLOAD_APP = '''"""Reference endpoints of bench/transfer.py (written by the bench)."""

import os
import sqlite3
import sys

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

FOLDER = os.environ["BARE_FOLDER"]
DATABASE = sqlite3.connect(os.path.join(FOLDER, "bare.sqlite3"), isolation_level=None)
for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
    DATABASE.execute(f"PRAGMA {pragma}")
DATABASE.execute("CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, size INTEGER)")


async def discard(request):
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return JSONResponse({"file_id": request.path_params["file_id"], "file_size": size})


async def small(request):
    file_id = request.path_params["file_id"]
    body = await request.body()
    with open(os.path.join(FOLDER, "objects", file_id), "xb") as handle:
        handle.write(body)
    DATABASE.execute("INSERT INTO files VALUES (?, ?)", (file_id, len(body)))
    return JSONResponse({"file_id": file_id, "file_size": len(body)})


async def healthz(request):
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/discard/{file_id}", discard, methods=["POST"]),
        Route("/small/{file_id}", small, methods=["POST"]),
        Route("/healthz", healthz),
    ]
)

if __name__ == "__main__":
    from granian.constants import Interfaces
    from granian.server import Server

    # filedock.server's options, so that only the application differs.
    Server(
        "bare_uploads:app",
        address="127.0.0.1",
        port=int(sys.argv[1]),
        interface=Interfaces.ASGI,
        workers=1,
        backpressure=1024,
        log_access=False,
    ).serve()
'''


@dataclass
class Bare:
    base: str
    pid: int


class SmallRound(NamedTuple):
    """One round of the small-file case: filedock, the reference right after, and the
    reference with its folder in memory (None where there is no /dev/shm)."""

    filedock: LoadResult
    bare: LoadResult
    in_memory: LoadResult | None


@contextlib.contextmanager
def bare_in_memory(work: Path) -> Iterator[Bare | None]:
    """The bare upload app with its folder on /dev/shm (a tmpfs), or None without one."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="filedock-bench-", dir=shm))
    try:
        with bare_serving(work, folder=folder) as bare:
            yield bare
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def bare_serving(work: Path, *, folder: Path | None = None) -> Iterator[Bare]:
    """Write and start the bare upload app (its files and database in `folder`, by default
    in `work`); yields its base URL and pid."""
    folder = folder or work / "bare-uploads"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "objects").mkdir(parents=True)
    (folder / "bare_uploads.py").write_text(BARE_UPLOAD_APP)
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(folder), "BARE_FOLDER": str(folder)}
    command = [sys.executable, str(folder / "bare_uploads.py"), str(port)]
    with open(work / f"{folder.name}.log", "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=folder)
        descendants: list[int] = []
        try:
            base = f"http://{HOST}:{port}"
            _wait_healthy(f"{base}/healthz", server)
            descendants = process_tree(server.pid)[1:]
            yield Bare(base, server.pid)
        finally:
            stop(server, descendants)


class FreshUploads(Sequence[bytes]):
    """Upload requests for run_load, each naming a file id never used before.

    run_load picks `requests[i % len]` with overlapping `i` across connections; ids must not
    repeat (a second upload to an id is a 409), so the index is ignored and a counter decides.
    """

    def __init__(self, port: int, path: str, headers: dict[str, str], body: bytes) -> None:
        self._counter = itertools.count()
        head = [f"Host: {HOST}:{port}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        self._path, self._head, self._body = path, "\r\n".join(head).encode(), body

    def next_request(self) -> bytes:
        target = f"POST {self._path}{next(self._counter)} HTTP/1.1\r\n".encode()
        return target + self._head + b"\r\n\r\n" + self._body

    def __len__(self) -> int:
        return 1 << 62

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            raise TypeError("fresh uploads are made one at a time")
        return self.next_request()


def small_file_load(
    fd_port: int,
    fd_pid: int,
    token: str,
    bare: Bare,
    in_memory: Bare | None,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    prefix: str,
) -> SmallRound:
    """1 KB uploads at `concurrency`: filedock, then the bare endpoint right after, then the
    bare endpoint with its folder in memory."""
    body = os.urandom(SMALL_BYTES)
    kinds = {"Content-Type": "application/octet-stream"}
    filedock = FreshUploads(
        fd_port, f"/v1/file/{prefix}-", {**kinds, "Authorization": f"Bearer {token}"}, body
    )
    loads = [(fd_port, fd_pid, filedock)]
    for reference in (bare, in_memory):
        if reference is not None:
            port = int(reference.base.rsplit(":", 1)[1])
            uploads = FreshUploads(port, f"/small/{prefix}-", kinds, body)
            loads.append((port, reference.pid, uploads))

    async def measure() -> list[LoadResult]:
        results = []
        for port, pid, requests in loads:
            status, answer = await fetch_once(HOST, port, requests.next_request())
            if status != 200:
                raise RuntimeError(f"small upload to port {port} answered {status}: {answer!r}")
            results.append(
                await run_load(
                    HOST, port, requests, concurrency, seconds, warmup, lambda p=pid: cpu_seconds(p)
                )
            )
        return results

    results = asyncio.run(measure())
    return SmallRound(results[0], results[1], results[2] if in_memory is not None else None)


def small_file_rounds(
    work: Path,
    command: str,
    bare: Bare,
    in_memory: Bare | None,
    args: Namespace,
    *,
    worker: bool,
) -> list[SmallRound]:
    """A fresh `filedock serve` (its in-process job worker on or off), loaded with 1 KB
    uploads `args.small_rounds` times, each round paired with the bare endpoint."""
    data = work / f"filedock-small-{'worker' if worker else 'no-worker'}"
    shutil.rmtree(data, ignore_errors=True)
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "FILEDOCK_LOG_LEVEL": "warning",
        "FILEDOCK_RATE_LIMIT_PER_SECOND": "0",
        "FILEDOCK_SWEEP_SECONDS": "3600",
        "FILEDOCK_WORKER": "true" if worker else "false",
    }
    serve = [command, "serve", "--host", HOST, "--port", str(port), "--data-dir", str(data)]
    rounds = []
    with open(work / f"{data.name}.log", "wb") as log:
        server = subprocess.Popen(serve, stdout=log, stderr=log, env=env)
        descendants: list[int] = []
        try:
            _wait_healthy(f"http://{HOST}:{port}/healthz", server)
            descendants = process_tree(server.pid)[1:]
            token = subprocess.run(
                [command, "token", "create", "--user", "bench", "--data-dir", str(data)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout.strip()
            for n in range(args.small_rounds):
                print(f"small files, worker {worker}: round {n + 1}", flush=True)
                rounds.append(
                    small_file_load(
                        port,
                        server.pid,
                        token,
                        bare,
                        in_memory,
                        concurrency=args.small_concurrency,
                        seconds=args.small_seconds,
                        warmup=1.0,
                        prefix=f"small-{data.name}-{n}",
                    )
                )
        finally:
            stop(server, descendants)
    # The folder is left for the caller to remove once nothing is timed any more: on ext4
    # without a journal (this workplace's disks), creating files is slow for about a minute
    # after tens of thousands were deleted nearby (20 -> 400-850 us a create, measured), and
    # the next round's server would pay for this one's clean-up.
    return rounds


def small_lines(rounds: list[SmallRound], concurrency: int, *, worker: bool) -> None:
    """The small-file rows: median rates over the rounds, and the median of per-round ratios."""
    fd_rate = statistics.median(fd.rate for fd, _, _ in rounds)
    bare_rate = statistics.median(bare.rate for _, bare, _ in rounds)
    ratio = statistics.median(fd.rate / bare.rate for fd, bare, _ in rounds)

    def spread(rates: list[float]) -> str:
        return f"{min(rates):.0f}-{max(rates):.0f}"

    what = "job worker in process" if worker else "no job worker"
    print(f"1 KB uploads, c={concurrency}, {what}:")
    print(
        f"{'  bare write + insert (reference)':<34} {bare_rate:>8.0f}/s "
        f"{spread([bare.rate for _, bare, _ in rounds]):>11}"
    )
    print(
        f"{'  filedock POST /v1/file/<id>':<34} {fd_rate:>8.0f}/s "
        f"{spread([fd.rate for fd, _, _ in rounds]):>11} {ratio:>11.2f}x bare  >= 0.50x  "
        + ("PASS" if ratio >= 0.5 else "MISS  <<<")
    )
    in_memory = [(fd, memory) for fd, _, memory in rounds if memory is not None]
    if in_memory:
        memory_rates = [memory.rate for _, memory in in_memory]
        against = statistics.median(fd.rate / memory.rate for fd, memory in in_memory)
        print(
            f"{'  same bare, folder in memory':<34} {statistics.median(memory_rates):>8.0f}/s "
            f"{spread(memory_rates):>11} {against:>11.2f}x       info"
        )
    cpu = statistics.median(fd.server_cpu / fd.seconds for fd, _, _ in rounds)
    bare_cpu = statistics.median(bare.server_cpu / bare.seconds for _, bare, _ in rounds)
    print(f"  server CPU (cores, median): filedock {cpu:.2f}, bare {bare_cpu:.2f}")
    stolen = statistics.median(fd.stolen_cpu / fd.seconds for fd, _, _ in rounds)
    bare_stolen = statistics.median(bare.stolen_cpu / bare.seconds for _, bare, _ in rounds)
    print(
        f"  CPU stolen by the host (cores, median): filedock {stolen:.2f}, bare {bare_stolen:.2f}"
    )
    statuses = sum((fd.statuses for fd, _, _ in rounds), start=Counter[int]())
    if set(statuses) != {200}:
        print(f"  filedock's small uploads answered {dict(statuses)}")


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    # transfer.py's helpers are not imported: it imports this module.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the bare upload app did not answer {url}")
