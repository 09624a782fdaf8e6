"""The DuckDB executor: extracts run in process, on the item's local Parquet or CSV files.

The files are those profiling reads (`dataset_files.py`); objects of a remote store are
copied into a scratch folder that lives as long as one call. DuckDB writes the extract
straight to the target with `COPY`, so no row passes through Python, and spills to the
scratch folder past its memory limit. Each call gets its own connection in a worker thread;
cancelling the awaiting task interrupts that connection and waits for the thread, so no
query outlives its request.

The estimate counts the rows under the filters exactly (cheap: no hashing), then draws blocks
of those rows, applies the request's own md5 sample to them, and writes what it keeps in the
output format. That measures both the share the sample keeps and the width of a row as the
export writes it, compressed alike; the format's fixed overhead is measured on an empty
output. It costs a fraction of the export on large data, and is exact on small data, where
the blocks drawn are all the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import re
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlglot import exp

from filedock.core.extract_model import ExtractFormat
from filedock.ports.catalogue import DatasetUnreadable
from filedock.ports.dataset_files import DatasetFiles
from filedock.ports.executor import (
    ExportReport,
    ExtractQuery,
    ExtractUnreadable,
    SizeEstimate,
    Started,
)
from filedock.ports.extract_sql import extract_sql, local_files_source, table_source

if TYPE_CHECKING:
    import duckdb

# Rows of the extract written to measure a row's width, per format. A CSV row's width does
# not depend on its neighbours: 10,000 rows give a stable mean in well under a second. A
# Parquet row group's dictionaries and statistics grow with its rows, but not in proportion
# (10,000 rows of a column with 5,000 distinct values carry a dictionary nearly as large as
# 120,000 rows do): the sample is one whole row group, measured as the export writes it.
PARQUET_ROW_GROUP_ROWS: Final = 122_880
CSV_SAMPLE_ROWS: Final = 10_000
# Filtered rows drawn at most, however small the ratio, to find those rows.
MAX_SAMPLED_ROWS: Final = 1_000_000
_SAMPLE_TABLE: Final = "width_sample"
# How often the event loop repeats an interrupt until the worker thread has stopped: an
# interrupt that lands between two statements would otherwise be lost.
_INTERRUPT_EVERY: Final = 0.05
_MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(B|[KMGT]i?B)", re.IGNORECASE)
_SAMPLE_ROWS: Final = {
    ExtractFormat.CSV: CSV_SAMPLE_ROWS,
    ExtractFormat.PARQUET: PARQUET_ROW_GROUP_ROWS,
}
# The row group size is set rather than left to DuckDB's default: the estimate's sample is
# one row group.
_COPY_OPTIONS: Final = {
    ExtractFormat.CSV: "(FORMAT csv, HEADER)",
    ExtractFormat.PARQUET: f"(FORMAT parquet, ROW_GROUP_SIZE {PARQUET_ROW_GROUP_ROWS})",
}

_T = TypeVar("_T")


class DuckdbExecutor:
    """Runs extracts with DuckDB in this process, within `memory_limit` and `threads`."""

    def __init__(
        self,
        files: DatasetFiles,
        *,
        memory_limit: str = "512MB",
        threads: int | None = None,
        scratch_dir: Path | None = None,
        max_queries: int = 2,
    ) -> None:
        """At most `max_queries` DuckDB queries run at once (exports and estimates alike):
        each may take `memory_limit`, so this bounds what extracts add to the process, and
        keeps them from filling the thread pool the local store reads and writes with."""
        if max_queries < 1:
            raise ValueError(f"max_queries must be at least 1, not {max_queries}")
        # Checked here, at start-up, rather than by the first extract's SET statement.
        if not _MEMORY_LIMIT.fullmatch(memory_limit):
            raise ValueError(f"memory_limit must be a size like 512MB or 2GiB: {memory_limit!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self._files = files
        self._memory_limit = memory_limit
        self._threads = threads
        self._scratch_dir = scratch_dir
        self._slots = asyncio.Semaphore(max_queries)

    async def estimate(self, query: ExtractQuery) -> SizeEstimate:
        with self._scratch("filedock-estimate-") as scratch:
            files = await self._local_files(query.location, scratch)
            async with self._slots:
                return await _run(
                    self._settings(scratch), lambda c: _estimate(c, files, query, scratch)
                )

    async def export(self, query: ExtractQuery, target: Path, *, started: Started) -> ExportReport:
        """Write the extract to `target`; on failure or cancellation no `target` remains."""
        with self._scratch("filedock-export-") as scratch:
            files = await self._local_files(query.location, scratch)
            select = extract_sql(
                query.spec,
                local_files_source(files),
                "duckdb",
                seed=query.seed,
                key_columns=query.key_columns,
            )
            try:
                async with self._slots:
                    rows = await _run(
                        self._settings(scratch),
                        lambda c: _copy(c, select, target, query.spec.format),
                        started=lambda: started(f"duckdb:{uuid.uuid4()}"),
                    )
            except BaseException:
                # A half-written extract must never pass for a whole one.
                target.unlink(missing_ok=True)
                raise
            return ExportReport(rows=rows)

    @contextlib.contextmanager
    def _scratch(self, prefix: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix=prefix, dir=self._scratch_dir) as scratch:
            yield Path(scratch)

    async def _local_files(self, location: str, scratch: Path) -> list[Path]:
        try:
            return await self._files.local_files(location, scratch)
        except DatasetUnreadable as exc:
            raise ExtractUnreadable(str(exc)) from None

    def _settings(self, scratch: Path) -> _Settings:
        return _Settings(self._memory_limit, self._threads, scratch)


@dataclasses.dataclass(frozen=True, slots=True)
class _Settings:
    memory_limit: str
    threads: int | None
    scratch: Path


async def _run(
    settings: _Settings,
    work: Callable[[duckdb.DuckDBPyConnection], _T],
    *,
    started: Callable[[], Awaitable[None]] | None = None,
) -> _T:
    """`work` on a fresh connection in a worker thread, interrupted if this task is cancelled.

    Returns only once the thread is done, so the scratch folder may go right after.
    """
    query = _InterruptibleQuery(settings)
    running = asyncio.ensure_future(asyncio.to_thread(query.run, work))
    try:
        if started is not None:
            await started()
        return await asyncio.shield(running)
    except BaseException:
        await query.stop(running)
        raise


class _InterruptibleQuery:
    """One connection, opened in the worker thread, that the event loop can interrupt."""

    def __init__(self, settings: _Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._stopped = False

    def run(self, work: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        # Imported on first use: DuckDB adds tens of MB to a server that never extracts.
        import duckdb

        connection = duckdb.connect()
        try:
            with self._lock:
                if self._stopped:
                    raise _Stopped
                self._connection = connection
            _configure(connection, self._settings)
            return work(connection)
        except duckdb.Error as exc:
            raise ExtractUnreadable(_message(exc, self._settings.scratch)) from None
        finally:
            with self._lock:
                self._connection = None
            connection.close()

    async def stop(self, running: asyncio.Future[Any]) -> None:
        """Interrupt until the thread is done, even if this task is cancelled again meanwhile."""
        while not running.done():
            with self._lock:
                self._stopped = True
                if self._connection is not None:
                    self._connection.interrupt()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([running], timeout=_INTERRUPT_EVERY)
        if not running.cancelled():
            # Retrieved, so that asyncio does not log the interrupt as never seen.
            running.exception()


class _Stopped(Exception):
    """The task was cancelled before its query began; the task's own cancellation is raised."""


def _configure(connection: duckdb.DuckDBPyConnection, settings: _Settings) -> None:
    import duckdb

    # No extension may be fetched or loaded at run time (offline installs).
    connection.execute("SET autoinstall_known_extensions = false")
    with contextlib.suppress(duckdb.CatalogException, duckdb.InvalidInputException):
        connection.execute("SET autoload_known_extensions = false")
    connection.execute(f"SET memory_limit = {_string(settings.memory_limit)}")
    if settings.threads is not None:
        connection.execute(f"SET threads = {int(settings.threads)}")
    connection.execute(f"SET temp_directory = {_string(str(settings.scratch / 'spill'))}")


def _estimate(
    connection: duckdb.DuckDBPyConnection, files: list[Path], query: ExtractQuery, scratch: Path
) -> SizeEstimate:
    spec, output = query.spec, query.spec.format
    everything = dataclasses.replace(spec, randomize_ratio=1.0)
    filtered = extract_sql(everything, local_files_source(files), "duckdb", seed=query.seed)
    # The filter's columns only: cheap, often answered from Parquet's metadata.
    count = _scalar(connection, f"SELECT count(*) FROM ({filtered})")
    # What the format costs with no row at all: a CSV's header, a Parquet file's footer.
    empty = scratch / f"empty.{output.value}"
    _copy(connection, f"SELECT * FROM ({filtered}) LIMIT 0", empty, output)
    overhead = empty.stat().st_size
    if count == 0:
        return SizeEstimate(rows=0, bytes=overhead)
    sampled = _sample_filtered_rows(connection, files, query, count)
    # The sample hashes only the sampled rows, and writes what the export would of them.
    sample = scratch / f"sample.{output.value}"
    extract = extract_sql(
        spec, table_source(_SAMPLE_TABLE), "duckdb", seed=query.seed, key_columns=query.key_columns
    )
    kept = _copy(connection, extract, sample, output)
    # The share the hash keeps, measured rather than taken to be the ratio: it keeps or drops
    # all rows with the same key values together, so on keys with few distinct values the
    # ratio says little about how many rows it keeps.
    rows = round(count * kept / sampled)
    width = max(sample.stat().st_size - overhead, 0) / max(kept, 1)
    # When every filtered row was sampled, this is the export's size to the byte.
    return SizeEstimate(rows=rows, bytes=round(overhead + rows * width))


def _sample_filtered_rows(
    connection: duckdb.DuckDBPyConnection, files: list[Path], query: ExtractQuery, count: int
) -> int:
    """Rows under the filters, in blocks of neighbouring rows, into `_SAMPLE_TABLE`; how many.

    Enough that about `_SAMPLE_ROWS` of them pass the sample. Blocks (DuckDB's system
    sampling takes whole vectors of 2,048 rows) rather than single rows, because Parquet's
    run-length and dictionary encodings compress neighbouring rows together. Only the columns
    the extract needs are kept, in DuckDB's memory, spilled to scratch past its limit.
    """
    spec = query.spec
    wanted = min(_SAMPLE_ROWS[spec.format] / spec.randomize_ratio, MAX_SAMPLED_ROWS)
    needed = tuple(
        dict.fromkeys((*spec.columns, *query.key_columns, *(f.name for f in spec.filters)))
    )
    source = local_files_source(files)
    if wanted < count:
        seed = int(hashlib.md5(query.seed.encode()).hexdigest()[:8], 16)
        sampling = exp.TableSample(
            method=exp.var("SYSTEM"),
            percent=exp.Literal.number(f"{100 * wanted / count:.12f}"),
            seed=exp.Literal.number(seed),
        )
        source.set("sample", sampling)
    kept = dataclasses.replace(spec, columns=needed, randomize_ratio=1.0)
    select = extract_sql(kept, source, "duckdb", seed=query.seed)
    connection.execute(f"CREATE TEMPORARY TABLE {_SAMPLE_TABLE} AS {select}")
    sampled = _scalar(connection, f"SELECT count(*) FROM {_SAMPLE_TABLE}")
    if sampled == 0:
        # The blocks drawn missed the few filtered rows: the first ones stand in for them.
        plain = extract_sql(kept, local_files_source(files), "duckdb", seed=query.seed)
        limited = f"{plain} LIMIT {round(wanted)}"
        connection.execute(f"CREATE OR REPLACE TEMPORARY TABLE {_SAMPLE_TABLE} AS {limited}")
        sampled = _scalar(connection, f"SELECT count(*) FROM {_SAMPLE_TABLE}")
    return sampled


def _copy(
    connection: duckdb.DuckDBPyConnection, select: str, target: Path, output: ExtractFormat
) -> int:
    """Rows `select` wrote to `target`; DuckDB streams them there, none come back to Python."""
    statement = f"COPY ({select}) TO {_string(str(target))} {_COPY_OPTIONS[output]}"
    return _scalar(connection, statement)


def _scalar(connection: duckdb.DuckDBPyConnection, statement: str) -> int:
    row = connection.execute(statement).fetchone()
    return int(row[0]) if row else 0


def _string(text: str) -> str:
    # COPY's target and SET's values cannot be bound parameters: quoted by sqlglot instead.
    return exp.Literal.string(text).sql(dialect="duckdb")


def _message(error: Exception, scratch: Path) -> str:
    # The scratch folder is ours, not the requester's business.
    return f"the extract could not be run: {str(error).replace(str(scratch), '<scratch>')}"
