"""Signing and processing benchmark (issue 3): signed-url issuing rate, processing speed.

Run from the repository root with the project's venv:

    .venv/bin/python bench/signing.py [--seconds 5] [--concurrency 1,16,64] [--size-mib 100]

Part 1 loads `GET /v1/files/signed-url` of a real `filedock serve` (one worker, SQLite, rate
limiter off) from 1, 16 and 64 keep-alive connections, 64 distinct user ids in turn, and in
the same run a bare Starlette endpoint answering a JSON body of the same size, served by
Granian with the same options; then the same load on `filedock serve --workers 2`, compared
with one worker (`--no-scaling` skips it). A level during which the host took CPU from this
machine (steal) is measured again, filedock and reference alike (`STOLEN_CORES`). Part 2
uploads a file of random bytes through `/v1/file/<file_id>` to a filedock scanning with a
real clamd, times upload -> ready, and compares with `sha256sum` plus `clamdscan --stream`
(INSTREAM, as filedock sends) of the same file against the same clamd. A missed target
prints MISS; the exit status stays 0 unless the bench itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import partial
from importlib import metadata
from pathlib import Path

from loadgen import BARE_APP, LoadResult, fetch_once, request_bytes, run_load
from processes import cpu_seconds, process_tree, stop
from transfer import CHUNK, MB, curl, free_port, http_status, timed, wait_until, warm

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SIGNED_URL = "/v1/files/signed-url?filename=report.pdf"
CLAMDSCAN_INSTALL = "apt-get update && apt-get install -y clamdscan"
# A shared host takes CPU from this machine at times (/proc/stat's steal), which slows
# whichever server is measured then. A level whose windows lost more than this many cores to
# the host is measured again, the same way for filedock and its reference, up to
# STOLEN_ATTEMPTS times in all; the last attempt is kept whatever it saw, and said so.
STOLEN_CORES = 0.05
STOLEN_ATTEMPTS = 3
# clamd's defaults (StreamMaxLength and MaxFileSize 100M, Debian's config 25M) refuse or
# skip files past them; raised so that filedock and clamdscan both get a whole scan.
CLAMD_LIMIT = "400M"


def preflight() -> str:
    """The clamdscan executable; installs the Debian package when missing and root."""
    missing = [p for p in ("/usr/sbin/clamd", "/usr/bin/sigtool") if not os.access(p, os.X_OK)]
    if missing:
        print(f"{', '.join(missing)} missing: apt-get install -y clamav-daemon clamav")
        sys.exit(2)
    found = shutil.which("clamdscan")
    if found:
        return found
    if os.geteuid() != 0:
        print(f"clamdscan is missing; install it with:\n    sudo sh -c '{CLAMDSCAN_INSTALL}'")
        sys.exit(2)
    print(f"clamdscan is missing; running: {CLAMDSCAN_INSTALL}", flush=True)
    subprocess.run(CLAMDSCAN_INSTALL, shell=True, check=True, stdout=subprocess.DEVNULL)
    return shutil.which("clamdscan") or "/usr/bin/clamdscan"


@contextlib.contextmanager
def clamd_running(directory: Path) -> Iterator[Path]:
    """A clamd of our own (tests/fixtures/clamd.py's), limits raised; yields its config."""
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.clamd import EICAR, SIGNATURE_NAME, SIGTOOL, ClamdServer

    shutil.rmtree(directory, ignore_errors=True)
    (directory / "db").mkdir(parents=True)
    (directory / "tmp").mkdir()
    sample = directory / "eicar.com"
    sample.write_bytes(EICAR)
    md5 = subprocess.run([str(SIGTOOL), "--md5", str(sample)], capture_output=True, text=True)
    md5.check_returncode()
    digest, size, _name = md5.stdout.strip().split(":", 2)
    (directory / "db" / "bench.hdb").write_text(f"{digest}:{size}:{SIGNATURE_NAME}\n")
    server = ClamdServer(directory, directory / "clamd.sock", free_port())
    settings = [
        f"LocalSocket {server.socket_path}",
        f"TCPSocket {server.port}",
        f"TCPAddr {HOST}",
        f"DatabaseDirectory {directory / 'db'}",
        f"TemporaryDirectory {directory / 'tmp'}",
        "Foreground yes",
        f"StreamMaxLength {CLAMD_LIMIT}",
        f"MaxFileSize {CLAMD_LIMIT}",
        f"MaxScanSize {CLAMD_LIMIT}",
        f"LogFile {server.log_path}",
        f"PidFile {directory / 'clamd.pid'}",
    ]
    if os.geteuid() == 0:
        settings.append("User root")  # Debian's default `User clamav` cannot read our folder
    server.config_path.write_text("\n".join(settings) + "\n")
    server.start()
    try:
        yield server.config_path
    finally:
        server.stop()


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[int]:
    """Run a server until /healthz (filedock) or any answer (bare app); yields its pid."""
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out, env=env)
        descendants: list[int] = []
        try:
            wait_until(lambda: http_status(f"http://{HOST}:{port}/healthz") != 0, 60, log.name)
            if server.poll() is not None:
                raise RuntimeError(f"{log.name}: server exited\n{log.read_text()[-2000:]}")
            descendants = process_tree(server.pid)[1:]
            yield server.pid
        finally:
            stop(server, descendants)


def filedock_env(data: Path, port: int, clamd_config: Path, log_level: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    socket_line = next(x for x in clamd_config.read_text().splitlines() if x.startswith("Local"))
    env.update(
        FILEDOCK_DATA_DIR=str(data),
        FILEDOCK_JWT_SECRET=secrets.token_urlsafe(32),
        FILEDOCK_PUBLIC_URL=f"http://{HOST}:{port}",
        FILEDOCK_RATE_LIMIT_PER_SECOND="0",  # a throughput test, not a limiter test
        FILEDOCK_CLAMD_URL=f"unix://{socket_line.split(' ', 1)[1]}",
        # A sweep round (500 pending records) must not land inside a timed window.
        FILEDOCK_SWEEP_SECONDS="3600",
        FILEDOCK_LOG_LEVEL=log_level,
    )
    return env


def filedock_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "filedock", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"filedock {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def load_levels(
    fd_port: int, fd_pid: int, bare_port: int, bare_pid: int, key: str, args: argparse.Namespace
) -> list[tuple[LoadResult, LoadResult]]:
    """For each concurrency: filedock, then the bare endpoint right after (same machine state)."""
    users = [str(uuid.uuid4()) for _ in range(args.users)]
    fd_requests = [
        request_bytes(HOST, fd_port, SIGNED_URL, {"api-key": key, "user-id": user})
        for user in users
    ]
    bare_requests = [request_bytes(HOST, bare_port, SIGNED_URL, {}) for _ in users]

    async def measure() -> list[tuple[LoadResult, LoadResult]]:
        levels = []
        for level in args.concurrency:
            fd, bare = await _measured_level(
                [
                    ("filedock", fd_port, fd_pid, fd_requests),
                    ("bare", bare_port, bare_pid, bare_requests),
                ],
                level,
                args,
            )
            levels.append((fd, bare))
        return levels

    return asyncio.run(measure())


def two_worker_levels(port: int, pid: int, key: str, args: argparse.Namespace) -> list[LoadResult]:
    """The same load on `filedock serve --workers 2`, at each level (issue 14: scaling)."""
    users = [str(uuid.uuid4()) for _ in range(args.users)]
    requests = [
        request_bytes(HOST, port, SIGNED_URL, {"api-key": key, "user-id": user}) for user in users
    ]

    async def measure() -> list[LoadResult]:
        servers = [("filedock --workers 2", port, pid, requests)]
        return [(await _measured_level(servers, level, args))[0] for level in args.concurrency]

    return asyncio.run(measure())


async def _measured_level(
    servers: list[tuple[str, int, int, list[bytes]]], level: int, args: argparse.Namespace
) -> list[LoadResult]:
    """Each server (name, port, pid, requests) loaded in turn at `level`, all of them again
    while the host stole CPU in any of their windows (`STOLEN_CORES`, `STOLEN_ATTEMPTS`)."""
    for attempt in range(1, STOLEN_ATTEMPTS + 1):
        results = []
        for name, port, pid, requests in servers:
            result = await run_load(
                HOST, port, requests, level, args.seconds, args.warmup, partial(cpu_seconds, pid)
            )
            if set(result.statuses) != {200}:
                raise RuntimeError(f"{name}, c={level}: statuses {result.statuses}")
            results.append(result)
        names = [name for name, *_ in servers]
        rates = ", ".join(f"{n} {r.rate:.0f}/s" for n, r in zip(names, results, strict=True))
        print(f"  c={level}: {rates}{_stolen_note(results, attempt)}", flush=True)
        if not _host_stole(results):
            break
    return results


def _host_stole(results: list[LoadResult]) -> bool:
    """Whether the host took more than `STOLEN_CORES` from this machine in any window."""
    return any(r.stolen_cpu / r.seconds > STOLEN_CORES for r in results)


def _stolen_note(results: list[LoadResult], attempt: int) -> str:
    if not _host_stole(results):
        return ""
    stolen = ", ".join(f"{r.stolen_cpu / r.seconds:.2f}" for r in results)
    if attempt < STOLEN_ATTEMPTS:
        return f" (the host stole {stolen} cores: measured again)"
    return f" (the host stole {stolen} cores; attempt {attempt}, kept)"


def poll_ready(port: int, path: str, token: str, interval: float) -> tuple[float, int, int]:
    """Seconds until HEAD `path` stops answering 409, its final status, and polls made."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    start, polls = time.perf_counter(), 0
    try:
        while True:
            conn.request("HEAD", path, headers=headers)
            response = conn.getresponse()
            response.read()
            polls += 1
            if response.status != 409:
                return time.perf_counter() - start, response.status, polls
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"{path} still 409 after 600 s")
            time.sleep(interval)
    finally:
        conn.close()


def processing_runs(
    big: Path, port: int, env: dict[str, str], clamdscan: list[str], args: argparse.Namespace
) -> tuple[dict[str, list[float]], list[int]]:
    """`repeat` rounds: sha256sum, clamdscan, then a filedock upload timed until ready."""
    token = filedock_cli(env, "token", "create", "--user", "bench", "--role", "user")
    times: dict[str, list[float]] = {"sha256sum": [], "clamdscan": [], "filedock": []}
    polls: list[int] = []
    answer_path = big.with_name("upload.json")
    # Round 0 is not counted: clamd's first stream of a run is up to 3x slower (its temp
    # files and buffers are cold), which would flatter whichever side scans second.
    for n in range(args.repeat + 1):
        warm(big)
        sha_seconds = timed(["sha256sum", str(big)])
        warm(big)
        start = time.perf_counter()
        scan = subprocess.run([*clamdscan, str(big)], capture_output=True, text=True)
        scan_seconds = time.perf_counter() - start
        if scan.returncode != 0 or not scan.stdout.rstrip().endswith("OK"):
            raise RuntimeError(f"clamdscan exited {scan.returncode}: {scan.stdout}{scan.stderr}")
        path = f"/v1/file/bench-{n}-{uuid.uuid4().hex[:8]}"
        warm(big)
        upload = ["-o", str(answer_path), "-X", "POST", "-T", str(big), "-H", "Expect:"]
        auth = ["-H", f"Authorization: Bearer {token}"]
        curl([*upload, "-H", "Content-Type: application/octet-stream", *auth, path_url(port, path)])
        answer = json.loads(answer_path.read_text())
        if answer.get("file_size") != big.stat().st_size:
            raise RuntimeError(f"upload answered {answer}")
        seconds, status, count = poll_ready(port, path, token, args.poll_ms / 1000)
        if status != 200:
            raise RuntimeError(f"{path}: processing ended in HTTP {status}, not ready")
        print(
            f"  run {n}{' (warm-up, not counted)' if n == 0 else ''}: sha256sum "
            f"{sha_seconds:.2f} s, clamdscan {scan_seconds:.2f} s, filedock upload->ready "
            f"{seconds:.2f} s",
            flush=True,
        )
        if n > 0:
            times["sha256sum"].append(sha_seconds)
            times["clamdscan"].append(scan_seconds)
            times["filedock"].append(seconds)
            polls.append(count)
    answer_path.unlink(missing_ok=True)
    return times, polls


def path_url(port: int, path: str) -> str:
    return f"http://{HOST}:{port}{path}"


def report(
    levels: list[tuple[LoadResult, LoadResult]],
    two_workers: list[LoadResult],
    times: dict[str, list[float]],
    polls: list[int],
    size: int,
    args: argparse.Namespace,
) -> None:
    def line(name: str, value: str, detail: str, ratio: str, target: str, result: str) -> None:
        print(f"{name:<38} {value:>11} {detail:>24} {ratio:>19}  {target:<10} {result}")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS  <<<"

    def latency(result: LoadResult) -> str:
        return f"p50 {result.percentile_ms(0.5):.2f} p99 {result.percentile_ms(0.99):.2f} ms"

    print(
        f"\nmachine: nproc={os.cpu_count()}, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, granian {metadata.version('granian')}, "
        f"starlette {metadata.version('starlette')}"
    )
    print(
        f"signed-url: {args.seconds:g} s measured after {args.warmup:g} s warm-up per level, "
        f"keep-alive connections, {args.users} user ids in turn, filedock log level "
        f"{args.log_level}; client and servers share the {os.cpu_count()} cores\n"
    )
    line("operation", "value", "latency / time", "ratio", "target", "result")
    for fd, bare in levels:
        c = fd.concurrency
        line(f"bare Starlette c={c} (reference)", f"{bare.rate:.0f} /s", latency(bare), "", "", "")
        ratio = fd.rate / bare.rate
        line(
            f"filedock signed-url c={c}",
            f"{fd.rate:.0f} /s",
            latency(fd),
            f"{ratio:.2f}x bare",
            ">= 0.40x",
            verdict(ratio >= 0.4),
        )
    # Issue 14: at c=16 (the best level otherwise), 10,000 signed URLs/s on one worker.
    best = next((fd for fd, _ in levels if fd.concurrency == 16), None)
    best = best or max(levels, key=lambda pair: pair[0].rate)[0]
    line(
        f"filedock signed-url, c={best.concurrency}",
        f"{best.rate:.0f} /s",
        "",
        "",
        ">= 10000/s",
        verdict(best.rate >= 10000),
    )
    # Issue 14: `--workers 2` signs at least 1.7 times as fast as one worker, at the level
    # where two workers do best (one connection per worker is no test of scaling).
    if two_workers:
        one = {fd.concurrency: fd for fd, _ in levels}
        pair = max(two_workers, key=lambda result: result.rate / one[result.concurrency].rate)
        ratio = pair.rate / one[pair.concurrency].rate
        line(
            f"filedock --workers 2, c={pair.concurrency}",
            f"{pair.rate:.0f} /s",
            latency(pair),
            f"{ratio:.2f}x 1 worker",
            ">= 1.70x",
            verdict(ratio >= 1.7),
        )
        # Information, not a verdict: whether a second worker adds as much as the cores it
        # gets (no shared bottleneck), or the machine has no cores left to give it.
        single = one[pair.concurrency]
        per_core = [
            r.rate * r.seconds / r.server_cpu if r.server_cpu else 0.0 for r in (single, pair)
        ]
        print(
            f"  per server CPU-second: 1 worker {per_core[0]:.0f}, 2 workers {per_core[1]:.0f} "
            f"({per_core[1] / per_core[0] if per_core[0] else 0:.2f}x); cores used, server + "
            f"client: 1 worker {single.server_cpu / single.seconds:.2f} + "
            f"{single.client_cpu / single.seconds:.2f}, 2 workers "
            f"{pair.server_cpu / pair.seconds:.2f} + {pair.client_cpu / pair.seconds:.2f} "
            f"of {os.cpu_count()}"
        )
    median = {name: statistics.median(secs) for name, secs in times.items()}
    for name, what in (
        ("sha256sum", "sha256sum FILE (reference)"),
        ("clamdscan", "clamdscan --stream FILE (reference)"),
    ):
        line(what, f"{size / median[name] / MB:.0f} MB/s", f"{median[name]:.2f} s", "", "", "")
    both = median["sha256sum"] + median["clamdscan"]
    ratio = median["filedock"] / both
    line(
        "filedock upload -> ready (processing)",
        f"{size / median['filedock'] / MB:.0f} MB/s",
        f"{median['filedock']:.2f} s",
        f"{ratio:.2f}x sum of refs",
        "<= 1.20x",
        verdict(ratio <= 1.2),
    )
    print(
        "\nCPU seconds per second of the window (2.0 = both cores): "
        + "; ".join(
            f"c={fd.concurrency} filedock {fd.server_cpu / fd.seconds:.2f} + client "
            f"{fd.client_cpu / fd.seconds:.2f}, bare {bare.server_cpu / bare.seconds:.2f} + "
            f"client {bare.client_cpu / bare.seconds:.2f}"
            for fd, bare in levels
        )
    )
    print(
        "CPU seconds per second stolen from this machine by its host (steal, all cores): "
        + "; ".join(
            f"c={fd.concurrency} filedock {fd.stolen_cpu / fd.seconds:.2f}, bare "
            f"{bare.stolen_cpu / bare.seconds:.2f}"
            for fd, bare in levels
        )
        + "".join(
            f"; 2 workers c={r.concurrency} {r.stolen_cpu / r.seconds:.2f}" for r in two_workers
        )
    )
    print(
        f"processing: {args.size_mib} MiB of random bytes (clean), median of {args.repeat} runs "
        "after one warm-up round, each step on a warm page cache; filedock's time runs from "
        "the upload's response to the first HEAD /v1/file/<id> not answering 409 (polled "
        f"every {args.poll_ms:g} ms, {statistics.median(polls):.0f} polls; nothing "
        "subtracted); MB = 10^6 bytes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per level")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured load first")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    parser.add_argument("--users", type=int, default=64, help="distinct user-id values")
    parser.add_argument("--size-mib", type=int, default=100, help="file for processing")
    parser.add_argument("--repeat", type=int, default=3, help="processing runs")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="readiness poll interval")
    parser.add_argument("--log-level", default="info", help="filedock's (info is the default)")
    parser.add_argument(
        "--no-scaling", action="store_true", help="skip the `serve --workers 2` measurement"
    )
    parser.add_argument("--work-dir", type=Path, default=Path(__file__).resolve().parent / ".work")
    args = parser.parse_args()
    args.concurrency = [int(level) for level in args.concurrency.split(",")]
    work = args.work_dir.resolve() / "signing"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    clamdscan = preflight()
    size, big = args.size_mib * 1024 * 1024, work / f"random-{args.size_mib}MiB.bin"
    with open(big, "wb") as handle:
        for offset in range(0, size, CHUNK):
            handle.write(os.urandom(min(CHUNK, size - offset)))
    fd_port, bare_port = free_port(), free_port()
    try:
        with clamd_running(work / "clamd") as clamd_config:
            env = filedock_env(work / "data", fd_port, clamd_config, args.log_level)
            command = [sys.executable, "-m", "filedock", "serve", "--port", str(fd_port)]
            with serving(command, env, work / "filedock.log", fd_port) as fd_pid:
                key = filedock_cli(env, "apikey", "create", "--name", "bench")
                probe = request_bytes(
                    HOST, fd_port, SIGNED_URL, {"api-key": key, "user-id": str(uuid.uuid4())}
                )
                status, body = asyncio.run(fetch_once(HOST, fd_port, probe))
                if status != 200 or "file_url" not in json.loads(body):
                    raise RuntimeError(f"signed-url answered {status}: {body[:300]!r}")
                # The bare body is padded to filedock's length: same bytes on the wire.
                empty = json.dumps({"file_id": "0" * 36, "padding": ""}, separators=(",", ":"))
                (work / "bare_app.py").write_text(BARE_APP)
                bare_env = {
                    **os.environ,
                    "PYTHONPATH": str(work),
                    "BARE_PADDING": str(max(0, len(body) - len(empty))),
                }
                bare = [sys.executable, str(work / "bare_app.py"), str(bare_port)]
                with serving(bare, bare_env, work / "bare.log", bare_port) as bare_pid:
                    print(f"signed-url: body {len(body)} bytes; loading", flush=True)
                    levels = load_levels(fd_port, fd_pid, bare_port, bare_pid, key, args)
                two_workers: list[LoadResult] = []
                if not args.no_scaling:
                    print("signed-url: filedock serve --workers 2", flush=True)
                    port2 = free_port()
                    env2 = {**env, "FILEDOCK_PUBLIC_URL": f"http://{HOST}:{port2}"}
                    serve2 = [*command[:-1], str(port2), "--workers", "2"]
                    with serving(serve2, env2, work / "filedock-2.log", port2) as pid2:
                        two_workers = two_worker_levels(port2, pid2, key, args)
                print(f"processing: {args.size_mib} MiB, {args.repeat} runs", flush=True)
                scan = [clamdscan, f"--config-file={clamd_config}", "--stream", "--no-summary"]
                times, polls = processing_runs(big, fd_port, env, scan, args)
    finally:
        big.unlink(missing_ok=True)
    report(levels, two_workers, times, polls, size, args)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
