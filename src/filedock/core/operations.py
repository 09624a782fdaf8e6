"""What operators ask of a running server: is it ready, and how many files and jobs are where."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from filedock.core.errors import NotFound, Unauthenticated

Check = Callable[[], Awaitable[None]]
Counts = Callable[[], Awaitable[Mapping[str, int]]]

_CHECK_TIMEOUT_SECONDS = 5.0


async def _no_counts() -> Mapping[str, int]:
    return {}


@dataclass(frozen=True, slots=True)
class Operations:
    """Readiness probes by dependency name (the runtime adds clamd's when one is configured),
    and counts for the metrics: files and jobs by status, due jobs by kind."""

    checks: Mapping[str, Check]
    file_counts: Counts
    job_counts: Counts
    queue_depth: Counts = _no_counts

    async def readiness(self) -> dict[str, str]:
        """`ok` or `unavailable` for each dependency, each probe bounded in time."""
        results = await asyncio.gather(*(_probe(check) for check in self.checks.values()))
        return dict(zip(self.checks, results, strict=True))


async def _probe(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), _CHECK_TIMEOUT_SECONDS)
    except Exception:
        return "unavailable"
    return "ok"


@dataclass(frozen=True, slots=True)
class SharedSecret:
    """A Bearer secret shared with one trusted caller: a metrics scraper, a bucket's webhook.

    Without a secret the door is shut (`NotFound`, as if it were not there) unless it is
    configured open; a wrong or missing secret is `Unauthenticated`. Compared in constant time.
    """

    secret: str | None
    what: str
    open_without_secret: bool = False

    def check(self, authorization: str | None) -> None:
        if self.secret is None:
            if not self.open_without_secret:
                raise NotFound(f"{self.what} is not enabled on this server")
            return
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.secret.encode()
        ):
            raise Unauthenticated(f"a valid Bearer token is required for {self.what}")
