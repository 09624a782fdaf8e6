"""`filedock serve` with one worker is one process: Granian embedded in its event loop.

A Granian master beside a single worker cost about 25 MB of the server's memory (issue 14:
idle ≤ 100 MB for the whole tree) and supervised nothing a service manager does not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.fixtures.server import LiveServer, children, free_port, server_env


def test_one_worker_serves_from_the_serve_process_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path), workers=1)
    live.start()
    try:
        assert live.process is not None
        assert children(live.process.pid) == set()
        assert httpx.get(f"{live.base_url}/healthz", timeout=5).status_code == 200

        live.process.send_signal(signal.SIGTERM)
        assert live.process.wait(timeout=15) == 0
    finally:
        live.stop()
    log = live.log_text()
    assert "filedock is serving" in log and "Traceback" not in log


def test_an_upload_in_flight_at_sigterm_is_finished_and_kept(tmp_path: Path) -> None:
    live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path), workers=1)
    live.start()
    assert live.process is not None
    outcome: list[httpx.Response] = []
    sending = threading.Event()
    body = b"x" * (64 * 1024)

    def slow_upload() -> None:
        def pieces() -> Iterator[bytes]:
            for n in range(20):  # about 2 s
                if n == 3:
                    sending.set()
                time.sleep(0.1)
                yield body

        headers = {**live.auth("alice"), "Content-Type": "application/octet-stream"}
        with live.client() as client:
            outcome.append(client.post("/v1/file/in-flight", content=pieces(), headers=headers))

    upload = threading.Thread(target=slow_upload)
    try:
        upload.start()
        assert sending.wait(10)
        live.process.send_signal(signal.SIGTERM)
        upload.join(30)
        assert live.process.wait(timeout=30) == 0
    finally:
        live.stop()

    assert [answer.status_code for answer in outcome] == [200]
    assert outcome[0].json()["file_size"] == 20 * len(body)
    live.start()  # the same data folder: the file was kept
    try:
        deadline = time.monotonic() + 30
        with live.client() as client:
            kept = client.get("/v1/file/in-flight", headers=live.auth("alice"))
            while kept.status_code == 409:  # being processed, after the restart
                assert time.monotonic() < deadline, "the file never became ready"
                time.sleep(0.1)
                kept = client.get("/v1/file/in-flight", headers=live.auth("alice"))
        assert kept.status_code == 200 and kept.content == body * 20
    finally:
        live.stop()


def test_an_application_that_stops_by_itself_ends_the_process_with_an_error(
    tmp_path: Path,
) -> None:
    # The real embedded server, given an application whose start-up fails (as a database
    # gone between `serve`'s migration and the application's start would make it fail).
    program = textwrap.dedent(
        f"""
        import filedock.server as server

        async def failing(scope, receive, send):
            if scope["type"] == "lifespan":
                await receive()
                await send({{"type": "lifespan.startup.failed", "message": "no database"}})

        server.application = lambda: failing
        server._serve_alone("127.0.0.1", "{free_port()}", "")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={**env, "FILEDOCK_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    output = done.stdout + done.stderr  # Granian's own lines go to stdout
    assert done.returncode == 1, output
    assert "no database" in output and "Traceback" not in output, output
    assert time.monotonic() - started < 30
