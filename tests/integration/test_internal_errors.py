"""A 500 carries a request id that is in the log, and never the exception's text.

The failure is provoked with an object store that raises an unexpected error: a test double of
our own port, placed into an otherwise real app (SQLite database, real request handling).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from filedock.app import create_app
from filedock.auth.tokens import issue_token
from filedock.config import load_settings
from filedock.db.migrate import upgrade
from filedock.runtime import build_runtime

SECRET_DETAIL = "password=hunter2 at /srv/secret/path"


class ExplodingStore:
    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> Any:
        raise RuntimeError(SECRET_DETAIL)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


async def test_unexpected_error_is_a_500_with_request_id_and_no_detail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILEDOCK_DATA_DIR", str(tmp_path))
    settings = load_settings()
    upgrade(settings.resolved_database_url)
    app = create_app(settings, migrate=False)
    runtime = build_runtime(settings)
    runtime.files._store = ExplodingStore()  # type: ignore[assignment]
    app.state.runtime = runtime
    token = issue_token(settings.jwt_secret, "1", "user", __import__("datetime").timedelta(hours=1))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/v1/file/boom",
                content=b"data",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
            )
    await runtime.close()
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {"error": f"internal server error (request id {request_id})"}
    assert SECRET_DETAIL not in response.text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and logged[0].exc_info is not None
    assert SECRET_DETAIL in str(logged[0].exc_info[1])
    # The record was rolled back: the id is free again.
    assert await runtime.records.get("boom") is None
