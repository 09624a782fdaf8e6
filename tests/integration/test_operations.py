"""Health, readiness, metrics and the OpenAPI document of a real server."""

from __future__ import annotations

import shutil

from tests.fixtures.server import LiveServer


def test_healthz_and_readyz_answer_ok(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}


def test_metrics_expose_request_and_file_counts(server: LiveServer) -> None:
    with server.client() as client:
        client.get("/healthz")
        text = client.get("/metrics").text
    assert "filedock_http_requests_total" in text
    assert 'route="/healthz"' in text


def test_openapi_and_docs_are_served(server: LiveServer) -> None:
    with server.client() as client:
        spec = client.get("/openapi.json").json()
        assert "/v1/file/{file_id}" in spec["paths"]
        assert client.get("/docs").status_code == 200


def test_readyz_reports_a_missing_store(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.fixtures.server import server_env

    data_dir = tmp_path_factory.mktemp("readyz")
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir))
    live.start()
    try:
        shutil.rmtree(data_dir / "objects")
        with live.client() as client:
            ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["storage"] == "unavailable"
    finally:
        live.stop()
