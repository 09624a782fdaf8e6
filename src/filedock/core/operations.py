"""What operators ask of a running server: is it ready, and how many files and jobs are where."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

Check = Callable[[], Awaitable[None]]
Counts = Callable[[], Awaitable[Mapping[str, int]]]

_CHECK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Operations:
    """Readiness probes by dependency name, and counts by status for the metrics."""

    checks: Mapping[str, Check]
    file_counts: Counts
    job_counts: Counts

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
