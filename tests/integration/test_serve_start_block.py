"""`filedock serve` as a person starts it: on a terminal, readable log lines and, once (not
once per worker process), a short block saying where filedock answers and how to make a first
credential. Where stderr is not a terminal (a collector, a file), or when asked, JSON lines.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.fixtures.server import free_port, server_env

WORKERS = 2


@contextmanager
def serving(
    data_dir: Path, stderr: int | IO[bytes], stdout: IO[bytes], **settings: str
) -> Iterator[str]:
    """`filedock serve` with WORKERS workers until healthy; its URL. Stopped (SIGTERM) after."""
    port = free_port()
    env = server_env(data_dir, **settings)
    # As a person runs it: the public URL is left for `serve` to work out.
    env.pop("FILEDOCK_PUBLIC_URL", None)
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "filedock", "serve"),
            *("--port", str(port), "--workers", str(WORKERS), "--data-dir", str(data_dir)),
        ],
        env=env,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "filedock serve exited early"
            assert time.monotonic() < deadline, "filedock serve did not become healthy"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        # An access line, from whichever worker takes it.
        assert httpx.get(f"{url}/", timeout=10).status_code == 200
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def block_lines(url: str, data_dir: Path) -> list[str]:
    where = f"--data-dir {data_dir.resolve()}"
    return [
        f"filedock is serving at {url}",
        f"  listening  127.0.0.1:{url.rsplit(':', 1)[1]}, {WORKERS} worker processes",
        f"  API docs   {url}/docs  (ReDoc: /redoc, schema: /openapi.json)",
        f"  health     {url}/healthz  (ready: /readyz)",
        f"  metrics    {url}/metrics  (off: set FILEDOCK_METRICS_TOKEN, "
        "or FILEDOCK_METRICS_PUBLIC=true)",
        "  a first credential, from another terminal:",
        f"    signed-url API  filedock apikey create --name my-backend {where}",
        f"    cosphere API    filedock account create --email you@example.org --type ADMIN {where}",
        f"                    filedock account token --email you@example.org {where}",
    ]


def test_on_a_terminal_serve_prints_readable_lines_and_the_start_block_once(
    tmp_path: Path,
) -> None:
    terminal, stderr = pty.openpty()
    captured = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # EIO: every writer closed its end
                return
            if not chunk:
                return
            captured.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    with (tmp_path / "stdout").open("wb") as stdout:
        try:
            with serving(tmp_path / "data", stderr, stdout) as url:
                ui_status = httpx.get(f"{url}/ui/", timeout=5).status_code
                # Each worker logs its start: both have, before the block is checked.
                time.sleep(1)
        finally:
            os.close(stderr)
            reader.join(timeout=10)
            os.close(terminal)
    coloured = captured.decode(errors="replace").replace("\r\n", "\n")
    text = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    lines = text.splitlines()

    for line in block_lines(url, tmp_path / "data"):
        assert lines.count(line) == 1, f"{line!r} in:\n{text}"
    # The UI it names is served, and the line says how to sign in to it.
    assert ui_status == 200
    assert f"  UI         {url}/ui/  (sign in: filedock ui-link --user NAME)" in lines
    assert not any(line.lstrip().startswith("{") for line in lines), text
    # Readable: time, level, event, then key=value pairs, e.g. the request served above.
    started = [line for line in lines if "filedock started" in line]
    assert len(started) == WORKERS, text
    assert any("GET / 200" in line and "request_id=" in line for line in lines), text
    assert coloured != text, "a terminal gets colours"


@pytest.mark.parametrize("log_format", ["json", None], ids=["asked", "auto-on-a-file"])
def test_serve_logs_json_lines_and_says_where_it_serves_in_one_of_them(
    tmp_path: Path, log_format: str | None
) -> None:
    settings = {"log_format": log_format} if log_format else {}
    data_dir = tmp_path / "data"
    with (
        (tmp_path / "stderr").open("wb") as stderr,
        (tmp_path / "stdout").open("wb") as stdout,
        serving(data_dir, stderr, stdout, **settings) as url,
    ):
        time.sleep(1)
    logged = (tmp_path / "stderr").read_text() + (tmp_path / "stdout").read_text()

    entries = [json.loads(line) for line in logged.splitlines() if line.strip()]
    assert all({"event", "level", "logger", "timestamp"} <= set(entry) for entry in entries)
    (serving_line,) = [entry for entry in entries if entry["event"] == "filedock is serving"]
    assert serving_line["url"] == url
    assert serving_line["docs"] == f"{url}/docs"
    assert serving_line["healthz"] == f"{url}/healthz"
    assert serving_line["workers"] == WORKERS
    assert serving_line["first_credential"][0] == (
        f"filedock apikey create --name my-backend --data-dir {data_dir.resolve()}"
    )
    assert [e["event"] for e in entries].count("filedock started") == WORKERS
    assert any(e["event"] == "request" and e.get("path") == "/" for e in entries)
    assert any(e["logger"] == "granian" for e in entries)


def test_readable_lines_on_a_file_when_asked_carry_no_colour_codes(tmp_path: Path) -> None:
    with (
        (tmp_path / "stderr").open("wb") as stderr,
        (tmp_path / "stdout").open("wb") as stdout,
        serving(tmp_path / "data", stderr, stdout, log_format="console") as url,
    ):
        pass
    text = (tmp_path / "stderr").read_text()

    assert text.count(f"filedock is serving at {url}\n") == 1
    assert "\x1b[" not in text
    assert not any(line.startswith("{") for line in text.splitlines())


def test_an_unknown_log_format_stops_serve_with_one_line(tmp_path: Path) -> None:
    env = server_env(tmp_path, log_format="xml")
    done = subprocess.run(
        [sys.executable, "-m", "filedock", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "filedock: FILEDOCK_LOG_FORMAT: must be one of auto, console, json (got 'xml')"
    ]
