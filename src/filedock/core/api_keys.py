"""API keys for trusted back-ends: minted once, stored hashed, checked on every request.

A key is `fdk_` and 43 characters of `secrets.token_urlsafe(32)` (256 random bits). Only its
sha256 is stored. A slow password hash (bcrypt, argon2) exists to make guessing low-entropy
secrets expensive; a 256-bit random key cannot be guessed however fast the hash, so sha256
costs nothing in safety and lets every request authenticate with one indexed lookup.

Every request authenticates, so `ApiKeyService` keeps what it looked up for at most
`cache_seconds` (5 s at most): a key revoked by another process stops working within that
time, one revoked through this service stops at once. Unknown keys are never cached, so a key
created elsewhere works on its first use.

Under load every request of the moment an entry expires would go to the store at once, and
wait there behind each other (a loaded server took seconds to answer them all). So requests
asking for the same key together share one read, and an entry past half its window is read
again in the background while it still answers: a key in steady use never waits.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import hmac
import re
import secrets
import uuid
from datetime import datetime

from filedock.core.account_model import ApiKey
from filedock.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from filedock.core.files import Clock, utc_now
from filedock.ports.api_keys import ApiKeyNameTaken, ApiKeyStore

KEY_PREFIX = "fdk_"
MAX_NAME_LENGTH = 100
MAX_CACHE_SECONDS = 5.0
DISPLAY_PREFIX_LENGTH = 8
INVALID_KEY_MESSAGE = "Missing or invalid API key"

_KEY = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{43}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def hash_api_key(key: str) -> str:
    """The sha256 hex under which a key is stored and looked up."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyService:
    def __init__(
        self,
        store: ApiKeyStore,
        clock: Clock = utc_now,
        *,
        cache_seconds: float = MAX_CACHE_SECONDS,
    ) -> None:
        if not 0 <= cache_seconds <= MAX_CACHE_SECONDS:
            raise ValueError(f"cache_seconds must be between 0 and {MAX_CACHE_SECONDS}")
        self._store = store
        self._clock = clock
        self._cache_seconds = cache_seconds
        # key hash -> (key, when it was read); holds only keys that exist, so it stays as
        # small as the table however many made-up keys callers present.
        self._cache: dict[str, tuple[ApiKey, datetime]] = {}
        # key hash -> the store read in flight for it, shared by every caller meanwhile.
        self._reads: dict[str, asyncio.Task[ApiKey | None]] = {}
        # Counts revocations here: a read that began before one must not cache its answer.
        self._revocations = 0

    async def create(self, name: str) -> tuple[ApiKey, str]:
        """Mint a key named `name`; the plaintext is returned here and never again."""
        _check_name(name)
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)[:43]
        key = ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            prefix=plaintext[:DISPLAY_PREFIX_LENGTH],
            key_hash=hash_api_key(plaintext),
            created_at=self._clock(),
        )
        try:
            await self._store.insert(key)
        except ApiKeyNameTaken:
            raise Conflict(f"an API key named {name!r} exists already") from None
        return key, plaintext

    async def authenticate(self, presented: str | None) -> ApiKey:
        """The live key `presented` names; `Unauthenticated` for anything else."""
        if presented is None or _KEY.fullmatch(presented) is None:
            raise Unauthenticated(INVALID_KEY_MESSAGE)
        key_hash = hash_api_key(presented)
        key = self._cached(key_hash)
        if key is None:
            # Shielded: a caller that goes away does not cancel the others' read.
            key = await asyncio.shield(self._reads.get(key_hash) or self._read(key_hash))
        # The lookup was by hash already; comparing again in constant time keeps a store
        # that matched loosely (a case-insensitive collation, say) from letting a key in.
        if key is None or not hmac.compare_digest(key.key_hash, key_hash) or key.is_revoked:
            raise Unauthenticated(INVALID_KEY_MESSAGE)
        return key

    async def revoke(self, name: str) -> None:
        """Revoke the key named `name` (again is fine); `NotFound` if there is none."""
        # Counted before and after: a read begun on either side of the store's change may
        # hold the key as it was, so neither may cache it.
        self._revocations += 1
        try:
            if not await self._store.revoke(name, self._clock()):
                raise NotFound(f"no API key named {name!r}")
        finally:
            self._revocations += 1
        self._cache = {h: entry for h, entry in self._cache.items() if entry[0].name != name}

    async def list(self) -> builtins.list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        return await self._store.list()

    def _cached(self, key_hash: str) -> ApiKey | None:
        entry = self._cache.get(key_hash)
        if entry is None:
            return None
        key, read_at = entry
        age = (self._clock() - read_at).total_seconds()
        # A clock that stepped back (negative age) must not stretch an entry's life.
        if 0 <= age < self._cache_seconds:
            if age >= self._cache_seconds / 2 and key_hash not in self._reads:
                self._read(key_hash)  # ahead of expiry, while this entry still answers
            return key
        del self._cache[key_hash]
        return None

    def _read(self, key_hash: str) -> asyncio.Task[ApiKey | None]:
        """Start the one store read for `key_hash`, which caches what it finds."""
        read = asyncio.ensure_future(self._read_and_cache(key_hash, self._revocations))
        self._reads[key_hash] = read
        read.add_done_callback(lambda done: self._read_done(key_hash, done))
        return read

    async def _read_and_cache(self, key_hash: str, revocations: int) -> ApiKey | None:
        key = await self._store.find_by_hash(key_hash)
        if key is None:
            self._cache.pop(key_hash, None)  # deleted since: no longer a key
        elif self._cache_seconds > 0 and revocations == self._revocations:
            self._cache[key_hash] = (key, self._clock())
        return key

    def _read_done(self, key_hash: str, read: asyncio.Task[ApiKey | None]) -> None:
        if self._reads.get(key_hash) is read:
            del self._reads[key_hash]
        if not read.cancelled():
            # A background read nobody awaits may fail (the store is down): the entry then
            # serves out its window and the request after it meets the failure itself.
            read.exception()


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_LENGTH or _NAME.fullmatch(name) is None:
        raise InvalidInput.one(
            "name",
            f"must be 1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
