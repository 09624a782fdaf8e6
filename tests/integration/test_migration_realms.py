"""Migration 0006 on a database with files in it: each file moves to the realm of the face
that made it, gets a revision, and the lifecycle can write it afterwards."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.config import Settings
from filedock.core.lifecycle import FileLifecycle
from filedock.core.model import FileStatus
from filedock.db.file_records import SqlFileRecords
from filedock.db.migrate import alembic_config
from filedock.db.session import create_engine, session_factory

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return Settings(database_url=request.getfixturevalue("postgres_url")).resolved_database_url
    return f"sqlite+aiosqlite:///{tmp_path / 'filedock.db'}"


def migrate(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


async def add_file(engine: AsyncEngine, parent_kind: str | None, labels: dict[str, str]) -> str:
    file_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO files (id, owner_id, owner_role, storage_key, content_type, status,"
                " persist, parent_kind, parent_id, labels, created_at, updated_at)"
                " VALUES (:id, 'u1', 'user', :key, 'text/csv', 'ready', true, :kind, :parent,"
                " :labels, :now, :now)"
            ),
            {
                "id": file_id,
                "key": f"files/{file_id}",
                "kind": parent_kind,
                "parent": "p" if parent_kind else None,
                "labels": json.dumps(labels),
                "now": NOW,
            },
        )
    return file_id


async def add_api_key(engine: AsyncEngine, name: str) -> str:
    key_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO api_keys (id, name, key_hash, prefix, created_at)"
                " VALUES (:id, :name, :hash, 'fdk_abcd', :now)"
            ),
            {"id": key_id, "name": name, "hash": uuid.uuid4().hex * 2, "now": NOW},
        )
    return key_id


async def realms(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, owner_realm FROM files"))
        return {file_id: realm for file_id, realm in rows}


@pytest.mark.parametrize("keys", [1, 2])
async def test_existing_files_move_to_the_realm_of_the_face_that_made_them(
    database_url: str, keys: int
) -> None:
    await asyncio.to_thread(migrate, database_url, "0005")
    engine = create_engine(database_url)
    try:
        key_ids = [await add_api_key(engine, f"key-{n}") for n in range(keys)]
        hasura = await add_file(engine, None, {})
        command_upload = await add_file(engine, "upload_command", {"upload_policy": "s3-command"})
        document = await add_file(engine, "schedule", {"upload_policy": "schedules"})
        signed = await add_file(engine, None, {"upload_policy": "signed-url"})
        await engine.dispose()

        await asyncio.to_thread(migrate, database_url, "head")

        expected_key_realm = f"api-key:{key_ids[0]}" if keys == 1 else "api-key:unassigned"
        assert await realms(engine) == {
            hasura: "bearer",
            command_upload: "bearer",
            document: "cognito",
            signed: expected_key_realm,
        }
        records = SqlFileRecords(session_factory(engine))
        file = await records.get(hasura)
        assert file is not None and file.revision == "0"
        lifecycle = FileLifecycle(records, lambda: NOW)
        gone = await lifecycle.delete(file, reason="after the migration")
        assert gone.status is FileStatus.DELETED and gone.revision != "0"
    finally:
        await engine.dispose()
