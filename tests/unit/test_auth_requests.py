"""Sign-in by auth request: created, attached once, exchanged once, dead after its lifetime."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from filedock.core.account_model import AccountType
from filedock.core.accounts import AccountService, AccountTokens
from filedock.core.auth_requests import (
    PURGE_AFTER,
    AuthRequestExpired,
    AuthRequestNotFound,
    AuthRequestService,
    EmailMismatch,
    IdTokenRefused,
)
from filedock.core.errors import InvalidInput
from tests.unit.memory_accounts import (
    KnownCodes,
    MemoryAccounts,
    MemoryAuthRequests,
    SteppedClock,
)
from tests.unit.token_support import SECRET


class World:
    def __init__(self) -> None:
        self.clock = SteppedClock()
        self.accounts_store = MemoryAccounts()
        self.requests_store = MemoryAuthRequests()
        self.codes = KnownCodes({"ann-code": "ann@example.org", "bob-code": "bob@example.org"})
        self.accounts = AccountService(
            self.accounts_store, AccountTokens.from_app_secret(SECRET), clock=self.clock
        )
        self.service = AuthRequestService(
            self.requests_store,
            self.accounts,
            self.codes,
            lifetime=timedelta(minutes=10),
            clock=self.clock,
        )


@pytest.fixture
def world() -> World:
    return World()


async def test_a_request_is_a_fresh_uuid_living_its_lifetime(world: World) -> None:
    request = await world.service.create()
    assert str(uuid.UUID(request.uuid)) == request.uuid and uuid.UUID(request.uuid).version == 4
    assert request.created_at == world.clock.now
    assert request.expires_at == world.clock.now + timedelta(minutes=10)
    assert request.account_id is None and request.exchanged_at is None
    assert await world.service.pending(request.uuid.upper()) == request


async def test_the_whole_flow_gives_one_token_for_a_new_researcher(world: World) -> None:
    request = await world.service.create()
    with pytest.raises(AuthRequestNotFound):
        await world.service.exchange(request.uuid)  # not attached yet: clients poll on this
    account = await world.service.attach("ann-code", "Ann@Example.org", request.uuid)
    assert account.email == "ann@example.org" and account.type is AccountType.RESEARCHER
    issued = await world.service.exchange(request.uuid)
    assert issued.account == account
    assert await world.accounts.authenticate(issued.token) == account
    with pytest.raises(AuthRequestNotFound):
        await world.service.exchange(request.uuid)
    with pytest.raises(AuthRequestNotFound):
        await world.service.attach("ann-code", "ann@example.org", request.uuid)
    with pytest.raises(AuthRequestNotFound):
        await world.service.pending(request.uuid)


async def test_an_existing_account_keeps_its_type(world: World) -> None:
    admin = await world.accounts.create("ann@example.org", AccountType.ADMIN)
    request = await world.service.create()
    assert await world.service.attach("ann-code", "ann@example.org", request.uuid) == admin
    assert (await world.service.exchange(request.uuid)).account.type is AccountType.ADMIN


async def test_an_unknown_request_is_not_found_before_the_token_is_looked_at(
    world: World,
) -> None:
    with pytest.raises(AuthRequestNotFound):
        await world.service.attach("some-code", "jacky@somewhere.org", str(uuid.uuid4()))
    assert world.codes.calls == 0
    with pytest.raises(AuthRequestNotFound):
        await world.service.exchange(str(uuid.uuid4()))


async def test_a_malformed_uuid_is_invalid_input_in_drf_words(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        await world.service.exchange("some-uuid")
    assert refused.value.fields == {"request_uuid": ['"some-uuid" is not a valid UUID.']}


async def test_a_refused_token_or_another_email_attaches_nothing(world: World) -> None:
    request = await world.service.create()
    with pytest.raises(IdTokenRefused):
        await world.service.attach("forged", "ann@example.org", request.uuid)
    with pytest.raises(EmailMismatch):
        await world.service.attach("ann-code", "bob@example.org", request.uuid)
    assert world.accounts_store.accounts == {}
    assert (await world.service.pending(request.uuid)).account_id is None


async def test_attaching_again_is_a_retry_for_the_same_account_only(world: World) -> None:
    request = await world.service.create()
    ann = await world.service.attach("ann-code", "ann@example.org", request.uuid)
    assert await world.service.attach("ann-code", "ann@example.org", request.uuid) == ann
    with pytest.raises(AuthRequestNotFound):
        await world.service.attach("bob-code", "bob@example.org", request.uuid)
    assert (await world.service.exchange(request.uuid)).account == ann


async def test_an_expired_request_can_be_neither_attached_nor_exchanged(world: World) -> None:
    unattached = await world.service.create()
    attached = await world.service.create()
    await world.service.attach("ann-code", "ann@example.org", attached.uuid)
    world.clock.advance(minutes=10)
    for request_uuid in (unattached.uuid, attached.uuid):
        with pytest.raises(AuthRequestExpired):
            await world.service.attach("ann-code", "ann@example.org", request_uuid)
        with pytest.raises(AuthRequestExpired):
            await world.service.exchange(request_uuid)
        with pytest.raises(AuthRequestExpired):
            await world.service.pending(request_uuid)


async def test_old_requests_are_purged_when_new_ones_are_made(world: World) -> None:
    old = await world.service.create()
    world.clock.advance(minutes=10)
    world.clock.advance(seconds=PURGE_AFTER.total_seconds())
    await world.service.create()
    assert old.uuid in world.requests_store.requests
    world.clock.advance(seconds=1)
    await world.service.create()
    assert old.uuid not in world.requests_store.requests
    with pytest.raises(AuthRequestNotFound):
        await world.service.exchange(old.uuid)


async def test_a_request_whose_account_was_removed_gives_no_token(world: World) -> None:
    request = await world.service.create()
    account = await world.service.attach("ann-code", "ann@example.org", request.uuid)
    await world.accounts.remove(account.id)
    with pytest.raises(AuthRequestNotFound):
        await world.service.exchange(request.uuid)


def test_the_lifetime_must_be_positive(world: World) -> None:
    with pytest.raises(ValueError):
        AuthRequestService(world.requests_store, world.accounts, world.codes, lifetime=timedelta(0))
