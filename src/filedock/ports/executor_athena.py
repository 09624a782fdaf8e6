"""The Athena executor: extracts run by Amazon Athena through pyathena (`filedock[athena]`).

An item's location names a Glue table, `<database>.<table>` or
`<catalog>.<database>.<table>` (e.g. `analytics.orders`, `AwsDataCatalog.analytics.orders`).
It is parsed strictly: exactly two or three parts split at dots; a database or table name
is 1 to 255 of `a-z 0-9 _`, Athena's rule for them (Glue keeps names in lowercase: an
uppercase one is refused with its lowercase form suggested); a catalog name is 1 to 128 of
`A-Z a-z 0-9 _ @ -`. Nothing else passes: no quotes, spaces, hyphens, dots inside a name,
nor SQL. The parts are then quoted by sqlglot (`table_source`), never pasted.

The query is `extract_sql` in Trino's dialect (Athena engine 3). Athena's timestamps hold
milliseconds: a filter value's microseconds do not survive its CAST to TIMESTAMP. `started`
gets the QueryExecutionId as soon as Athena has given one; cancelling the awaiting task calls
`cursor.cancel()` (StopQueryExecution), repeated until the worker thread is done. Rows come
back through `cursor.fetchmany` (GetQueryResults, 1,000 rows a call: fine for the extracts
people download, slow for millions of rows) into `ExtractWriter`, with column types from the
cursor's description.

The estimate runs two queries, each billed for the columns it scans: the rows under the
filters (times the ratio: the md5 sample over every row would make Athena hash each one),
and a `TABLESAMPLE BERNOULLI` of about `WIDTH_SAMPLE_ROWS` of them, written in the output
format to measure a row's width.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Protocol

import pyarrow as pa  # type: ignore[import-untyped]

from filedock.core.extract_model import ExtractSpec
from filedock.ports.executor import (
    ExportReport,
    ExtractQuery,
    ExtractUnreadable,
    SizeEstimate,
    Started,
)
from filedock.ports.extract_output import (
    WIDTH_SAMPLE_ROWS,
    ExtractWriter,
    engine_thread,
    estimate_size,
    rows_to_batch,
    width_sample_percent,
)
from filedock.ports.extract_sql import count_sql, extract_sql, table_source, width_sample_sql

# GetQueryResults returns at most this many rows a call.
FETCH_ROWS: Final = 1000
_NAME: Final = re.compile(r"[a-z0-9_]{1,255}", re.ASCII)
_CATALOG: Final = re.compile(r"[A-Za-z0-9_@-]{1,128}", re.ASCII)
_INSTALL: Final = "pip install 'filedock[athena]'"


class AthenaCursor(Protocol):
    """What this executor uses of a pyathena cursor."""

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def execute(
        self, operation: str, *, on_start_query_execution: Callable[[str], None] | None = None
    ) -> object: ...

    def fetchmany(self, size: int) -> Sequence[Sequence[Any]]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class AthenaConnection(Protocol):
    def cursor(self) -> AthenaCursor: ...

    def close(self) -> None: ...


Connect = Callable[..., AthenaConnection]


class AthenaExecutor:
    """Runs extracts on Athena in `region`, results staged in `s3_staging_dir` or the work group's.

    `connect` makes a connection from pyathena's keyword arguments (`region_name`,
    `work_group`, `s3_staging_dir`); `pyathena.connect` unless given.
    """

    def __init__(
        self,
        *,
        region: str,
        work_group: str | None = None,
        s3_staging_dir: str | None = None,
        connect: Connect | None = None,
    ) -> None:
        if not region:
            raise ValueError("Athena needs a region")
        if s3_staging_dir is not None and not s3_staging_dir.startswith("s3://"):
            raise ValueError(f"s3_staging_dir must be an s3:// location, not {s3_staging_dir!r}")
        if work_group is None and s3_staging_dir is None:
            raise ValueError("Athena needs a work group or an s3_staging_dir for its results")
        self._settings: dict[str, Any] = {"region_name": region}
        if work_group is not None:
            self._settings["work_group"] = work_group
        if s3_staging_dir is not None:
            self._settings["s3_staging_dir"] = s3_staging_dir
        self._connect = connect

    async def estimate(self, query: ExtractQuery) -> SizeEstimate:
        table = glue_table(query.location)
        session = _Session(self._connection)

        def work(stopping: threading.Event) -> SizeEstimate:
            return session.estimate(query.spec, table, stopping)

        async with engine_thread(work, session.cancel, name="athena-estimate") as running:
            return await running.result()

    async def export(self, query: ExtractQuery, target: Path, *, started: Started) -> ExportReport:
        """Write the extract to `target`; on failure or cancellation no `target` remains."""
        select = extract_sql(
            query.spec,
            table_source(*glue_table(query.location)),
            "trino",
            seed=query.seed,
            key_columns=query.key_columns,
        )
        session = _Session(self._connection)
        loop = asyncio.get_running_loop()
        query_id: asyncio.Future[str] = loop.create_future()

        def told(execution_id: str) -> None:
            # Called in the worker thread by pyathena, before it waits for the query.
            loop.call_soon_threadsafe(_set_once, query_id, execution_id)

        def work(stopping: threading.Event) -> ExportReport:
            return session.export(select, query.spec, target, told, stopping)

        try:
            async with engine_thread(work, session.cancel, name="athena-export") as running:
                execution_id = await running.first(query_id)
                if execution_id is not None:
                    await started(execution_id)
                return await running.result()
        except BaseException:
            # A half-written extract must never pass for a whole one.
            target.unlink(missing_ok=True)
            raise

    def _connection(self) -> AthenaConnection:
        connect = self._connect
        if connect is None:
            try:
                from pyathena import connect as pyathena_connect
            except ImportError:
                raise ExtractUnreadable(
                    f"this server cannot run Athena extracts without pyathena: {_INSTALL}"
                ) from None
            connect = pyathena_connect
        return connect(**self._settings)


def glue_table(location: str) -> tuple[str, ...]:
    """The catalog (if named), database and table a location names; `ExtractUnreadable` if bad."""
    parts = location.split(".")
    if len(parts) not in (2, 3):
        raise ExtractUnreadable(
            "an Athena location is <database>.<table> or <catalog>.<database>.<table>"
        )
    *catalog, database, table = parts
    for name in (database, table):
        if _NAME.fullmatch(name.lower()) and name != name.lower():
            raise ExtractUnreadable(f"Glue names are lowercase: write {location.lower()!r}")
        if not _NAME.fullmatch(name):
            raise ExtractUnreadable(
                f"a database or table name is 1 to 255 of a-z, 0-9, _ and -: {name[:60]!r} is not"
            )
    if catalog and not _CATALOG.fullmatch(catalog[0]):
        raise ExtractUnreadable(
            f"a catalog name is 1 to 128 of A-Z, a-z, 0-9, _, @ and -: {catalog[0][:60]!r} is not"
        )
    return tuple(parts)


class _Session:
    """One connection and cursor, used in the worker thread, cancellable from the loop."""

    def __init__(self, connect: Callable[[], AthenaConnection]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._cursor: AthenaCursor | None = None

    def export(
        self,
        select: str,
        spec: ExtractSpec,
        target: Path,
        told: Callable[[str], None],
        stopping: threading.Event,
    ) -> ExportReport:
        with self._cursor_open(stopping) as cursor:
            cursor.execute(select, on_start_query_execution=told)
            with ExtractWriter(target, spec.format, _schema(cursor)) as writer:
                while rows := cursor.fetchmany(FETCH_ROWS):
                    _check(stopping)
                    writer.write_rows(rows)
            return ExportReport(rows=writer.rows)

    def estimate(
        self, spec: ExtractSpec, table: tuple[str, ...], stopping: threading.Event
    ) -> SizeEstimate:
        source = table_source(*table)
        with self._cursor_open(stopping) as cursor:
            cursor.execute(count_sql(spec, source, "trino"))
            counted = cursor.fetchmany(1)
            filtered = int(counted[0][0]) if counted else 0
            _check(stopping)
            percent = width_sample_percent(filtered)
            cursor.execute(
                width_sample_sql(spec, source, "trino", percent=percent, limit=WIDTH_SAMPLE_ROWS)
            )
            schema = _schema(cursor)
            batches = []
            while fetched := cursor.fetchmany(FETCH_ROWS):
                _check(stopping)
                batches.append(rows_to_batch(fetched, schema))
        sample = pa.Table.from_batches(batches, schema=schema)
        rows = round(filtered * spec.randomize_ratio)
        with tempfile.TemporaryDirectory(prefix="filedock-estimate-") as scratch:
            return estimate_size(sample, rows, spec.format, Path(scratch))

    def cancel(self) -> None:
        with self._lock:
            cursor = self._cursor
        # Raises while pyathena has no query id yet; `engine_thread` asks again shortly.
        if cursor is not None:
            cursor.cancel()

    @contextmanager
    def _cursor_open(self, stopping: threading.Event) -> Iterator[AthenaCursor]:
        _check(stopping)
        connection = self._connect()
        try:
            cursor = connection.cursor()
            with self._lock:
                self._cursor = cursor
            try:
                yield cursor
            finally:
                with self._lock:
                    self._cursor = None
                cursor.close()
        except ExtractUnreadable:
            raise
        except Exception as exc:
            if not _is_pyathena_error(exc):
                raise
            raise ExtractUnreadable(f"Athena could not run the extract: {exc}") from None
        finally:
            connection.close()


def _schema(cursor: AthenaCursor) -> Any:
    """The Arrow schema of the cursor's result, from Athena's column types."""
    if cursor.description is None:
        raise ExtractUnreadable("Athena returned no result columns")
    return pa.schema(
        [
            pa.field(str(name), _arrow_type(str(name), str(kind), precision, scale))
            for name, kind, _, _, precision, scale, *_ in cursor.description
        ]
    )


def _arrow_type(name: str, kind: str, precision: Any, scale: Any) -> Any:
    simple = {
        "boolean": pa.bool_(),
        "tinyint": pa.int8(),
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "float": pa.float32(),
        "real": pa.float32(),
        "double": pa.float64(),
        "char": pa.string(),
        "varchar": pa.string(),
        "string": pa.string(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        # pyathena hands these over with their zone: stored as UTC instants.
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "time": pa.time64("us"),
    }
    if kind in simple:
        return simple[kind]
    if kind == "decimal":
        return pa.decimal128(int(precision), int(scale))
    raise ExtractUnreadable(f"column {name!r} is of Athena type {kind}, which extracts do not hold")


def _is_pyathena_error(exc: Exception) -> bool:
    try:
        from pyathena.error import Error
    except ImportError:
        return False
    return isinstance(exc, Error)


def _check(stopping: threading.Event) -> None:
    if stopping.is_set():
        raise ExtractUnreadable("the extract was stopped")


def _set_once(future: asyncio.Future[str], value: str) -> None:
    if not future.done():
        future.set_result(value)
