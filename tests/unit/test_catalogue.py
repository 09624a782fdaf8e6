"""The catalogue's rules on in-memory ports: who may change it, what a body must hold."""

from __future__ import annotations

from typing import Any

import pytest

from filedock.core.catalogue import (
    CatalogueService,
    InvalidQuery,
    ItemInUse,
    ItemNotFound,
    UnknownAccount,
)
from filedock.core.catalogue_model import ExecutorType
from filedock.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from filedock.core.principal import Principal
from filedock.ports.catalogue import DatasetProfile
from tests.unit.memory_catalogue import (
    CannedProfiler,
    KnownAccounts,
    MemoryCatalogueItems,
    accounts_with,
)

ADMIN = Principal("cosphere", "27", "admin")
RESEARCHER = Principal("cosphere", "28", "user")
COLUMN = {
    "distribution": None,
    "is_nullable": False,
    "name": "value",
    "size": 19203,
    "type": "FLOAT",
}


def seed_body(**changes: Any) -> dict[str, Any]:
    body = {
        "executor_type": "DATABRICKS",
        "maintained_by_id": 28,
        "name": "iot_events",
        "sample": [],
        "spec": [dict(COLUMN)],
    }
    return {**body, **changes}


@pytest.fixture
def world() -> tuple[CatalogueService, MemoryCatalogueItems, CannedProfiler]:
    items, profiler = MemoryCatalogueItems(), CannedProfiler()
    return CatalogueService(items, accounts_with(27, 28), profiler), items, profiler


async def test_an_admin_creates_the_seeds_item_as_its_creator_and_updater(world: Any) -> None:
    service, items, _ = world
    entry = await service.create(ADMIN, seed_body())
    item = entry.item
    assert (item.name, item.executor_type) == ("iot_events", ExecutorType.DATABRICKS)
    assert (item.created_by_id, item.updated_by_id, item.maintained_by_id) == (27, 27, 28)
    assert items.items[item.id].spec == [COLUMN]
    assert entry.created_by is not None and entry.created_by.id == 27
    assert entry.maintained_by is not None and entry.maintained_by.id == 28


async def test_the_executor_defaults_to_duckdb(world: Any) -> None:
    service, _, _ = world
    body = seed_body()
    del body["executor_type"]
    assert (await service.create(ADMIN, body)).item.executor_type is ExecutorType.DUCKDB


async def test_researchers_cannot_change_the_catalogue(world: Any) -> None:
    service, items, _ = world
    item = (await service.create(ADMIN, seed_body())).item
    for attempt in (
        service.create(RESEARCHER, seed_body(name="other")),
        service.update(RESEARCHER, item.id, seed_body()),
        service.delete(RESEARCHER, item.id),
        service.profile(RESEARCHER, item.id),
    ):
        with pytest.raises(Forbidden):
            await attempt
    assert list(items.items) == [item.id]


async def test_a_spec_column_without_a_type_is_refused_in_the_seeds_words(world: Any) -> None:
    service, items, _ = world
    column = {k: v for k, v in COLUMN.items() if k != "type"}
    with pytest.raises(InvalidInput) as refused:
        await service.create(ADMIN, seed_body(spec=[column]))
    assert refused.value.fields == {
        "spec": ["JSON did not validate. PATH: '0' REASON: 'type' is a required property"]
    }
    assert items.items == {}


@pytest.mark.parametrize(
    ("column_type", "value"),
    [("FLOAT", "high"), ("INTEGER", 1.5), ("BOOLEAN", 1), ("DATE", "yesterday"), ("STRING", 3)],
)
async def test_a_distribution_value_must_fit_its_column_type(
    world: Any, column_type: str, value: Any
) -> None:
    service, _, _ = world
    column = {**COLUMN, "type": column_type, "distribution": [{"value": value, "count": 1}]}
    with pytest.raises(InvalidInput) as refused:
        await service.create(ADMIN, seed_body(spec=[column]))
    assert "PATH: '0.distribution.0.value'" in refused.value.fields["spec"][0]


async def test_an_unknown_maintainer_is_reported_on_maintained_by(world: Any) -> None:
    service, items, _ = world
    with pytest.raises(UnknownAccount) as refused:
        await service.create(ADMIN, seed_body(maintained_by_id=932039))
    assert refused.value.fields == {
        "maintained_by": ["account instance with id 932039 does not exist."]
    }
    assert items.items == {}


@pytest.mark.parametrize(
    "name",
    ["Dian Flatley", "Dr. Joselyn Franecki PhD", "Chin Connelly", "Météo (2024) #3", "n" * 200],
)
async def test_the_seeds_own_names_and_any_printable_name_are_accepted(
    world: Any, name: str
) -> None:
    service, items, _ = world
    item = (await service.create(ADMIN, seed_body(name=name))).item
    assert item.name == name and items.items[item.id].name == name


async def test_a_name_is_stored_trimmed(world: Any) -> None:
    service, _, _ = world
    assert (await service.create(ADMIN, seed_body(name="  Dian Flatley\t"))).item.name == (
        "Dian Flatley"
    )


@pytest.mark.parametrize(
    "name",
    ["", "   ", "n" * 201, "Dian\nFlatley", "Dian\x00Flatley", "tab\there", "rtl\u202eevil", 42],
    ids=["empty", "blank", "too-long", "newline", "nul", "tab-inside", "bidi-override", "number"],
)
async def test_an_empty_overlong_or_unprintable_name_is_refused(world: Any, name: Any) -> None:
    service, items, _ = world
    with pytest.raises(InvalidInput) as refused:
        await service.create(ADMIN, seed_body(name=name))
    assert set(refused.value.fields) == {"name"}
    assert items.items == {}


async def test_every_problem_of_a_body_is_listed_at_once(world: Any) -> None:
    service, _, _ = world
    with pytest.raises(InvalidInput) as refused:
        await service.create(ADMIN, {"executor_type": "EXCEL", "surprise": 1})
    assert set(refused.value.fields) == {"executor_type", "name", "spec", "surprise"}
    assert refused.value.fields["name"] == ["This field is required."]


async def test_search_needs_a_query_and_matches_names_case_insensitively(world: Any) -> None:
    service, _, _ = world
    for name in ("iot_events", "iot_features", "weather"):
        await service.create(ADMIN, seed_body(name=name))
    with pytest.raises(InvalidInput) as refused:
        await service.search(None)
    assert refused.value.fields == {"query": ["This field is required."]}
    assert [e.item.name for e in await service.search("IoT")] == ["iot_events", "iot_features"]


@pytest.mark.parametrize("query", ["\x00", "iot\x00", "\x00events"])
async def test_a_search_query_holding_a_nul_is_refused(world: Any, query: str) -> None:
    service, _, _ = world
    await service.create(ADMIN, seed_body(name="iot_events"))
    with pytest.raises(InvalidQuery) as refused:
        await service.search(query)
    assert list(refused.value.fields) == ["query"]


class NarrowItems(MemoryCatalogueItems):
    """Items whose ids are 32-bit, as PostgreSQL's serials: a wider id overflows the store."""

    async def get(self, item_id: int) -> Any:
        if not -(2**31) <= item_id < 2**31:
            raise OverflowError("value out of int32 range")
        return await super().get(item_id)


class NarrowAccounts(KnownAccounts):
    async def get(self, account_id: int) -> Any:
        if not -(2**31) <= account_id < 2**31:
            raise OverflowError("value out of int32 range")
        return await super().get(account_id)


@pytest.mark.parametrize("wide_id", [2**31, 2**63, 10**30])
async def test_an_id_no_store_can_hold_names_no_item_or_account_without_a_lookup(
    wide_id: int,
) -> None:
    service = CatalogueService(NarrowItems(), NarrowAccounts(), CannedProfiler())
    for attempt in (
        service.read(wide_id),
        service.update(ADMIN, wide_id, seed_body(maintained_by_id=None)),
        service.delete(ADMIN, wide_id),
        service.profile(ADMIN, wide_id),
    ):
        with pytest.raises(ItemNotFound):
            await attempt
    with pytest.raises(UnknownAccount):
        await service.create(ADMIN, seed_body(maintained_by_id=wide_id))


async def test_update_records_who_changed_it(world: Any) -> None:
    service, _, _ = world
    item = (await service.create(ADMIN, seed_body())).item
    other_admin = Principal("cosphere", "28", "admin")
    updated = (await service.update(other_admin, item.id, seed_body(executor_type="ATHENA"))).item
    assert updated.executor_type is ExecutorType.ATHENA
    assert (updated.created_by_id, updated.updated_by_id) == (27, 28)
    with pytest.raises(NotFound):
        await service.update(ADMIN, 999, seed_body())


async def test_an_item_with_live_download_requests_cannot_be_deleted(world: Any) -> None:
    service, items, _ = world
    item = (await service.create(ADMIN, seed_body())).item
    items.live_requests[item.id] = 2
    with pytest.raises(ItemInUse) as refused:
        await service.delete(ADMIN, item.id)
    assert (refused.value.item_id, refused.value.live_requests) == (item.id, 2)
    items.live_requests[item.id] = 0
    await service.delete(ADMIN, item.id)
    with pytest.raises(NotFound):
        await service.read(item.id)


async def test_profiling_fills_spec_and_sample_from_the_location(world: Any) -> None:
    service, _, profiler = world
    item = (await service.create(ADMIN, seed_body(location="store:datasets/iot/"))).item
    column = {**COLUMN, "name": "temperature", "size": 3}
    profiler.profiles["store:datasets/iot/"] = DatasetProfile([column], [{"temperature": 18.0}])
    profiled = (await service.profile(ADMIN, item.id)).item
    assert profiled.spec == [column] and profiled.sample == [{"temperature": 18.0}]
    without = (await service.create(ADMIN, seed_body(name="no_location"))).item
    with pytest.raises(InvalidInput):
        await service.profile(ADMIN, without.id)


@pytest.mark.parametrize(
    "location",
    [
        "store:files/ann/secret.csv",
        "store:uploads/",
        "store:direct_uploads/ann/",
        "store:ui_uploads/ann.csv",
        "store:schedules/ann/secret.csv",
        "store:",
        "store:datasets",
        "store:datasets/../files/x.csv",
        "store:datasets//x.csv",
        "store:datasets/iot\\x.csv",
        "store:/datasets/iot/",
    ],
)
async def test_a_store_location_outside_the_datasets_prefix_is_refused_on_create_and_update(
    world: Any, location: str
) -> None:
    service, items, _ = world
    with pytest.raises(InvalidInput) as refused:
        await service.create(ADMIN, seed_body(location=location))
    assert list(refused.value.fields) == ["location"]
    assert "datasets/" in refused.value.fields["location"][0]
    assert items.items == {}
    item = (await service.create(ADMIN, seed_body(location="store:datasets/iot/"))).item
    with pytest.raises(InvalidInput) as refused:
        await service.update(ADMIN, item.id, seed_body(location=location))
    assert list(refused.value.fields) == ["location"]
    assert items.items[item.id].location == "store:datasets/iot/"


async def test_the_service_checks_store_locations_against_its_own_datasets_prefix() -> None:
    profiler = CannedProfiler()
    service = CatalogueService(
        MemoryCatalogueItems(), accounts_with(27, 28), profiler, datasets_prefix="shared/data/"
    )
    item = (await service.create(ADMIN, seed_body(location="store:shared/data/iot/"))).item
    assert item.location == "store:shared/data/iot/"
    with pytest.raises(InvalidInput) as refused:
        await service.create(ADMIN, seed_body(name="other", location="store:datasets/iot/"))
    assert "under shared/data/" in refused.value.fields["location"][0]


async def test_a_profile_that_an_edit_overtook_is_refused_and_the_edit_stands(
    world: Any,
) -> None:
    service, items, profiler = world
    created = (await service.create(ADMIN, seed_body(location="store:datasets/old/"))).item
    profiler.profiles["store:datasets/old/"] = DatasetProfile(spec=[dict(COLUMN)], sample=[])
    original_profile = profiler.profile

    async def edited_while_profiling(location: str) -> DatasetProfile:
        await service.update(
            ADMIN, created.id, seed_body(name="renamed", location="store:datasets/new/")
        )
        return await original_profile(location)

    profiler.profile = edited_while_profiling
    with pytest.raises(Conflict):
        await service.profile(ADMIN, created.id)
    stored = items.items[created.id]
    assert (stored.name, stored.location) == ("renamed", "store:datasets/new/")


async def test_an_update_of_an_item_deleted_meanwhile_is_not_found_and_recreates_nothing(
    world: Any,
) -> None:
    service, items, _ = world
    created = (await service.create(ADMIN, seed_body())).item
    stale = items.items[created.id]
    await service.delete(ADMIN, created.id)
    assert not await items.update(stale, stale)
    with pytest.raises(NotFound):
        await service.update(ADMIN, created.id, seed_body(name="again"))
    assert items.items == {}
