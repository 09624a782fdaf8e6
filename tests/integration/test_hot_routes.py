"""Plain routes dispatched directly (hot_routes.py) answer as FastAPI's router would.

The dispatch skips the router's matching; it must never pick a route the router would not
have picked (a parametrised route declared earlier would win there), and the answer, the
route the metrics are labelled with, the path parameters and the face's error envelope must
be the same.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from filedock.hot_routes import HotTable
from tests.integration.in_process import in_process_app


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    async with in_process_app(tmp_path, monkeypatch) as running:
        yield running.app


def _hot_table(app: FastAPI) -> HotTable:
    table = getattr(app, "hot_table", None)
    assert isinstance(table, HotTable)
    return table


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
    assert ("GET", "/v1/files/signed-url") in _hot_table(app).exact


async def test_the_hasura_upload_is_dispatched_by_the_start_of_its_path(app: FastAPI) -> None:
    starts = {start: route.path for start, route in _hot_table(app).by_start["POST"]}
    assert starts == {"/v1/file/": "/v1/file/{file_id:path}"}


def _requests_for(table: HotTable) -> list[tuple[str, str, Any]]:
    """(method, path, route) of a request each hot route takes: exact paths as they are,
    parametrised ones with an id holding a slash and a space (`{file_id:path}` takes both)."""
    requests = [(method, path, route) for (method, path), route in table.exact.items()]
    for method, candidates in table.by_start.items():
        requests += [(method, f"{start}2024/report 1.pdf", route) for start, route in candidates]
    return requests


async def test_every_hot_route_is_the_route_the_router_picks_and_answers_alike(
    app: FastAPI,
) -> None:
    app.build_middleware_stack()
    requests = _requests_for(_hot_table(app))
    assert len(requests) >= 2
    for method, path, route in requests:
        hot_scope, hot_status, hot_body = await _call(app, app, method, path)
        router_scope, router_status, router_body = await _call(app.router, app, method, path)
        assert hot_scope["route"] is route
        assert router_scope["route"].endpoint is route.endpoint, (method, path)
        assert hot_scope["path_params"] == router_scope["path_params"], (method, path)
        # No credentials: the face's own 401 envelope, by both ways.
        assert (hot_status, hot_body) == (router_status, router_body), (method, path)
        assert hot_status == 401, (method, path, hot_body)
