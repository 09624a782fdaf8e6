"""Transfer benchmark (issues 2, 14): filedock upload/download of one big file, and 1 KB
uploads under load, against references.

Run from the repository root with the project's venv:

    .venv/bin/python bench/transfer.py [--size-mib 1024] [--repeat 3] [--keep] [--work-dir DIR]

The references (sha256sum, openssl, cp, nginx, a bare receive-and-discard endpoint) and
filedock are measured in the same run on the same file, each step on a warm page cache (dirty
pages flushed, then the input read once), and each is repeated; the table shows the median.
The small-file case loads filedock and a bare write-and-insert endpoint in turn, each round
(bench/upload_refs.py). MB = 10^6 bytes. A missed target prints MISS, but the exit status
stays 0: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path

from processes import RssSampler, cpu_seconds, proc_kb, process_tree, stop
from upload_refs import Bare, bare_in_memory, bare_serving, small_file_rounds, small_lines

MB = 1_000_000
CHUNK = 16 * 1024 * 1024
NGINX_INSTALL = "apt-get update && apt-get install -y nginx"
NGINX_CONF = """daemon off;
{user}worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-tmp;
    proxy_temp_path {work}/nginx-tmp;
    fastcgi_temp_path {work}/nginx-tmp;
    uwsgi_temp_path {work}/nginx-tmp;
    scgi_temp_path {work}/nginx-tmp;
    server {{ listen 127.0.0.1:{port}; root {work}; }}
}}
"""


@dataclass
class Served:
    times: dict[str, list[float]]  # seconds per run: upload, ready (upload -> ready), download
    peaks: dict[str, int]  # peak summed VmRSS of the server's process tree, by phase
    hwm: dict[int, int]  # VmHWM per process of the tree at the end
    pss: int  # summed Pss of the tree at the end (shared pages counted once)
    cpu: dict[str, list[float]]  # server CPU seconds (user + system) per download: nginx, ours


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def warm(path: Path) -> None:
    """Flush dirty pages, then read `path` once: every timed step starts on a warm cache."""
    os.sync()
    with open(path, "rb", buffering=0) as handle:
        while handle.read(CHUNK):
            pass


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def curl(args: list[str], size: int | None = None) -> float:
    """Run curl; returns its total seconds. Checks HTTP 200 and, if given, the bytes received."""
    fmt = "%{http_code} %{size_download} %{time_total}"
    out = subprocess.run(["curl", "-s", "-w", fmt, *args], check=True, capture_output=True)
    code, got, seconds = out.stdout.decode().split()[-3:]
    if code != "200" or (size is not None and int(got) != size):
        raise RuntimeError(f"curl {args[-1]}: HTTP {code}, {got} bytes")
    return float(seconds)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def http_status(url: str, method: str = "GET", token: str | None = None) -> int:
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def not_409(url: str, token: str) -> bool:
    return http_status(url, "HEAD", token) != 409


def ensure_nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if os.geteuid() != 0:
        print(f"nginx is missing; install it with:\n    sudo sh -c '{NGINX_INSTALL}'")
        sys.exit(2)
    print(f"nginx is missing; running: {NGINX_INSTALL}", flush=True)
    subprocess.run(NGINX_INSTALL, shell=True, check=True)
    return shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/bin") or "nginx"


@contextlib.contextmanager
def nginx_serving(work: Path) -> Iterator[tuple[str, int]]:
    """Serve `work` with nginx (sendfile on); yields its base URL and master pid."""
    port, conf = free_port(), work / "nginx.conf"
    (work / "nginx-tmp").mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(user=user, work=work, port=port))
    cmd = [ensure_nginx(), "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf)]
    with open(work / "nginx-stderr.log", "wb") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: http_status(f"{base}/nginx.conf", "HEAD") == 200, 15, "nginx")
            yield base, server.pid
        finally:
            stop(server, [])


def filedock_command() -> str:
    exe = Path(sys.executable).with_name("filedock")
    return str(exe) if exe.exists() else (shutil.which("filedock") or "filedock")


def filedock_runs(
    work: Path,
    big: Path,
    size: int,
    args: argparse.Namespace,
    nginx: tuple[str, int],
    bare: Bare,
) -> Served:
    """Start `filedock serve`, then `repeat` times: upload, wait until ready, download.

    Each filedock upload and download is paired with the bare upload or the nginx download
    of the same bytes right before it, so both see the same machine state (noise on a shared
    VM is large).
    """
    repeat = args.repeat
    data = work / "filedock-data"
    shutil.rmtree(data, ignore_errors=True)
    cmd = filedock_command()
    base = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "FILEDOCK_LOG_LEVEL": "warning",
        "FILEDOCK_RATE_LIMIT_PER_SECOND": "0",  # a throughput test, not a limiter test
        "FILEDOCK_SWEEP_SECONDS": "3600",  # no sweep round inside a timed window
    }
    serve = [
        cmd,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        base.rsplit(":", 1)[1],
        "--data-dir",
        str(data),
    ]
    times: dict[str, list[float]] = {
        "bare": [],
        "upload": [],
        "ready": [],
        "nginx": [],
        "download": [],
    }
    cpu: dict[str, list[float]] = {"nginx": [], "download": []}
    with open(work / "filedock.log", "wb") as log:
        server = subprocess.Popen(serve, stdout=log, stderr=log, env=env)
        descendants: list[int] = []
        try:
            wait_until(lambda: http_status(f"{base}/healthz") == 200, 60, "filedock /healthz")
            descendants = process_tree(server.pid)[1:]
            print(f"filedock serve pid {server.pid}, descendants {descendants}", flush=True)
            token = subprocess.run(
                [cmd, "token", "create", "--user", "bench", "--data-dir", str(data)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout.strip()
            auth = ["-H", f"Authorization: Bearer {token}"]
            sampler = RssSampler(server.pid)
            sampler.start()
            # Idle: served /healthz and a token was made, nothing moved yet (issue 14's
            # "idle RSS of the whole server tree").
            time.sleep(3)
            for n in range(repeat):
                url = f"{base}/v1/file/bench-{n}"
                warm(big)
                upload = ["-X", "POST", "-T", str(big), "-H", "Expect:"]
                times["bare"].append(curl(["-o", "/dev/null", *upload, f"{bare.base}/discard/{n}"]))
                warm(big)
                sampler.phase = "upload"
                # -T streams the file (--data-binary @file reads it all into curl's memory
                # first); "Expect:" stops curl from waiting for a 100-continue.
                kind = ["-H", "Content-Type: application/octet-stream"]
                times["upload"].append(
                    curl(["-o", str(work / "upload.json"), *upload, *kind, *auth, url])
                )
                answer = json.loads((work / "upload.json").read_text())
                if answer.get("file_status") != "uploaded" or answer.get("file_size") != size:
                    raise RuntimeError(f"upload answered {answer}")
                sampler.phase, start = "processing", time.perf_counter()
                wait_until(partial(not_409, url, token), 600, "the file to be ready")
                times["ready"].append(time.perf_counter() - start)
                stored = max((data / "objects" / "files").iterdir(), key=os.path.getmtime)
                sampler.phase = "download"
                warm(big)
                before = cpu_seconds(nginx[1])
                times["nginx"].append(curl(["-o", "/dev/null", f"{nginx[0]}/{big.name}"], size))
                cpu["nginx"].append(cpu_seconds(nginx[1]) - before)
                warm(stored)
                before = cpu_seconds(server.pid)
                times["download"].append(curl(["-o", "/dev/null", *auth, url], size))
                cpu["download"].append(cpu_seconds(server.pid) - before)
            time.sleep(0.2)
            sampler.stopping.set()
            sampler.join()
            tree = process_tree(server.pid)
            hwm = {pid: proc_kb(f"/proc/{pid}/status", "VmHWM") for pid in tree}
            pss = sum(proc_kb(f"/proc/{pid}/smaps_rollup", "Pss") for pid in tree)
            return Served(times, sampler.peaks, hwm, pss, cpu)
        finally:
            stop(server, descendants)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each step")
    parser.add_argument("--keep", action="store_true", help="keep the big files and data dir")
    parser.add_argument("--work-dir", type=Path, default=Path(__file__).resolve().parent / ".work")
    parser.add_argument("--small-rounds", type=int, default=3, help="1 KB upload rounds")
    parser.add_argument("--small-seconds", type=float, default=5.0, help="measured per round")
    parser.add_argument("--small-concurrency", type=int, default=16, help="connections")
    args = parser.parse_args()
    size, repeat, work = args.size_mib * 1024 * 1024, max(1, args.repeat), args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    big, copy = work / f"random-{args.size_mib}MiB.bin", work / "copy.bin"
    ensure_nginx()
    if not (big.exists() and big.stat().st_size == size):
        print(f"writing {args.size_mib} MiB of random bytes to {big}", flush=True)
        with open(big, "wb") as handle:
            for offset in range(0, size, CHUNK):
                handle.write(os.urandom(min(CHUNK, size - offset)))
    references = {
        "sha256sum": ["sha256sum", str(big)],
        "cp": ["cp", str(big), str(copy)],
        "openssl": ["openssl", "dgst", "-sha256", str(big)],
    }
    runs: dict[str, list[float]] = {name: [] for name in references}
    try:
        for _ in range(repeat):
            for name, command in references.items():
                warm(big)
                runs[name].append(timed(command))
                copy.unlink(missing_ok=True)
        with (
            nginx_serving(work) as nginx,
            bare_serving(work) as bare,
            bare_in_memory(work) as in_memory,
        ):
            fd = filedock_runs(work, big, size, args, nginx, bare)
            # Separate servers: the first processes nothing (as with `filedock worker`
            # processes elsewhere), the second processes each file as `serve` does by default.
            small = {
                worker: small_file_rounds(
                    work, filedock_command(), bare, in_memory, args, worker=worker
                )
                for worker in (False, True)
            }
    finally:
        copy.unlink(missing_ok=True)
        if not args.keep:
            big.unlink(missing_ok=True)
            shutil.rmtree(work / "filedock-data", ignore_errors=True)
            shutil.rmtree(work / "bare-uploads", ignore_errors=True)
            for leftover in work.glob("filedock-small-*"):  # small_file_rounds' folders
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
    runs.update(fd.times)
    rate = {name: size / statistics.median(secs) / MB for name, secs in runs.items()}
    spread = {n: f"{size / max(s) / MB:.0f}-{size / min(s) / MB:.0f}" for n, s in runs.items()}

    def line(name: str, value: str, spread: str, ratio: str, target: str, result: str) -> None:
        print(f"{name:<34} {value:>10} {spread:>11} {ratio:>16}  {target:<9} {result}")

    def check(name: str, what: str, ref: str, goal: float) -> None:
        ratio = rate[name] / rate[ref]
        result = "PASS" if ratio >= goal else "MISS  <<<"
        line(
            what,
            f"{rate[name]:.0f} MB/s",
            spread[name],
            f"{ratio:.2f}x {ref}",
            f">= {goal:.2f}x",
            result,
        )

    print(
        f"\nmachine: nproc={os.cpu_count()}, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, granian {metadata.version('granian')}"
    )
    print(
        f"file: {args.size_mib} MiB of random bytes; each step on a warm page cache (dirty "
        f"pages synced, input read once first); median of {repeat} runs; MB = 10^6 bytes\n"
    )
    line("operation", "median", "min-max", "ratio", "target", "result")
    for name, what, result in (
        ("sha256sum", "sha256sum FILE (reference)", ""),
        ("bare", "bare receive-and-discard (ref.)", ""),
        ("nginx", "nginx sendfile, curl (reference)", ""),
        ("openssl", "openssl dgst -sha256", "info"),
        ("cp", "cp FILE COPY", "info"),
        ("ready", "filedock upload -> ready (job)", "info"),
    ):
        line(what, f"{rate[name]:.0f} MB/s", spread[name], "", "", result)
    check("upload", "filedock upload (POST, curl -T)", "sha256sum", 0.9)
    against_bare = f"{rate['upload'] / rate['bare']:.2f}x bare"
    line("  same, against the bare endpoint", "", "", against_bare, "", "info")
    check("download", "filedock download (GET, curl)", "nginx", 1.0)
    paired = statistics.median(n / f for n, f in zip(runs["nginx"], runs["download"], strict=True))
    line(
        "  same, median of paired runs",
        "",
        "",
        f"{paired:.2f}x nginx",
        ">= 1.00x",
        "PASS" if paired >= 1.0 else "MISS  <<<",
    )
    for worker, rounds in small.items():
        if not rounds:  # --small-rounds 0
            continue
        small_lines(rounds, args.small_concurrency, worker=worker)
    idle = fd.peaks["idle"]
    line(
        "idle RSS, server process tree",
        f"{idle / MB:.0f} MB",
        "",
        "",
        "<= 100 MB",
        "PASS" if idle <= 100 * MB else "MISS  <<<",
    )
    peak = max(fd.peaks.values())
    line(
        "peak RSS, server process tree",
        f"{peak / MB:.0f} MB",
        "",
        "",
        "< 130 MB",
        "PASS" if peak < 130 * MB else "MISS  <<<",
    )
    print(
        "\npeak summed VmRSS by phase (sampled every 50 ms): "
        + ", ".join(f"{phase} {value / MB:.0f} MB" for phase, value in fd.peaks.items())
    )
    mib = size / 2**30
    print(
        "server CPU seconds per GiB downloaded (median): "
        + ", ".join(
            f"{name} {statistics.median(secs) / mib:.2f} s"
            for name, secs in (("nginx", fd.cpu["nginx"]), ("filedock", fd.cpu["download"]))
        )
        + "; curl itself is the same client for both"
    )
    print(
        "VmHWM per process at the end: "
        + ", ".join(f"pid {pid} {value / MB:.0f} MB" for pid, value in fd.hwm.items())
        + f"; summed Pss at the end {fd.pss / MB:.0f} MB"
    )


if __name__ == "__main__":
    main()
