"""A 500 carries a request id that is in the log, and never the exception's text.

The failure is provoked with an object store that raises an unexpected error: a test double of
our own port, placed into an otherwise real app (SQLite database, real request handling).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from filedock.auth.tokens import issue_token
from tests.integration.in_process import in_process_app

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
    async with in_process_app(tmp_path, monkeypatch) as app:
        app.runtime.services.files._store = ExplodingStore()  # type: ignore[assignment]
        secret = app.settings.jwt_secret.get_secret_value()
        token = issue_token(secret, "1", "user", timedelta(hours=1))
        with caplog.at_level(logging.ERROR):
            response = await app.http.post(
                "/v1/file/boom",
                content=b"data",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
            )
        # The record was rolled back: the id is free again.
        assert await app.runtime.records.get("boom") is None
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {"error": f"internal server error (request id {request_id})"}
    assert SECRET_DETAIL not in response.text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and logged[0].exc_info is not None
    assert SECRET_DETAIL in str(logged[0].exc_info[1])
