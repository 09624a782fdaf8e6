"""Schedule owners on real SQLite and PostgreSQL databases, through the 0003 migration."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.db.migrate import alembic_config, upgrade
from filedock.db.models import ScheduleRow
from filedock.db.schedules import SqlScheduleOwners
from filedock.db.session import create_engine, session_factory
from filedock.ports.metadata import MetadataUnavailable
from filedock.ports.schedules import ScheduleOwners
from tests.integration.object_store_support import unused_port

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


@pytest.fixture
def owners(engine: AsyncEngine) -> SqlScheduleOwners:
    return SqlScheduleOwners(session_factory(engine))


def test_the_sql_adapter_implements_the_port(owners: SqlScheduleOwners) -> None:
    port: ScheduleOwners = owners
    assert port is owners


async def test_the_first_claim_wins_and_is_told_it_owns_the_schedule(
    owners: SqlScheduleOwners,
) -> None:
    assert await owners.claim("sched-1", "alice", NOW) == "alice"
    assert await owners.owner("sched-1") == "alice"


async def test_a_later_claim_by_another_user_is_told_the_first_owner_and_changes_nothing(
    owners: SqlScheduleOwners, engine: AsyncEngine
) -> None:
    await owners.claim("sched-1", "alice", NOW)
    assert await owners.claim("sched-1", "bob", NOW + timedelta(minutes=1)) == "alice"
    assert await owners.owner("sched-1") == "alice"
    async with engine.connect() as connection:
        rows = (await connection.execute(select(ScheduleRow.__table__))).all()
    assert [(r.id, r.owner_id, r.created_at) for r in rows] == [("sched-1", "alice", NOW)]


async def test_the_owner_of_an_unknown_schedule_is_none(owners: SqlScheduleOwners) -> None:
    await owners.claim("sched-1", "alice", NOW)
    assert await owners.owner("sched-2") is None


async def test_concurrent_first_claims_have_one_winner_and_everybody_is_told_it(
    owners: SqlScheduleOwners, engine: AsyncEngine
) -> None:
    users = [f"user-{n:02}" for n in range(20)]
    answers = await asyncio.gather(*(owners.claim("sched-1", user, NOW) for user in users))
    winner = await owners.owner("sched-1")
    assert winner in users
    assert answers == [winner] * 20
    async with engine.connect() as connection:
        stored = (await connection.execute(select(ScheduleRow.owner_id))).scalars().all()
    assert stored == [winner]


async def test_migration_0003_goes_down_to_0002_and_up_again(engine: AsyncEngine) -> None:
    database_url = engine.url.render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0002")
    tables = await _tables(database_url)
    assert "schedules" not in tables and "api_keys" in tables
    await asyncio.to_thread(upgrade, database_url)
    assert {"schedules", "api_keys", "files", "jobs"} <= await _tables(database_url)
    owners = SqlScheduleOwners(session_factory(engine))
    assert await owners.claim("sched-1", "alice", NOW) == "alice"


async def test_an_unreachable_database_is_metadata_unavailable() -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/none")
    owners = SqlScheduleOwners(session_factory(engine))
    try:
        with pytest.raises(MetadataUnavailable):
            await owners.claim("sched-1", "alice", NOW)
        with pytest.raises(MetadataUnavailable):
            await owners.owner("sched-1")
    finally:
        await engine.dispose()


async def _tables(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
