"""A token bucket per caller, so one noisy client cannot starve the others.

Buckets live in this process's memory: with N server worker processes a caller may get up to
N times the configured rate. That is the price of checking in a few hundred nanoseconds with
no database round trip; a limit shared across processes would need a shared store.

Memory is bounded: past `max_keys` buckets the least recently used one is dropped. A dropped
bucket starts full when its caller returns, which is what an idle caller's bucket would have
refilled to anyway, unless `max_keys` callers were active within one refill period.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from filedock.core.errors import RateLimited

DEFAULT_MAX_KEYS = 100_000


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: frozenset[str]
) -> str:
    """The address a request comes from, believing `X-Forwarded-For` only from a trusted proxy.

    Read right to left: each trusted proxy appended the address it got the request from, so
    the first address that is not a trusted proxy is the client. Anything left of it could
    have been written by the client itself.
    """
    if peer is None:
        return "unknown"
    if peer not in trusted_proxies or not forwarded_for:
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if hop and hop not in trusted_proxies:
            return hop
    return peer


class RateLimiter:
    """`rate_per_second` requests per key on average, bursts of up to `burst`.

    `rate_per_second=0` turns limiting off: `check` then allows everything.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if not math.isfinite(rate_per_second) or rate_per_second < 0:
            raise ValueError("rate_per_second must be a finite number >= 0")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._rate = rate_per_second
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        # Checks come from the event loop, but also from sync endpoints FastAPI runs in threads.
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def check(self, key: str) -> None:
        """Spend one token of `key`'s bucket; raise `RateLimited` if it has none."""
        if self._rate <= 0:
            return
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(self._burst, now)
                self._buckets[key] = bucket
                if len(self._buckets) > self._max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                # max(): a clock that stepped back refills nothing rather than draining.
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
                bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            missing = 1 - bucket.tokens
        raise RateLimited(max(1, math.ceil(missing / self._rate)))

    def __len__(self) -> int:
        """How many buckets are held now (at most `max_keys`)."""
        return len(self._buckets)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
