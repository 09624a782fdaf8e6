"""Schedule participants on real SQLite and PostgreSQL databases, through migration 0007."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.db.migrate import alembic_config, upgrade
from filedock.db.models import ScheduleParticipantRow
from filedock.db.schedules import SqlScheduleOwners, SqlScheduleParticipants
from filedock.db.session import create_engine, session_factory
from filedock.ports.metadata import MetadataUnavailable
from filedock.ports.schedules import ScheduleParticipants
from tests.integration.object_store_support import unused_port

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SCHEDULE = "7e06b0da-5959-40bc-b583-464b721b3f77"
OTHER = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def engine(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


@pytest.fixture
def participants(engine: AsyncEngine) -> SqlScheduleParticipants:
    return SqlScheduleParticipants(session_factory(engine))


async def rows(engine: AsyncEngine) -> list[tuple[str, str, datetime]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(ScheduleParticipantRow.__table__).order_by(
                ScheduleParticipantRow.schedule_id, ScheduleParticipantRow.subject
            )
        )
        return [(r.schedule_id, r.subject, r.created_at) for r in result]


def test_the_sql_adapter_implements_the_port(participants: SqlScheduleParticipants) -> None:
    port: ScheduleParticipants = participants
    assert port is participants


async def test_a_schedule_never_declared_has_no_participants(
    participants: SqlScheduleParticipants,
) -> None:
    assert await participants.participants(SCHEDULE) == frozenset()


async def test_a_replacement_drops_the_others_and_those_kept_keep_their_declaration_time(
    participants: SqlScheduleParticipants, engine: AsyncEngine
) -> None:
    later = NOW + timedelta(minutes=5)
    await participants.replace(SCHEDULE, frozenset({"payer", "payee"}), NOW)
    await participants.replace(SCHEDULE, frozenset({"payee", "auditor"}), later)
    assert await participants.participants(SCHEDULE) == {"payee", "auditor"}
    assert await rows(engine) == [
        (SCHEDULE, "auditor", later),
        (SCHEDULE, "payee", NOW),
    ]


async def test_the_same_list_again_changes_nothing(
    participants: SqlScheduleParticipants, engine: AsyncEngine
) -> None:
    await participants.replace(SCHEDULE, frozenset({"payer", "payee"}), NOW)
    before = await rows(engine)
    await participants.replace(SCHEDULE, frozenset({"payer", "payee"}), NOW + timedelta(hours=1))
    assert await rows(engine) == before


async def test_schedules_keep_their_own_lists(participants: SqlScheduleParticipants) -> None:
    await participants.replace(SCHEDULE, frozenset({"payer"}), NOW)
    await participants.replace(OTHER, frozenset({"someone"}), NOW)
    await participants.replace(SCHEDULE, frozenset({"payee"}), NOW)
    assert await participants.participants(SCHEDULE) == {"payee"}
    assert await participants.participants(OTHER) == {"someone"}


async def test_participants_need_no_owner_and_declaring_claims_nothing(
    participants: SqlScheduleParticipants, engine: AsyncEngine
) -> None:
    owners = SqlScheduleOwners(session_factory(engine))
    await participants.replace(SCHEDULE, frozenset({"payee"}), NOW)
    assert await owners.owner(SCHEDULE) is None
    assert await owners.claim(SCHEDULE, "payer", NOW) == "payer"
    assert await participants.participants(SCHEDULE) == {"payee"}


async def test_concurrent_replacements_leave_exactly_one_of_the_lists(
    participants: SqlScheduleParticipants,
) -> None:
    lists = [frozenset({f"user-{n:02}-a", f"user-{n:02}-b", "shared"}) for n in range(20)]
    for _ in range(3):
        await asyncio.gather(*(participants.replace(SCHEDULE, s, NOW) for s in lists))
        assert await participants.participants(SCHEDULE) in lists


async def test_migration_0007_goes_down_to_0006_and_up_again(engine: AsyncEngine) -> None:
    database_url = engine.url.render_as_string(hide_password=False)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0006")
    tables = await _tables(database_url)
    assert "schedule_participants" not in tables and "schedules" in tables
    await asyncio.to_thread(upgrade, database_url)
    assert "schedule_participants" in await _tables(database_url)
    participants = SqlScheduleParticipants(session_factory(engine))
    await participants.replace(SCHEDULE, frozenset({"payee"}), NOW)
    assert await participants.participants(SCHEDULE) == {"payee"}


async def test_an_unreachable_database_is_metadata_unavailable() -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/none")
    participants = SqlScheduleParticipants(session_factory(engine))
    try:
        with pytest.raises(MetadataUnavailable):
            await participants.participants(SCHEDULE)
        with pytest.raises(MetadataUnavailable):
            await participants.replace(SCHEDULE, frozenset({"payee"}), NOW)
    finally:
        await engine.dispose()


async def _tables(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
