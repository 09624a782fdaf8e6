"""Fixtures for the object store tests: every backend-parametrized test runs on local disk, S3
and the in-memory double the unit tests use (tests/unit/memory_ports.py), so the double is held
to the same contract as the real stores.

The S3 backend runs against moto (`s3_endpoint` and `s3_bucket` from tests/fixtures/s3.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.config import Settings
from filedock.db.migrate import upgrade
from filedock.db.session import create_engine
from filedock.ports.objectstore import ObjectStore
from filedock.ports.objectstore_local import TEMP_DIR_NAME, LocalObjectStore
from filedock.ports.objectstore_s3 import S3ObjectStore
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.server import LiveServer
from tests.integration.object_store_support import Backstage, s3_store
from tests.integration.signed_url_support import Backend
from tests.unit.memory_ports import MemoryStore


@pytest.fixture(params=["local", "s3", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    backend: ObjectStore
    if request.param == "local":
        backend = LocalObjectStore(tmp_path / "objects")
    elif request.param == "memory":
        backend = MemoryStore()
    else:
        endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
        backend = s3_store(endpoint, request.getfixturevalue("s3_bucket"))
    yield backend
    await backend.close()


@pytest.fixture
def backstage(store: ObjectStore, request: pytest.FixtureRequest) -> Backstage:
    if isinstance(store, MemoryStore):
        memory = store
        return Backstage(
            objects=lambda: sorted(memory.objects),
            unfinished_writes=lambda: sorted(memory.unfinished),
        )
    if isinstance(store, LocalObjectStore):
        root = store.root
        return Backstage(
            objects=lambda: sorted(
                p.relative_to(root).as_posix()
                for p in root.rglob("*")
                if p.is_file() and TEMP_DIR_NAME not in p.relative_to(root).parts
            ),
            unfinished_writes=lambda: sorted(p.name for p in (root / TEMP_DIR_NAME).iterdir()),
        )
    assert isinstance(store, S3ObjectStore)
    client = request.getfixturevalue("s3_endpoint").client()
    bucket = store.bucket
    return Backstage(
        objects=lambda: sorted(
            o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])
        ),
        unfinished_writes=lambda: sorted(
            u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        ),
    )


@pytest.fixture
def backend(server: LiveServer) -> Backend:
    """A back-end with its own API key, speaking for a new end user, on the module's server."""
    return Backend(server, server.create_api_key(f"backend-{uuid.uuid4().hex[:8]}"))


@pytest.fixture(params=["sqlite", "postgres"])
async def migrated_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a new database at the newest schema: SQLite in a file, then PostgreSQL."""
    async with migrated_database(request.param, request, tmp_path) as engine:
        yield engine


@asynccontextmanager
async def migrated_database(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """What `migrated_engine` gives, for fixtures that add backends of their own beside it."""
    if kind == "postgres":
        url = Settings(database_url=request.getfixturevalue("postgres_url")).resolved_database_url
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'filedock.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
