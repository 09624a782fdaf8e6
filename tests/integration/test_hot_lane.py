"""Plain routes' requests skip FastAPI's stack (hot_routes.py) but none of what filedock's own
layers promise every answer: a request id, a log line and metrics, CORS for browsers, the cap
on bodies read at once (shared with the router's way in), and a 500 that says nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from filedock.observability import REQUESTS
from tests.integration.in_process import in_process_app

SIGNED_URL = "/v1/files/signed-url?filename=report.pdf"
ORIGIN = "https://app.example.org"


async def test_a_plain_routes_answer_carries_its_request_id_and_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = REQUESTS.labels("GET", "/v1/files/signed-url", "401")
    before = series._value.get()
    async with in_process_app(tmp_path, monkeypatch) as running:
        response = await running.http.get(SIGNED_URL, headers={"X-Request-ID": "lane-1"})

    assert response.status_code == 401  # the face's own envelope: no credentials
    assert response.json()["error_code"]
    assert response.headers["x-request-id"] == "lane-1"
    assert series._value.get() == before + 1


async def test_a_browser_on_an_allowed_origin_can_read_a_plain_routes_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILEDOCK_CORS_ORIGINS", ORIGIN)
    async with in_process_app(tmp_path, monkeypatch) as running:
        from_browser = await running.http.get(SIGNED_URL, headers={"Origin": ORIGIN})
        from_backend = await running.http.get(SIGNED_URL)
        upload = await running.http.post(
            "/v1/file/a.txt", content=b"x", headers={"Origin": "https://other.example"}
        )

    assert from_browser.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-Id" in from_browser.headers["access-control-expose-headers"]
    # Every face answer varies on Origin, so no cache hands one origin's answer to another.
    for response in (from_browser, from_backend, upload):
        assert "Origin" in response.headers["vary"], response.headers
    assert "access-control-allow-origin" not in upload.headers


async def test_bodies_through_the_lane_and_through_the_router_share_one_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILEDOCK_MAX_CONCURRENT_UPLOADS", "1")
    release = asyncio.Event()

    async def stalled_body() -> AsyncIterator[bytes]:
        yield b"first part"
        await release.wait()
        yield b"the rest"

    async with in_process_app(tmp_path, monkeypatch) as running:
        # A plain route's upload (the lane) holds the one slot while its body is read...
        holding = asyncio.create_task(
            running.http.post(
                "/v1/file/held.txt",
                content=stalled_body(),
                headers={"Content-Length": "18", "Authorization": "Bearer x"},
            )
        )
        await asyncio.sleep(0.2)
        # ...so a body through the router's stack is refused at once, and the other way round.
        through_router = await running.http.put("/_blobs/uploads/x", content=b"data")
        release.set()
        await holding
        after = await running.http.put("/_blobs/uploads/x", content=b"data")

    assert through_router.status_code == 503, through_router.text
    assert "too many uploads" in through_router.text
    assert after.status_code != 503  # the slot came back when the lane's body was in


async def test_an_error_escaping_a_plain_route_is_a_500_that_says_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with in_process_app(tmp_path, monkeypatch) as running:
        (route, _) = running.app.hot_table.find("GET", "/v1/files/signed-url") or (None, None)
        assert route is not None

        async def broken(*_: Any) -> None:
            raise RuntimeError("secret detail of the failure")

        monkeypatch.setattr(route, "handle_plainly", broken)
        response = await running.http.get(SIGNED_URL, headers={"X-Request-ID": "lane-500"})

    assert response.status_code == 500
    # As Starlette's error layer answers on the full stack: the request id, nothing more.
    assert json.loads(response.content) == {"error": "internal server error (request id lane-500)"}
    assert "secret" not in response.text
