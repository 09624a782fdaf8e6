"""An unexpected failure inside the catalogue: 500 GENERIC_ERROR_OCCURRED, generic, with the
request id, and the exception only in the log (the seed's 500s leak Python errors).

The app is real (SQLite, real request handling, called through ASGI); only the catalogue's
item store is swapped for one that fails, to provoke what cannot be provoked from outside.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from filedock.core.account_model import AccountType
from tests.integration.in_process import in_process_app


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
    async with in_process_app(tmp_path, monkeypatch) as app:
        admin = await app.runtime.services.accounts.create("ann@example.org", AccountType.ADMIN)
        token = app.runtime.services.accounts.issue_token(admin)
        app.runtime.services.catalogue._items = ExplodingItems()  # type: ignore[assignment]
        headers = {"Authorization": f"Bearer {token}"}
        with caplog.at_level(logging.ERROR):
            response = await app.http.request(method, path, json=body, headers=headers)
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
