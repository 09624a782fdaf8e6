"""API keys: minted once, stored hashed, refused once revoked, cached for seconds at most."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from filedock.core.account_model import ApiKey
from filedock.core.api_keys import ApiKeyService, hash_api_key
from filedock.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from tests.unit.memory_api_keys import MemoryApiKeys


class SteppedClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def store() -> MemoryApiKeys:
    return MemoryApiKeys()


@pytest.fixture
def service(store: MemoryApiKeys, clock: SteppedClock) -> ApiKeyService:
    return ApiKeyService(store, clock)


async def test_created_key_has_the_documented_form_and_only_its_hash_is_stored(
    service: ApiKeyService, store: MemoryApiKeys, clock: SteppedClock
) -> None:
    key, plaintext = await service.create("billing")
    assert re.fullmatch(r"fdk_[A-Za-z0-9_-]{43}", plaintext)
    assert key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert key.prefix == plaintext[:8]
    assert key.created_at == clock.now and key.revoked_at is None
    assert store.keys == {"billing": key}
    stored = repr(store.keys)
    assert plaintext not in stored and plaintext[8:] not in stored


async def test_created_key_authenticates_as_itself(service: ApiKeyService) -> None:
    key, plaintext = await service.create("billing")
    await service.create("reports")
    assert await service.authenticate(plaintext) == key


async def test_every_created_key_is_different(service: ApiKeyService) -> None:
    plaintexts = {(await service.create(f"k{n}"))[1] for n in range(50)}
    assert len(plaintexts) == 50


@pytest.mark.parametrize(
    "presented",
    [
        None,
        "",
        "fdk_",
        "fdk_" + "A" * 42,
        "fdk_" + "A" * 44,
        "FDK_" + "A" * 43,
        "xyz_" + "A" * 43,
        "fdk_" + "A" * 42 + "=",
        "fdk_" + "é" * 43,
        " fdk_" + "A" * 43,
    ],
)
async def test_missing_or_malformed_key_is_refused_without_a_lookup(
    service: ApiKeyService, store: MemoryApiKeys, presented: str | None
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await service.authenticate(presented)
    assert refused.value.message == "Missing or invalid API key"
    assert store.lookups == 0


async def test_unknown_key_of_the_right_form_is_refused(service: ApiKeyService) -> None:
    await service.create("billing")
    with pytest.raises(Unauthenticated, match=r"^Missing or invalid API key$"):
        await service.authenticate("fdk_" + "A" * 43)


async def test_key_revoked_through_the_service_is_refused_at_once_even_when_cached(
    service: ApiKeyService, store: MemoryApiKeys, clock: SteppedClock
) -> None:
    _, plaintext = await service.create("billing")
    await service.authenticate(plaintext)
    clock.advance(1)
    await service.revoke("billing")
    assert store.keys["billing"].revoked_at == clock.now
    with pytest.raises(Unauthenticated, match=r"^Missing or invalid API key$"):
        await service.authenticate(plaintext)


async def test_key_revoked_by_another_process_stops_working_within_five_seconds(
    store: MemoryApiKeys, clock: SteppedClock
) -> None:
    this_server, other_server = ApiKeyService(store, clock), ApiKeyService(store, clock)
    _, plaintext = await this_server.create("billing")
    await this_server.authenticate(plaintext)
    await other_server.revoke("billing")
    clock.advance(4.9)
    await this_server.authenticate(plaintext)  # still cached: the documented window
    clock.advance(0.1)
    with pytest.raises(Unauthenticated):
        await this_server.authenticate(plaintext)


async def test_repeated_authentication_within_the_cache_window_reads_the_store_once(
    service: ApiKeyService, store: MemoryApiKeys, clock: SteppedClock
) -> None:
    _, plaintext = await service.create("billing")
    for _ in range(100):
        await service.authenticate(plaintext)
        clock.advance(0.01)
    assert store.lookups == 1
    clock.advance(5)
    await service.authenticate(plaintext)
    assert store.lookups == 2


async def test_a_clock_stepping_back_does_not_stretch_the_cache(
    service: ApiKeyService, store: MemoryApiKeys, clock: SteppedClock
) -> None:
    _, plaintext = await service.create("billing")
    await service.authenticate(plaintext)
    clock.advance(-3600)
    await service.authenticate(plaintext)
    assert store.lookups == 2


async def test_cache_seconds_zero_reads_the_store_every_time(
    store: MemoryApiKeys, clock: SteppedClock
) -> None:
    service = ApiKeyService(store, clock, cache_seconds=0)
    _, plaintext = await service.create("billing")
    for _ in range(3):
        await service.authenticate(plaintext)
    assert store.lookups == 3


@pytest.mark.parametrize("cache_seconds", [-1, 5.01, 60])
def test_cache_longer_than_five_seconds_is_refused(
    store: MemoryApiKeys, cache_seconds: float
) -> None:
    with pytest.raises(ValueError, match="cache_seconds"):
        ApiKeyService(store, cache_seconds=cache_seconds)


async def test_unknown_keys_are_not_cached_so_memory_stays_bounded(
    service: ApiKeyService, store: MemoryApiKeys
) -> None:
    made_up = "fdk_" + "B" * 43
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await service.authenticate(made_up)
    assert store.lookups == 3


async def test_a_store_matching_loosely_does_not_let_another_key_in(
    clock: SteppedClock,
) -> None:
    class CaseInsensitiveStore(MemoryApiKeys):
        async def find_by_hash(self, key_hash: str) -> ApiKey | None:
            return next(
                (k for k in self.keys.values() if k.key_hash.lower() == key_hash.lower()), None
            )

    store = CaseInsensitiveStore()
    service = ApiKeyService(store, clock)
    key, plaintext = await service.create("billing")
    store.keys["billing"] = replace(key, key_hash=key.key_hash.upper())
    with pytest.raises(Unauthenticated):
        await service.authenticate(plaintext)


@pytest.mark.parametrize(
    "name", ["", " billing", "billing ", "bill ing", "-billing", "a" * 101, "bill\ning", "bïlling"]
)
async def test_bad_name_is_refused_and_nothing_is_stored(
    service: ApiKeyService, store: MemoryApiKeys, name: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await service.create(name)
    assert refused.value.first_field == "name"
    assert store.keys == {}


@pytest.mark.parametrize("name", ["a", "A" * 100, "billing-backend.v2_eu"])
async def test_names_of_one_to_a_hundred_allowed_characters_are_accepted(
    service: ApiKeyService, name: str
) -> None:
    key, _ = await service.create(name)
    assert key.name == name


async def test_duplicate_name_is_a_conflict_even_after_revocation(
    service: ApiKeyService, store: MemoryApiKeys
) -> None:
    first, _ = await service.create("billing")
    await service.revoke("billing")
    with pytest.raises(Conflict, match="'billing' exists already"):
        await service.create("billing")
    assert store.keys["billing"].id == first.id


async def test_revoking_an_unknown_name_is_not_found(service: ApiKeyService) -> None:
    with pytest.raises(NotFound, match="no API key named 'ghost'"):
        await service.revoke("ghost")


async def test_revoking_twice_keeps_the_first_revocation_time(
    service: ApiKeyService, store: MemoryApiKeys, clock: SteppedClock
) -> None:
    await service.create("billing")
    await service.revoke("billing")
    first = clock.now
    clock.advance(60)
    await service.revoke("billing")
    assert store.keys["billing"].revoked_at == first


async def test_list_shows_every_key_oldest_first_with_revocations(
    service: ApiKeyService, clock: SteppedClock
) -> None:
    await service.create("billing")
    clock.advance(1)
    await service.create("reports")
    await service.revoke("billing")
    listed = await service.list()
    assert [(k.name, k.is_revoked) for k in listed] == [("billing", True), ("reports", False)]


def test_hash_is_sha256_hex_of_the_key() -> None:
    assert hash_api_key("fdk_x") == hashlib.sha256(b"fdk_x").hexdigest()


class SlowApiKeys(MemoryApiKeys):
    """A store that takes its time, as a busy database does: while `gate` is shut, a read
    waits there, before it looks (the default) or after, holding what it found."""

    def __init__(self, *, answer_late: bool = False) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.answer_late = answer_late
        self.reads_started = 0
        self.looked = asyncio.Event()
        self.revoke_gate = asyncio.Event()
        self.revoke_gate.set()

    async def revoke(self, name: str, when: datetime) -> bool:
        await self.revoke_gate.wait()
        return await super().revoke(name, when)

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        self.reads_started += 1
        if not self.answer_late:
            await self.gate.wait()
        found = await super().find_by_hash(key_hash)
        self.looked.set()
        await self.gate.wait()
        return found


async def test_requests_arriving_together_after_expiry_share_one_store_read(
    clock: SteppedClock,
) -> None:
    store = SlowApiKeys()
    service = ApiKeyService(store, clock)
    key, plaintext = await service.create("billing")
    store.gate.clear()
    waiting = [asyncio.create_task(service.authenticate(plaintext)) for _ in range(50)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*waiting) == [key] * 50
    assert store.lookups == 1


async def test_a_key_near_the_end_of_its_cache_window_is_read_again_without_a_request_waiting(
    clock: SteppedClock,
) -> None:
    store = SlowApiKeys()
    service = ApiKeyService(store, clock)
    key, plaintext = await service.create("billing")
    await service.authenticate(plaintext)
    store.gate.clear()  # the database is slow from now on
    clock.advance(3)
    assert await asyncio.wait_for(service.authenticate(plaintext), 1) == key  # no wait
    await asyncio.sleep(0)
    assert store.reads_started == 2  # read again, in the background
    await service.authenticate(plaintext)
    await asyncio.sleep(0)
    assert store.reads_started == 2  # that one read, not one a request
    store.gate.set()
    await asyncio.sleep(0.01)
    clock.advance(4)  # 7 s after the first read, 4 s after the second: still cached
    store.gate.clear()
    assert await asyncio.wait_for(service.authenticate(plaintext), 1) == key


async def test_a_read_in_flight_when_the_key_is_revoked_does_not_bring_it_back(
    clock: SteppedClock,
) -> None:
    store = SlowApiKeys(answer_late=True)
    service = ApiKeyService(store, clock)
    key, plaintext = await service.create("billing")
    store.gate.clear()
    in_flight = asyncio.create_task(service.authenticate(plaintext))
    await store.looked.wait()  # the store has read the key, not yet revoked
    await service.revoke("billing")
    store.gate.set()
    assert await in_flight == key  # a request that began before the revocation
    with pytest.raises(Unauthenticated):
        await service.authenticate(plaintext)  # but no later one


async def test_a_read_begun_while_the_store_revokes_does_not_bring_the_key_back(
    clock: SteppedClock,
) -> None:
    store = SlowApiKeys(answer_late=True)
    service = ApiKeyService(store, clock)
    _, plaintext = await service.create("billing")
    store.revoke_gate.clear()
    revoking = asyncio.create_task(service.revoke("billing"))
    await asyncio.sleep(0)  # the revocation has begun, the store not yet changed
    store.gate.clear()
    in_flight = asyncio.create_task(service.authenticate(plaintext))
    await store.looked.wait()  # it found the key as it was
    store.revoke_gate.set()
    await revoking
    store.gate.set()
    await in_flight
    with pytest.raises(Unauthenticated):
        await service.authenticate(plaintext)
