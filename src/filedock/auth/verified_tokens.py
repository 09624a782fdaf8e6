"""Bearer tokens already verified, remembered until they expire.

Verifying an HS256 token through PyJWT costs tens of microseconds of CPU (its base64 check
walks the token one character at a time), paid on every request of a client that keeps its
token, as clients do: a fifth of a small upload's CPU here (docs/benchmarks.md). A token
that verified stays valid until its `exp` (plus the leeway), since nothing about it or our
secret changes meanwhile, so its principal is remembered by the exact token string until
then. Only tokens of our own secret: RS256 keys come from a JWKS that may rotate them away.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from filedock.core.principal import Principal

CAPACITY = 4096
"""Tokens remembered at most (a few hundred bytes each); the oldest is forgotten first."""


class VerifiedTokens:
    def __init__(self, *, capacity: int = CAPACITY, clock: Callable[[], float] = time.time) -> None:
        # PyJWT checks `exp` against the wall clock (time.time), so this does too.
        self._capacity = capacity
        self._clock = clock
        self._valid_until: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        """The principal of a token verified before and not yet expired, else None."""
        remembered = self._valid_until.get(token)
        if remembered is None:
            return None
        principal, valid_until = remembered
        if self._clock() < valid_until:
            return principal
        del self._valid_until[token]
        return None

    def remember(self, token: str, principal: Principal, valid_until: float) -> None:
        while len(self._valid_until) >= self._capacity:
            del self._valid_until[next(iter(self._valid_until))]
        self._valid_until[token] = (principal, valid_until)

    def __len__(self) -> int:
        return len(self._valid_until)
