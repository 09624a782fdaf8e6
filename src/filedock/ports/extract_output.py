"""An extract's output file, written a batch at a time, and the thread its engine runs in.

Executors that receive rows from a remote engine (Spark Connect's Arrow batches, Athena's row
tuples) write them with `ExtractWriter`, so only one batch is in memory at a time: CSV with
a header row, or Parquet through `pyarrow.parquet.ParquetWriter`.

CSV is written as DuckDB's `COPY … TO … (FORMAT csv, HEADER)` writes it, so an extract reads
alike whichever engine made it: `,` between fields and `\\n` after each row; a header row of
the column names; NULL as an empty field and an empty string as `""`; a field (a column name
too) quoted, inner `"` doubled, only when it holds `,`, `"`, `\\n` or `\\r`; booleans
`true`/`false`; dates `YYYY-MM-DD`; timestamps `YYYY-MM-DD HH:MM:SS`, with a fraction of a
second only when there is one and without its trailing zeros (`.0005`); doubles as Python's
`repr` writes them (`10.0`, `0.1`, `1e-05`, `1e+20`, `nan`, `-inf`), which is DuckDB's
shortest round-trip text, and single-precision floats by their own shortest text.

What may still differ from DuckDB's bytes:
- floats: Python and DuckDB each print the shortest text that reads back as the same double;
  they agreed on every value tried (integral, tiny, huge, nan, inf, -0.0), but they are two
  implementations of that rule, not one;
- a timestamp with a time zone is written as its UTC time without an offset; DuckDB adds the
  session's offset (`+00`);
- decimals and times are written as Arrow casts them to text (trailing zeros of a time's
  fraction dropped); binary and nested columns are refused (`ExtractUnreadable`), where DuckDB
  escapes bytes (`\\x00`) and writes lists as `[1, 2]`;
- rows come in the order the engine sends them; no engine promises one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Generic, TypeVar

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from filedock.core.extract_model import ExtractFormat
from filedock.ports.executor import ExtractUnreadable, SizeEstimate

T = TypeVar("T")
F = TypeVar("F")

ROWS_PER_BATCH: Final = 10_000
# Rows an estimate writes to measure a row's width: enough for a stable mean, few enough to
# hold in memory and write in well under a second.
WIDTH_SAMPLE_ROWS: Final = 10_000
_SAMPLE_MARGIN: Final = 1.2
# Parquet rows are buffered into groups this large, as DuckDB's executor writes them: one
# group per engine batch (a few thousand rows) would compress worse and weigh more metadata.
PARQUET_ROW_GROUP_ROWS: Final = 122_880
# ...or this many bytes, whichever comes first, so wide rows cannot hold much in memory.
PARQUET_ROW_GROUP_BYTES: Final = 64 * 1024**2
# How often a stopped engine is asked again: it may not have registered the work the first time.
STOP_REPEAT_SECONDS: Final = 0.5
_NEEDS_QUOTES: Final = '[",\r\n]'
# A fraction of a second without its trailing zeros, or without its dot when it is all zeros.
_TRAILING_ZEROS: Final = r"(\.\d*?[1-9])0+$|\.0+$"


class ExtractWriter:
    """One output file: `write_batch`/`write_rows` as the rows come, `close` to finish it.

    Leaving its `with` block on an exception closes the file unfinished; the caller removes it.
    """

    def __init__(self, target: Path, fmt: ExtractFormat, schema: pa.Schema) -> None:
        self._schema = schema
        self._rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._csv: IO[bytes] | None = None
        if fmt == ExtractFormat.PARQUET:
            self._parquet = pq.ParquetWriter(target, schema)
        else:
            self._csv = target.open("wb")
            # Written first, so an extract of no rows is still a CSV file with its columns.
            names = _quoted_if_needed(pa.array(schema.names, pa.string())).to_pylist()
            self._csv.write(",".join(names).encode() + b"\n")

    @property
    def rows(self) -> int:
        return self._rows

    def write_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if not table.schema.equals(self._schema):
            # Engines mark columns non-null or tag time zones their own way; the values stand.
            table = table.cast(self._schema)
        self._rows += table.num_rows
        if self._csv is not None:
            texts = [
                _csv_text(column, name)
                for column, name in zip(table.columns, table.column_names, strict=True)
            ]
            self._write_csv_lines(texts)
            return
        self._pending.append(table)
        if (
            sum(t.num_rows for t in self._pending) >= PARQUET_ROW_GROUP_ROWS
            or sum(t.nbytes for t in self._pending) >= PARQUET_ROW_GROUP_BYTES
        ):
            self._write_row_groups(finish=False)

    def write_rows(self, rows: Iterable[Sequence[object]]) -> None:
        """Row tuples in the schema's column order, written `ROWS_PER_BATCH` at a time."""
        chunk: list[Sequence[object]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == ROWS_PER_BATCH:
                self.write_batch(rows_to_batch(chunk, self._schema))
                chunk = []
        if chunk:
            self.write_batch(rows_to_batch(chunk, self._schema))

    def close(self) -> None:
        """Finish the file: the last Parquet row group and the footer."""
        if self._parquet is not None:
            self._write_row_groups(finish=True)
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()

    def __enter__(self) -> ExtractWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # Not finished: the rows held back are dropped, the file only closed.
        self._pending = []
        with suppress(Exception):
            self.close()

    def _write_row_groups(self, *, finish: bool) -> None:
        """Whole groups of the rows held back; the rest too if finishing, or if it is large."""
        assert self._parquet is not None
        if not self._pending:
            return
        held, self._pending = pa.concat_tables(self._pending), []
        start = 0
        # Cut at the group size, so every group but the last holds the rows the estimate
        # counts on.
        while held.num_rows - start >= PARQUET_ROW_GROUP_ROWS:
            group = held.slice(start, PARQUET_ROW_GROUP_ROWS)
            self._parquet.write_table(group, row_group_size=PARQUET_ROW_GROUP_ROWS)
            start += PARQUET_ROW_GROUP_ROWS
        rest = held.slice(start)
        if rest.num_rows == 0:
            return
        if finish or rest.nbytes >= PARQUET_ROW_GROUP_BYTES:
            self._parquet.write_table(rest, row_group_size=rest.num_rows)
        else:
            self._pending = [rest]

    def _write_csv_lines(self, texts: list[pa.Array | pa.ChunkedArray]) -> None:
        assert self._csv is not None
        lines = pc.binary_join_element_wise(*texts, ",", null_handling="replace")
        chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            # One string of the batch's lines, handed to the file as one buffer: no Python
            # object per row.
            one_list = pa.ListArray.from_arrays(pa.array([0, len(chunk)], pa.int32()), chunk)
            body = pc.binary_join(one_list, "\n")[0]
            self._csv.write(body.as_buffer())
            self._csv.write(b"\n")


def rows_to_batch(rows: Sequence[Sequence[object]], schema: pa.Schema) -> pa.RecordBatch:
    """Row tuples, in the schema's column order, as one Arrow batch."""
    width = len(schema)
    if any(len(row) != width for row in rows):
        raise ExtractUnreadable(f"the engine sent a row without its {width} values")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    arrays = [
        pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def width_sample_percent(filtered: int) -> float:
    """The share of a source's rows to sample for about `WIDTH_SAMPLE_ROWS` of `filtered`.

    A little more than needed, so that the query's LIMIT, not chance, sets the sample's size.
    """
    if filtered <= WIDTH_SAMPLE_ROWS:
        return 100.0
    return min(100.0, 100 * _SAMPLE_MARGIN * WIDTH_SAMPLE_ROWS / filtered)


def estimate_size(sample: pa.Table, rows: int, fmt: ExtractFormat, scratch: Path) -> SizeEstimate:
    """The size of an extract of `rows` rows, from `sample`, some of its rows, written in `fmt`.

    What the format costs once (a CSV header, a Parquet footer) is measured on an empty
    output; a CSV row's width is the sample's mean. A Parquet file also pays for each row
    group (statistics, dictionary pages): a second file of half the sample tells that cost
    from a row's, as DuckDB's executor measures it.
    """
    overhead = _written_bytes(sample.slice(0, 0), fmt, scratch / f"empty.{fmt.value}")
    if rows == 0 or sample.num_rows == 0:
        return SizeEstimate(rows=rows, bytes=overhead)
    whole = sample.num_rows
    whole_bytes = _written_bytes(sample, fmt, scratch / f"whole.{fmt.value}")
    if fmt is ExtractFormat.CSV or whole < 2:
        return SizeEstimate(rows, round(overhead + rows * (whole_bytes - overhead) / whole))
    half = whole // 2
    half_bytes = _written_bytes(sample.slice(0, half), fmt, scratch / f"half.{fmt.value}")
    per_row = max(whole_bytes - half_bytes, 0) / (whole - half)
    per_group = max(whole_bytes - overhead - whole * per_row, 0)
    groups = -(-rows // PARQUET_ROW_GROUP_ROWS)
    return SizeEstimate(rows, round(overhead + groups * per_group + rows * per_row))


def _written_bytes(table: pa.Table, fmt: ExtractFormat, target: Path) -> int:
    with ExtractWriter(target, fmt, table.schema) as writer:
        writer.write_batch(table)
    return target.stat().st_size


class EngineThread(Generic[T]):
    """Blocking engine work running in its own thread (see `engine_thread`)."""

    def __init__(self, finished: asyncio.Future[T]) -> None:
        self._finished = finished

    async def result(self) -> T:
        # Shielded: a cancelled caller must not cancel the future the thread will complete.
        return await asyncio.shield(self._finished)

    async def first(self, other: asyncio.Future[F]) -> F | None:
        """`other`'s result once it has one, or None if the work ended first (its error raised)."""
        either: set[asyncio.Future[Any]] = {self._finished, other}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if other.done():
            return other.result()
        self._finished.result()
        return None


@asynccontextmanager
async def engine_thread(
    work: Callable[[threading.Event], T], stop: Callable[[], object], *, name: str
) -> AsyncIterator[EngineThread[T]]:
    """Run `work` in a thread of its own; if the block fails or is cancelled, stop it first.

    `work` is given an event set when it must stop (checked between batches); `stop` asks
    the engine to stop (Spark's `interruptTag`, Athena's `cancel`), repeated until the work
    has ended, since a first call can come before the engine has registered the work. The
    block's exception (a cancellation too) is re-raised once the thread is over, so no
    engine work outlives the request. A thread of its own, not the loop's default pool: a
    pool full of long extracts could not run the calls that stop them.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[T] = loop.create_future()
    stopping = threading.Event()

    def run() -> None:
        try:
            result = work(stopping)
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            _settle(loop, finished, partial(finished.set_exception, exc))
        else:
            _settle(loop, finished, partial(finished.set_result, result))

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        yield EngineThread(finished)
    except BaseException:
        stopping.set()
        await _stop_until_finished(finished, stop)
        raise


async def _stop_until_finished(finished: asyncio.Future[Any], stop: Callable[[], object]) -> None:
    loop = asyncio.get_running_loop()
    asking: asyncio.Future[None] | None = None
    while not finished.done():
        # One call at a time, each in a thread of its own: a stop that hangs (an unreachable
        # engine) neither piles up threads nor keeps this from seeing the work end.
        if asking is None or asking.done():
            asking = _ask_to_stop(loop, stop)
        try:
            await asyncio.wait({finished}, timeout=STOP_REPEAT_SECONDS)
        except asyncio.CancelledError:
            # Cancelled again while stopping: the work is being stopped all the same, and the
            # first cancellation is re-raised by the caller once it is over.
            continue
    # The work's own error (most often "interrupted") is the stop's echo, not news.
    if not finished.cancelled():
        finished.exception()


def _ask_to_stop(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], object]
) -> asyncio.Future[None]:
    asked: asyncio.Future[None] = loop.create_future()

    def run() -> None:
        # A stop that fails (the engine has no such work yet, or any more) is asked again or moot.
        with suppress(Exception):
            stop()
        _settle(loop, asked, partial(asked.set_result, None))

    threading.Thread(target=run, name="stop-extract", daemon=True).start()
    return asked


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], settle: Callable[[], None]
) -> None:
    def settle_if_pending() -> None:
        if not future.done():
            settle()

    # The loop may be closed when a stopped process's thread ends: then nobody awaits it.
    with suppress(RuntimeError):
        loop.call_soon_threadsafe(settle_if_pending)


def _csv_text(column: pa.Array | pa.ChunkedArray, name: str) -> pa.Array | pa.ChunkedArray:
    """The column's CSV fields, NULL kept as null (written as an empty field)."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _quoted_if_needed(column)
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_date(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_floating(kind):
        return _float_text(column)
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            # Dropping the zone keeps the stored UTC instant: the text is UTC wall time.
            column = pc.cast(column, pa.timestamp(kind.unit))
        return pc.replace_substring_regex(pc.cast(column, pa.string()), _TRAILING_ZEROS, r"\1")
    if pa.types.is_time(kind):
        return pc.replace_substring_regex(pc.cast(column, pa.string()), _TRAILING_ZEROS, r"\1")
    if pa.types.is_decimal(kind):
        return pc.cast(column, pa.string())
    raise ExtractUnreadable(
        f"column {name!r} is of type {kind}, which an extract cannot write as CSV"
    )


def _quoted_if_needed(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    needs = pc.or_(pc.match_substring_regex(text, _NEEDS_QUOTES), pc.equal(text, ""))
    doubled = pc.replace_substring(text, '"', '""')
    quoted = pc.binary_join_element_wise('"', doubled, '"', "")
    return pc.if_else(needs, quoted, text)


def _float_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if column.type == pa.float64():
        values = column.to_pylist()
    else:
        # Arrow prints a single-precision float's shortest digits; read as a double, Python's
        # repr gives back those digits in DuckDB's layout (`1e-05`, `10.0`).
        values = [None if t is None else float(t) for t in pc.cast(column, pa.string()).to_pylist()]
    return pa.array([None if v is None else repr(v) for v in values], pa.string())
