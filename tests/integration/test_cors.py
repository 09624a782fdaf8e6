"""CORS through a real server: preflights per face, the headers on actual answers, refusals.

The browser's side of the same rules is in test_cors_browser.py; these tests send what a
browser sends (`Origin`, `Access-Control-Request-*`) and read what it would read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import LiveServer, server_env

APP = "https://app.example.org"
OTHER_APP = "http://localhost:5173"
STRANGER = "https://evil.example.net"
SERVER_SETTINGS = {"cors_origins": f"{APP}, {OTHER_APP}"}
pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)

# (face, a path under it, the method a page would use, the headers it would send)
FACE_CALLS = [
    ("signed-url", "/v1/files/signed-url", "GET", "api-key,user-id"),
    ("hasura", f"/v1/file/{uuid.uuid4()}", "GET", "authorization,range,if-none-match"),
    ("hasura upload", f"/v1/file/{uuid.uuid4()}", "POST", "authorization,content-type"),
    ("blobs", "/_blobs/landing/report.pdf", "PUT", "content-type"),
    ("blobs form", "/_blobs/", "POST", ""),
    ("s3-command", "/api/v2/s3/create_signed_url", "POST", "authorization,content-type"),
    ("schedules", "/api/v1/presigned-urls/", "GET", "accesstoken,idtoken"),
    ("schedules remove", f"/api/v1/schedules/{uuid.uuid4()}/documents/", "DELETE", "idtoken"),
    ("cosphere accounts", "/accounts/me/", "GET", "authorization"),
    ("cosphere catalogue", "/catalogue/items/", "POST", "authorization,content-type"),
]


def preflight(
    server: LiveServer, path: str, origin: str, method: str, headers: str
) -> httpx.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    with server.client() as client:
        return client.options(path, headers=asked)


def listed(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


@pytest.mark.parametrize(("face", "path", "method", "headers"), FACE_CALLS)
def test_preflight_from_an_allowed_origin_allows_the_faces_method_and_headers(
    server: LiveServer, face: str, path: str, method: str, headers: str
) -> None:
    # No credentials at all: a browser never sends them on a preflight.
    response = preflight(server, path, OTHER_APP, method, headers)
    assert response.status_code == 204, (face, response.text)
    assert response.headers["access-control-allow-origin"] == OTHER_APP
    assert method.lower() in listed(response.headers["access-control-allow-methods"])
    assert listed(headers) <= listed(response.headers["access-control-allow-headers"])
    assert "origin" in listed(response.headers["vary"])
    assert int(response.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(("face", "path", "method", "headers"), FACE_CALLS)
def test_preflight_from_an_unlisted_origin_is_refused_without_allow_headers(
    server: LiveServer, face: str, path: str, method: str, headers: str
) -> None:
    response = preflight(server, path, STRANGER, method, headers)
    assert response.status_code == 403, face
    assert not any(name.startswith("access-control-") for name in response.headers)
    assert "origin" in listed(response.headers["vary"])


def test_a_preflight_lists_the_faces_own_methods_not_every_method(server: LiveServer) -> None:
    command = preflight(server, "/api/v2/s3/create_signed_url", APP, "DELETE", "")
    assert listed(command.headers["access-control-allow-methods"]) == {"post"}
    keys = preflight(server, "/v1/files/signed-url", APP, "GET", "authorization")
    assert "authorization" not in listed(keys.headers["access-control-allow-headers"])


def test_answers_to_an_allowed_origin_are_readable_errors_included(server: LiveServer) -> None:
    with server.client() as client:
        missing = client.get(
            f"/v1/file/{uuid.uuid4()}", headers={"Origin": APP, **server.auth("42")}
        )
        anonymous = client.get(f"/v1/file/{uuid.uuid4()}", headers={"Origin": APP})
    assert (missing.status_code, anonymous.status_code) == (404, 401)
    for response in (missing, anonymous):
        assert response.headers["access-control-allow-origin"] == APP
        exposed = listed(response.headers["access-control-expose-headers"])
        assert {"etag", "content-length", "content-range", "location"} <= exposed
        assert "origin" in listed(response.headers["vary"])
        assert "access-control-allow-credentials" not in response.headers


def test_answers_to_an_unlisted_origin_carry_no_cors_headers(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get(f"/v1/file/{uuid.uuid4()}", headers={"Origin": STRANGER})
    assert response.status_code == 401
    assert not any(name.startswith("access-control-") for name in response.headers)
    assert "origin" in listed(response.headers["vary"])


def test_vary_names_origin_once_beside_what_the_face_varies_on(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get("/api/v1/presigned-urls/", headers={"Origin": APP})
    assert response.status_code == 401
    assert response.headers.get_list("vary") == ["Accept, Cookie, Origin"]
    assert response.headers["access-control-allow-origin"] == APP


def test_operations_endpoints_are_not_opened_to_browsers(server: LiveServer) -> None:
    with server.client() as client:
        health = client.get("/healthz", headers={"Origin": APP})
        asked = client.options(
            "/metrics", headers={"Origin": APP, "Access-Control-Request-Method": "GET"}
        )
    assert health.status_code == 200
    assert asked.status_code != 204
    for response in (health, asked):
        assert "access-control-allow-origin" not in response.headers


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose FILEDOCK_CORS_ORIGINS is `*`."""
    data_dir: Path = tmp_path_factory.mktemp("cors-any")
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir, cors_origins="*"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_any_origin_is_answered_with_a_star_and_never_with_credentials(
    server: LiveServer, open_server: LiveServer
) -> None:
    asked = preflight(open_server, "/v1/file/x", STRANGER, "GET", "authorization")
    assert asked.status_code == 204
    assert asked.headers["access-control-allow-origin"] == "*"
    assert "authorization" in listed(asked.headers["access-control-allow-headers"])
    with open_server.client() as client:
        answer = client.get("/v1/file/x", headers={"Origin": STRANGER})
    assert answer.headers["access-control-allow-origin"] == "*"
    for response in (asked, answer):
        assert "access-control-allow-credentials" not in response.headers


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server without FILEDOCK_CORS_ORIGINS: the default."""
    data_dir: Path = tmp_path_factory.mktemp("cors-none")
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_without_the_setting_no_origin_is_allowed(
    server: LiveServer, closed_server: LiveServer
) -> None:
    asked = preflight(closed_server, "/v1/file/x", APP, "GET", "authorization")
    with closed_server.client() as client:
        answer = client.get("/v1/file/x", headers={"Origin": APP})
    assert asked.status_code != 204
    for response in (asked, answer):
        assert not any(name.startswith("access-control-") for name in response.headers)
