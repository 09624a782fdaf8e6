"""The redirects filedock makes itself (a path's missing trailing slash) point at
FILEDOCK_PUBLIC_URL, not at the scheme and address the server sees: behind a TLS proxy those
are plain HTTP, and a client following them would send its credentials in clear."""

from __future__ import annotations

import pytest

from tests.fixtures.server import LiveServer

PUBLIC = "https://files.example.org:8443"
SERVER_SETTINGS = {"public_url": PUBLIC}
pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)


@pytest.mark.parametrize("path", ["/ui", "/ui/catalogue", "/v1/files", "/docs/"])
def test_a_trailing_slash_redirect_points_at_the_public_url(
    server: LiveServer, path: str
) -> None:
    with server.client(follow_redirects=False) as client:
        response = client.get(path, headers={"X-Request-ID": "redirect"})
    assert response.status_code in (307, 308), response.text
    location = response.headers["location"]
    assert location.startswith(f"{PUBLIC}/"), location
    assert "127.0.0.1" not in location


def test_a_redirect_built_from_a_proxys_host_header_points_at_the_public_url(
    server: LiveServer,
) -> None:
    # The name a proxy sends in Host is not the public one either.
    with server.client(follow_redirects=False) as client:
        response = client.get("/ui", headers={"Host": "internal-name:8000"})
    assert response.headers["location"] == f"{PUBLIC}/ui/"
