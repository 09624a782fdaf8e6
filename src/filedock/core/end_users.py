"""End users of trusted back-ends: an API key vouches for the back-end, a UUID names its user.

A back-end's users are identified only by the UUID it sends, and only within that key's own
realm: the same UUID sent with another key is another user, so a back-end can reach nothing
but the files made through its key. Keys are for servers, never for browsers. Rate limits
count per key and user, so one busy user cannot starve the others.
"""

from __future__ import annotations

import re
import uuid

from filedock.core.account_model import ApiKey
from filedock.core.api_keys import ApiKeyService
from filedock.core.errors import InvalidInput
from filedock.core.principal import Principal, api_key_realm
from filedock.core.rate_limit import RateLimiter

END_USER_ROLE = "user"
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class EndUserAuthenticator:
    def __init__(self, api_keys: ApiKeyService, limiter: RateLimiter) -> None:
        self._api_keys = api_keys
        self._limiter = limiter

    async def authenticate(self, api_key: str | None, user_id: str | None) -> Principal:
        """The principal for `user_id`, if `api_key` is live and the pair is within its rate.

        Raises `Unauthenticated` (bad key), `InvalidInput` (user id not a UUID) or
        `RateLimited`.
        """
        key = await self._api_keys.authenticate(api_key)
        user = parse_user_id(user_id)
        self._limiter.check(f"{key.id}:{user}")
        return Principal(api_key_realm(key.id), user, END_USER_ROLE)

    async def back_end(self, api_key: str | None) -> ApiKey:
        """The back-end itself, for calls that name no end user: its live key, within its rate.

        Raises `Unauthenticated` (bad key) or `RateLimited`.
        """
        key = await self._api_keys.authenticate(api_key)
        # Its own bucket: a back-end's own calls do not spend its users' tokens.
        self._limiter.check(key.id)
        return key


def parse_user_id(user_id: str | None) -> str:
    """The canonical (lower-case, hyphenated) form of a UUID user id."""
    if not user_id:
        raise InvalidInput.one("user-id", "the user-id header is required")
    if _CANONICAL_UUID.fullmatch(user_id):
        return user_id  # what `str(uuid.UUID(...))` would give back, without the round trip
    try:
        return str(uuid.UUID(user_id.strip()))
    except ValueError:
        raise InvalidInput.one("user-id", "the user-id header must be a UUID") from None
