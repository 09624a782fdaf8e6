"""A server worker killed with SIGKILL (the OOM killer, an operator) is replaced.

Granian's master used to stop the surviving worker and exit when one died, so one dead
process took the whole server down.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import LiveServer, children, server_env

REQUESTS = 200
KILL_AFTER = 60
# Requests that were on the killed worker's connections at that moment may fail.
ALLOWED_FAILURES = 5


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(data_dir=tmp_path, env=server_env(tmp_path), workers=2)
    server.start()
    yield server
    server.stop()


def test_a_killed_worker_is_replaced_while_the_other_keeps_answering(live: LiveServer) -> None:
    assert live.process is not None
    master = live.process.pid
    workers = wait_for_children(master, lambda pids: len(pids) == 2)
    outcomes: list[int | str] = []
    requests = threading.Thread(target=ask_health, args=(live, outcomes), daemon=True)
    requests.start()
    deadline = time.monotonic() + 10
    while len(outcomes) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    killed, survivor = sorted(workers)
    os.kill(killed, signal.SIGKILL)
    requests.join(timeout=60)

    assert not requests.is_alive()
    failures = [outcome for outcome in outcomes if outcome != 200]
    assert len(outcomes) == REQUESTS and len(failures) <= ALLOWED_FAILURES, failures
    after = wait_for_children(master, lambda pids: len(pids) == 2 and killed not in pids)
    assert survivor in after and len(after - workers) == 1
    assert live.process.poll() is None, "the master exited"
    assert httpx.get(f"{live.base_url}/healthz", timeout=2).status_code == 200


def ask_health(live: LiveServer, outcomes: list[int | str]) -> None:
    """`REQUESTS` GETs of /healthz over about 5 s, each on a connection of its own."""
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=live.base_url, timeout=2, limits=no_reuse) as client:
        for _ in range(REQUESTS):
            try:
                outcomes.append(client.get("/healthz").status_code)
            except httpx.HTTPError as exc:
                outcomes.append(type(exc).__name__)
            time.sleep(0.02)


def wait_for_children(
    pid: int, wanted: Callable[[set[int]], bool], timeout: float = 20
) -> set[int]:
    """The pids of `pid`'s children once `wanted(pids)` holds; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        pids = children(pid)
        if wanted(pids):
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"children of {pid} are {pids}, not what the test waits for")
        time.sleep(0.1)
