"""The executor port: what runs a download request's extract on an item's data.

One backend per engine (`executor_duckdb.py` in process, `executor_spark.py` through Spark
Connect, `executor_athena.py` through pyathena), chosen for each item by its `executor_type`
(runtime.py builds the map). Each builds its query with `extract_sql` in its own dialect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from filedock.core.extract_model import ExtractSpec

Started = Callable[[str], Awaitable[None]]
"""Told the engine's own id for the running work (`executor_job_id`) once it has one."""


@dataclass(frozen=True, slots=True)
class ExtractQuery:
    # The catalogue item's `location`, read as profiling reads it.
    location: str
    spec: ExtractSpec
    # The request's sampling seed (`NewDownloadRequest.seed`).
    seed: str
    # The item's key columns for sampling; empty: the selected values name a row.
    key_columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SizeEstimate:
    # Rows the extract will hold: the rows under the filters, times the ratio.
    rows: int
    # Bytes of the output: `rows` times the mean width of a row in the output format,
    # plus what the format adds once (a CSV header, Parquet's footer).
    bytes: int


@dataclass(frozen=True, slots=True)
class ExportReport:
    rows: int


class ExtractUnreadable(Exception):
    """The item's data cannot be read or queried; the message says why, for the requester."""


class ExecutorNotConfigured(ExtractUnreadable):
    """This server has no engine for the item's executor type."""


class Executor(Protocol):
    async def estimate(self, query: ExtractQuery) -> SizeEstimate:
        """Count the rows under the filters and measure a row's width in the output format."""
        ...

    async def export(self, query: ExtractQuery, target: Path, *, started: Started) -> ExportReport:
        """Write the extract to `target`: CSV with a header row, or Parquet, as the spec says.

        Runs off the event loop, streaming (never the whole result in memory). Cancelling
        the awaiting task stops the engine's work before this returns. `ExtractUnreadable`
        when the data cannot be read.
        """
        ...


class UnconfiguredExecutor:
    """The executor of a type this server has no engine for: every call says which setting."""

    def __init__(self, executor_type: str, setting: str) -> None:
        self._reason = f"this server runs no {executor_type} extracts: set {setting} to enable them"

    async def estimate(self, query: ExtractQuery) -> SizeEstimate:
        raise ExecutorNotConfigured(self._reason)

    async def export(self, query: ExtractQuery, target: Path, *, started: Started) -> ExportReport:
        raise ExecutorNotConfigured(self._reason)


class ExecutorOnFirstUse:
    """An executor built on its first call: an engine's libraries (DuckDB's with sqlglot,
    about 16 MB resident) then load only in a process that runs an extract."""

    def __init__(self, build: Callable[[], Executor]) -> None:
        self._build = build
        self._built: Executor | None = None

    async def estimate(self, query: ExtractQuery) -> SizeEstimate:
        return await self._engine().estimate(query)

    async def export(self, query: ExtractQuery, target: Path, *, started: Started) -> ExportReport:
        return await self._engine().export(query, target, started=started)

    def _engine(self) -> Executor:
        if self._built is None:
            self._built = self._build()
        return self._built
