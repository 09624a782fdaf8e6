"""Anonymous auth requests are limited per client address; a trusted proxy names the client."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.server import LiveServer, server_env


def create(server: LiveServer, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with server.client() as client:
        response = client.post("/accounts/auth_requests/", headers=headers)
    if response.status_code == 429:
        assert response.json()["@event"] == "RATE_LIMIT_EXCEEDED"
        assert int(response.headers["retry-after"]) >= 1
    return response.status_code


def started(tmp_path: Path, **settings: str) -> LiveServer:
    live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path, **settings))
    live.start()
    return live


def test_a_client_past_its_rate_gets_429_and_a_forged_forwarded_for_does_not_help(
    tmp_path: Path,
) -> None:
    live = started(tmp_path, anonymous_rate_per_minute="3")
    try:
        assert [create(live) for _ in range(3)] == [201, 201, 201]
        assert create(live) == 429
        assert create(live, forwarded_for="198.51.100.7") == 429
    finally:
        live.stop()


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(tmp_path: Path) -> None:
    live = started(tmp_path, anonymous_rate_per_minute="2", trusted_proxies="127.0.0.1")
    try:
        assert [create(live, "198.51.100.1") for _ in range(3)] == [201, 201, 429]
        assert create(live, "198.51.100.2") == 201
    finally:
        live.stop()
