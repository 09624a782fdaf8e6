"""Plain routes dispatched by exact path (hot_routes.py) answer as FastAPI's router would.

The dispatch skips the router's matching; it must never pick a route the router would not
have picked (a parametrised route declared earlier would win there), and the answer, the
route the metrics are labelled with and the face's error envelope must be the same.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from filedock.hot_routes import HotRoutes
from tests.integration.in_process import in_process_app


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    async with in_process_app(tmp_path, monkeypatch) as running:
        yield running.app


def _hot_table(app: FastAPI) -> dict[tuple[str, str], Any]:
    (hot,) = [m for m in app.user_middleware if m.cls is HotRoutes]
    return dict(hot.kwargs["routes"])


async def _call(asgi: Any, app: FastAPI, method: str, path: str) -> tuple[dict[str, Any], int, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"filename=report.pdf",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "app": app,
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asgi(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return scope, sent[0]["status"], json.loads(body)


async def test_the_signed_url_request_is_dispatched_by_exact_path(app: FastAPI) -> None:
    assert ("GET", "/v1/files/signed-url") in _hot_table(app)


async def test_every_hot_route_is_the_route_the_router_picks_and_answers_alike(
    app: FastAPI,
) -> None:
    app.build_middleware_stack()
    table = _hot_table(app)
    assert table
    for (method, path), route in table.items():
        hot_scope, hot_status, hot_body = await _call(app, app, method, path)
        router_scope, router_status, router_body = await _call(app.router, app, method, path)
        assert hot_scope["route"] is route
        assert router_scope["route"].endpoint is route.endpoint, (method, path)
        # No api-key: the face's own 401 envelope, by both ways.
        assert (hot_status, hot_body) == (router_status, router_body) == (
            401,
            {"error_code": "unauthorized", "detail": "Missing or invalid API key"},
        )
