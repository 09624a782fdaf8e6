"""A real app (SQLite, real request handling) called in-process through ASGI.

For failures that cannot be provoked from outside: a test swaps one part of the runtime for a
double that raises, then calls the app as a client would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from filedock.app import create_app
from filedock.config import Settings, load_settings
from filedock.db.migrate import upgrade
from filedock.runtime import Runtime, build_runtime


@dataclass
class InProcessApp:
    settings: Settings
    runtime: Runtime
    http: httpx.AsyncClient
    app: FastAPI


@asynccontextmanager
async def in_process_app(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[InProcessApp]:
    monkeypatch.setenv("FILEDOCK_DATA_DIR", str(data_dir))
    settings = load_settings()
    upgrade(settings.resolved_database_url)
    app = create_app(settings, migrate=False)
    runtime = build_runtime(settings)
    app.state.runtime = runtime
    app.state.services = runtime.services
    # Unhandled errors become responses, as a real server sends them.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield InProcessApp(settings, runtime, http, app)
    finally:
        await runtime.close()
