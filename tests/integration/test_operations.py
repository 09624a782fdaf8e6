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


METRICS_TOKEN = "scraper-secret-0123456789"
SERVER_SETTINGS = {"metrics_token": METRICS_TOKEN}


def test_metrics_expose_request_and_file_counts(server: LiveServer) -> None:
    with server.client() as client:
        client.get("/healthz")
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert "filedock_http_requests_total" in text
    assert 'route="/healthz"' in text


def test_a_made_up_method_is_counted_as_other_not_as_a_series_of_its_own(
    server: LiveServer,
) -> None:
    made_up = "BREWCOFFEE"
    with server.client() as client:
        for _ in range(3):
            client.request(made_up, "/healthz")
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert made_up not in text
    assert 'method="other",route="/healthz"' in text


def test_one_worker_keeps_its_metrics_in_memory_and_exports_its_process_metrics(
    server: LiveServer,
) -> None:
    # `--workers 1` (the fixture's): prometheus_client's multiprocess mode, which a folder of
    # shared files would mean, exports no process metrics.
    with server.client() as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert "process_resident_memory_bytes" in text


def test_metrics_need_the_token_when_one_is_set(server: LiveServer) -> None:
    with server.client() as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    for response in (missing, wrong):
        assert response.status_code == 401 and set(response.json()) == {"error"}
        assert "filedock_http_requests_total" not in response.text


def test_metrics_are_not_served_without_a_token_unless_public(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.fixtures.server import server_env

    for public, expected in (("false", 404), ("true", 200)):
        data_dir = tmp_path_factory.mktemp(f"metrics-{public}")
        live = LiveServer(data_dir=data_dir, env=server_env(data_dir, metrics_public=public))
        live.start()
        try:
            with live.client() as client:
                assert client.get("/metrics").status_code == expected
        finally:
            live.stop()


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
