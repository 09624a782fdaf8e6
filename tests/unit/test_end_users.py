"""A back-end calling for itself (no end user): its live key, rate-limited on its own bucket."""

from __future__ import annotations

import uuid

import pytest

from filedock.core.api_keys import ApiKeyService
from filedock.core.end_users import EndUserAuthenticator
from filedock.core.errors import RateLimited, Unauthenticated
from filedock.core.rate_limit import RateLimiter
from tests.unit.memory_api_keys import MemoryApiKeys


def authenticator(burst: int = 5) -> tuple[EndUserAuthenticator, ApiKeyService]:
    keys = ApiKeyService(MemoryApiKeys(), cache_seconds=0)
    return EndUserAuthenticator(keys, RateLimiter(0.001, burst)), keys


async def test_a_live_key_is_the_back_end_itself() -> None:
    users, keys = authenticator()
    key, plaintext = await keys.create("payments")
    assert await users.back_end(plaintext) == key


@pytest.mark.parametrize("presented", [None, "", "fdk_" + "a" * 43, "not-a-key"])
async def test_a_missing_or_unknown_key_is_unauthenticated(presented: str | None) -> None:
    users, keys = authenticator()
    await keys.create("payments")
    with pytest.raises(Unauthenticated):
        await users.back_end(presented)


async def test_a_revoked_key_is_unauthenticated() -> None:
    users, keys = authenticator()
    _, plaintext = await keys.create("payments")
    await keys.revoke("payments")
    with pytest.raises(Unauthenticated):
        await users.back_end(plaintext)


async def test_a_back_end_is_limited_on_its_own_bucket_not_its_users() -> None:
    users, keys = authenticator(burst=2)
    _, plaintext = await keys.create("payments")
    user = str(uuid.uuid4())
    await users.back_end(plaintext)
    await users.back_end(plaintext)
    with pytest.raises(RateLimited):
        await users.back_end(plaintext)
    # The back-end's own calls spent nothing of its user's bucket.
    await users.authenticate(plaintext, user)
    await users.authenticate(plaintext, user)
