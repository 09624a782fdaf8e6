"""The virus scanner port: stream bytes in, get a verdict out; backends beside it.

Backends turn their transport's errors into the errors below, so no `OSError` or `asyncio`
exception escapes `ports/`. The two failure kinds ask different things of the caller:
`ScannerUnavailable` means "try again later, the file is fine as far as we know", while
`ScanIncomplete` means "this file can never be scanned here", so the caller rejects it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Protocol

from filedock.core.errors import Unavailable


class ScannerError(Exception):
    """Base of every error a scanner backend raises."""


class ScannerUnavailable(ScannerError, Unavailable):
    """The scanner could not be reached, dropped the connection, timed out or failed.

    Nothing is known about the file; the scan may be retried later.
    """


class ScanIncomplete(ScannerError):
    """The scanner refused the stream for good (it exceeds the scanner's size limit).

    Retrying the same bytes cannot succeed; the file should be rejected with this reason.
    """


@dataclass(frozen=True, slots=True)
class ScanVerdict:
    """What the scanner said about one stream of bytes."""

    clean: bool
    # The scanner's name for what it found, e.g. "Win.Test.EICAR_HDB-1"; None when clean.
    signature: str | None
    scanned_bytes: int


class Scanner(Protocol):
    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanVerdict:
        """Scan the bytes `chunks` yields, in order, as one file.

        Raises `ScannerUnavailable` or `ScanIncomplete`; an exception raised by `chunks`
        itself propagates unchanged.
        """
        ...

    def verdict_without_reading(self) -> ScanVerdict | None:
        """The verdict this scanner gives every file without reading it, if it gives one
        (the switched-off scanner does); None when it must read the bytes to decide."""
        ...

    async def check(self) -> None:
        """Raise `ScannerUnavailable` unless the scanner answers (for readiness probes)."""
        ...

    async def close(self) -> None: ...


class NoScanner:
    """The scanner switched off: every file is called clean WITHOUT LOOKING AT IT.

    It does not read `chunks` at all and reports `scanned_bytes=0`, so a verdict from it never
    claims that anything was scanned. Use it only where no clamd is configured on purpose.
    """

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanVerdict:
        return _UNREAD

    def verdict_without_reading(self) -> ScanVerdict:
        return _UNREAD

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None


_UNREAD = ScanVerdict(clean=True, signature=None, scanned_bytes=0)
