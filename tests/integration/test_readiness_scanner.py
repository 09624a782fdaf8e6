"""`/readyz` asks clamd when one is configured, and the probes answer `HEAD` as load
balancers send it; a real server with the session's real clamd, and one whose clamd is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.clamd import ClamdServer
from tests.fixtures.server import LiveServer, server_env


def started(data_dir: Path, **settings: str) -> LiveServer:
    server = LiveServer(data_dir=data_dir, env=server_env(data_dir, **settings))
    server.start()
    return server


@pytest.fixture(scope="module")
def scanning(
    tmp_path_factory: pytest.TempPathFactory, clamd_server: ClamdServer
) -> Iterator[LiveServer]:
    server = started(tmp_path_factory.mktemp("scanning"), clamd_url=clamd_server.unix_url)
    try:
        yield server
    finally:
        server.stop()


def test_readyz_checks_the_configured_clamd(scanning: LiveServer) -> None:
    with scanning.client() as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok", "scanner": "ok"}


def test_readyz_is_unavailable_while_clamd_does_not_answer(tmp_path: Path) -> None:
    # A socket path nobody listens on: clamd stopped, or never started.
    server = started(tmp_path, clamd_url=f"unix://{tmp_path}/no-clamd.sock")
    try:
        with server.client() as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {
                "status": "unavailable",
                "checks": {"database": "ok", "storage": "ok", "scanner": "unavailable"},
            }
            # Alive all the same: a scanner outage is not a reason to restart the process.
            assert client.get("/healthz").status_code == 200
    finally:
        server.stop()


def test_readyz_has_no_scanner_check_without_clamd(tmp_path: Path) -> None:
    server = started(tmp_path)
    try:
        with server.client() as client:
            assert client.get("/readyz").json()["checks"] == {"database": "ok", "storage": "ok"}
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_head(scanning: LiveServer, path: str) -> None:
    with scanning.client() as client:
        response = client.head(path)
    assert response.status_code == 200 and response.content == b""
