"""FILEDOCK_CORS_ORIGINS as settings read it, and the CORS middleware's preflight path.

The middleware runs here in front of an ASGI app that records being called: a preflight must
be answered without reaching any face, so it needs no credentials and reads no database.
The whole path through a real server is in tests/integration/test_cors.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from filedock.config import SettingsError, load_settings
from filedock.faces.cors import CrossOrigin


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("", ()),
        ("https://app.example.org", ("https://app.example.org",)),
        ("HTTPS://App.Example.org:443/", ("https://app.example.org",)),
        (
            " http://localhost:5173 , https://a.example:8443",
            ("http://localhost:5173", "https://a.example:8443"),
        ),
        ("http://[::1]:8080", ("http://[::1]:8080",)),
        ("*", ("*",)),
    ],
)
def test_origins_are_read_as_browsers_spell_them(
    written: str, read: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FILEDOCK_CORS_ORIGINS", written)
    assert load_settings(data_dir=tmp_path).cors_origin_list() == read


@pytest.mark.parametrize(
    "written",
    [
        "app.example.org",
        "https://app.example.org/app",
        "https://app.example.org?x=1",
        "https://user@app.example.org",
        "ftp://files.example.org",
        "https://app.example.org:99999",
        "null",
        "*, https://app.example.org",
    ],
)
def test_anything_but_an_origin_stops_start_up_naming_the_setting(
    written: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FILEDOCK_CORS_ORIGINS", written)
    with pytest.raises(SettingsError, match=r"^FILEDOCK_CORS_ORIGINS: .*\(got "):
        load_settings(data_dir=tmp_path)


class Face:
    """An ASGI app standing in for the faces: it counts the requests that reach it."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        headers = [(b"content-type", b"application/json"), (b"vary", b"Accept")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})


async def call(
    app: CrossOrigin, method: str, path: str, origin: str = "", asks: str = ""
) -> httpx.Response:
    """`method path` from a page on `origin` (none if empty); `asks`: a preflight's method."""
    headers = {"Origin": origin} if origin else {}
    if asks:
        headers["Access-Control-Request-Method"] = asks
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://filedock") as client:
        return await client.request(method, path, headers=headers)


async def test_a_preflight_is_answered_without_reaching_any_face() -> None:
    face = Face()
    app = CrossOrigin(face, origins=("https://app.example.org",))
    for origin, status in (("https://app.example.org", 204), ("https://evil.example", 403)):
        response = await call(app, "OPTIONS", "/v1/file/abc", origin, asks="GET")
        assert response.status_code == status
    assert face.calls == 0


async def test_a_plain_options_without_preflight_headers_reaches_the_face() -> None:
    face = Face()
    app = CrossOrigin(face, origins=("https://app.example.org",))
    response = await call(
        app, "OPTIONS", "/api/v1/presigned-urls/", origin="https://app.example.org"
    )
    assert response.status_code == 200 and face.calls == 1


async def test_origin_joins_the_faces_vary_once() -> None:
    app = CrossOrigin(Face(), origins=("https://app.example.org",))
    without = await call(app, "GET", "/v1/file/abc")
    allowed = await call(app, "GET", "/v1/file/abc", origin="https://app.example.org")
    assert without.headers.get_list("vary") == ["Accept, Origin"]
    assert allowed.headers.get_list("vary") == ["Accept, Origin"]
    assert "access-control-allow-origin" not in without.headers
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"


async def test_paths_under_no_face_are_passed_through_untouched() -> None:
    face = Face()
    app = CrossOrigin(face, origins=("*",))
    response = await call(app, "OPTIONS", "/healthz", "https://a.example", asks="GET")
    assert response.status_code == 200 and face.calls == 1
    assert response.headers.get_list("vary") == ["Accept"]
    assert "access-control-allow-origin" not in response.headers
