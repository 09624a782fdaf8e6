"""An unexpected failure inside the catalogue: 500 GENERIC_ERROR_OCCURRED, generic, with the
request id, and the exception only in the log (the seed's 500s leak Python errors).

The app is real (SQLite, real request handling, called through ASGI); only the catalogue's
item store is swapped for one that fails, to provoke what cannot be provoked from outside.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from filedock.app import create_app
from filedock.config import load_settings
from filedock.core.accounts import AccountType
from filedock.db.migrate import upgrade
from filedock.runtime import build_runtime


class ExplodingItems:
    async def search(self, text: str, *, limit: int) -> Any:
        raise RuntimeError("byte indices must be integers or slices, not str: /srv/secret")

    async def insert(self, item: Any) -> Any:
        raise RuntimeError("'WSGIRequest' object has no attribute 'query': /srv/secret")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/catalogue/items/?query=IoT", None),
        ("POST", "/catalogue/items/", {"name": "iot_events", "spec": []}),
    ],
)
async def test_an_unexpected_catalogue_error_is_generic_with_the_request_id(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    body: Any,
) -> None:
    monkeypatch.setenv("FILEDOCK_DATA_DIR", str(tmp_path))
    settings = load_settings()
    upgrade(settings.resolved_database_url)
    app = create_app(settings, migrate=False)
    runtime = build_runtime(settings)
    admin = await runtime.accounts.create("ann@example.org", AccountType.ADMIN)
    token = runtime.accounts.issue_token(admin)
    runtime.catalogue._items = ExplodingItems()  # type: ignore[assignment]
    app.state.runtime = runtime
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"}
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.request(method, path, json=body, headers=headers)
    await runtime.close()
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "@event": "GENERIC_ERROR_OCCURRED",
        "@type": "error",
        "errors": [f"An unexpected error occurred (request id {request_id})."],
        "user_id": admin.id,
    }
    assert "secret" not in response.text
    assert any("/srv/secret" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
