"""API keys on real SQLite and PostgreSQL databases, through the 0002 migration."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.core.account_model import ApiKey
from filedock.core.api_keys import ApiKeyService
from filedock.core.errors import Unauthenticated
from filedock.db.api_keys import SqlApiKeyStore
from filedock.db.migrate import alembic_config, upgrade
from filedock.db.session import create_engine, session_factory
from filedock.ports.api_keys import ApiKeyNameTaken
from filedock.ports.metadata import MetadataUnavailable

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


@pytest.fixture
def database_url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def store(engine: AsyncEngine) -> SqlApiKeyStore:
    return SqlApiKeyStore(session_factory(engine))


def a_key(name: str, created_at: datetime = NOW) -> ApiKey:
    return ApiKey(
        id=str(uuid.uuid4()),
        name=name,
        prefix="fdk_abcd",
        key_hash=uuid.uuid4().hex * 2,
        created_at=created_at,
    )


async def test_key_is_found_by_its_hash_with_utc_times(store: SqlApiKeyStore) -> None:
    key = a_key("billing")
    await store.insert(key)
    found = await store.find_by_hash(key.key_hash)
    assert found == key
    assert found is not None and found.created_at.tzinfo is not None
    assert await store.find_by_hash("0" * 64) is None


async def test_duplicate_name_is_refused_and_the_first_key_kept(store: SqlApiKeyStore) -> None:
    first = a_key("billing")
    await store.insert(first)
    with pytest.raises(ApiKeyNameTaken):
        await store.insert(a_key("billing"))
    assert await store.list() == [first]


async def test_revoke_stamps_the_first_time_only_and_reports_unknown_names(
    store: SqlApiKeyStore,
) -> None:
    key = a_key("billing")
    await store.insert(key)
    assert await store.revoke("billing", NOW + timedelta(minutes=1))
    assert await store.revoke("billing", NOW + timedelta(minutes=2))
    assert not await store.revoke("ghost", NOW)
    found = await store.find_by_hash(key.key_hash)
    assert found is not None and found.revoked_at == NOW + timedelta(minutes=1)


async def test_list_is_oldest_first(store: SqlApiKeyStore) -> None:
    await store.insert(a_key("zeta", NOW))
    await store.insert(a_key("alpha", NOW + timedelta(seconds=1)))
    assert [k.name for k in await store.list()] == ["zeta", "alpha"]


async def test_service_key_authenticates_until_revoked(store: SqlApiKeyStore) -> None:
    service = ApiKeyService(store, cache_seconds=0)
    key, plaintext = await service.create("billing")
    assert await service.authenticate(plaintext) == key
    await service.revoke("billing")
    with pytest.raises(Unauthenticated):
        await service.authenticate(plaintext)


async def test_only_the_hash_of_a_key_reaches_the_database(
    store: SqlApiKeyStore, engine: AsyncEngine
) -> None:
    _, plaintext = await ApiKeyService(store).create("billing")
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM api_keys"))).all()
    assert len(rows) == 1
    assert all(plaintext[8:] not in str(value) for value in rows[0])


async def test_migration_0002_goes_down_to_0001_and_up_again(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0001")
    assert "api_keys" not in await _tables(database_url)
    await asyncio.to_thread(upgrade, database_url)
    assert {"api_keys", "files", "jobs"} <= await _tables(database_url)


async def test_unreachable_database_is_metadata_unavailable() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    store = SqlApiKeyStore(session_factory(engine))
    try:
        with pytest.raises(MetadataUnavailable):
            await store.find_by_hash("0" * 64)
        with pytest.raises(MetadataUnavailable):
            await store.insert(a_key("billing"))
    finally:
        await engine.dispose()


async def _tables(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
