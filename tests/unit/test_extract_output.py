"""The extract writer against DuckDB's own CSV, and the thread an engine's work runs in."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filedock.core.extract_model import ExtractFormat
from filedock.ports.executor import ExtractUnreadable
from filedock.ports.extract_output import (
    PARQUET_ROW_GROUP_ROWS,
    ExtractWriter,
    engine_thread,
    estimate_size,
    rows_to_batch,
)

# Values whose CSV text is easy to get wrong: quoting, empty against NULL, float shortest
# forms, trailing zeros of fractions of a second, years before 1000, single precision.
TRICKY = """SELECT * FROM (VALUES
 (1, 'a,b', 1.5::DOUBLE, true, DATE '2024-01-01', TIMESTAMP '2024-01-01 00:00:00', 2.5::FLOAT),
 (2, '', 10.0, false, NULL, TIMESTAMP '2024-01-01 00:00:00.0005', 0.1::FLOAT),
 (3, NULL, 0.1, NULL, DATE '0999-01-01', TIMESTAMP '2024-01-01 00:00:00.5', 1e-5::FLOAT),
 (4, ' sp ', 1e20, NULL, NULL, NULL, NULL),
 (5, 'q"uote', 1.25e-7, NULL, NULL, NULL, 'nan'::FLOAT),
 (6, 'line
break', 'nan', NULL, NULL, NULL, 1e20::FLOAT),
 (7, 'tab	x', -0.0, NULL, NULL, NULL, 123456789::FLOAT),
 (8, 'é;x', 123456789.125, NULL, NULL, NULL, 1/3::FLOAT),
 (9, 'cr' || chr(13) || 'x', 'inf', NULL, NULL, NULL, -0.0::FLOAT),
 (10, 'NULL', 1e16, NULL, NULL, NULL, 1e16::FLOAT),
 (11, '\\', 1e15, NULL, NULL, NULL, 0.0001::FLOAT)
) t("id", "s,tr", "f", "b", "d", "ts", "g")"""


def test_csv_is_byte_for_byte_what_duckdb_copy_writes(tmp_path: Path) -> None:
    connection = duckdb.connect()
    connection.execute(f"COPY ({TRICKY}) TO '{tmp_path / 'duckdb.csv'}' (FORMAT csv, HEADER)")
    table = connection.sql(TRICKY).to_arrow_table()
    with ExtractWriter(tmp_path / "ours.csv", ExtractFormat.CSV, table.schema) as writer:
        # Batch by batch, as an engine sends them.
        for batch in table.to_batches(max_chunksize=4):
            writer.write_batch(batch)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "duckdb.csv").read_bytes()
    assert writer.rows == 11


def test_a_time_zone_is_written_as_utc_without_an_offset(tmp_path: Path) -> None:
    schema = pa.schema([("at", pa.timestamp("us", tz="Europe/Paris"))])
    with ExtractWriter(tmp_path / "o.csv", ExtractFormat.CSV, schema) as writer:
        writer.write_rows([(datetime(2024, 7, 1, 10, 0, 0, 250000, tzinfo=UTC),)])
    assert (tmp_path / "o.csv").read_text() == "at\n2024-07-01 10:00:00.25\n"


def test_an_extract_of_no_rows_still_has_its_columns(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("a b", pa.string())])
    with ExtractWriter(tmp_path / "o.csv", ExtractFormat.CSV, schema):
        pass
    with ExtractWriter(tmp_path / "o.parquet", ExtractFormat.PARQUET, schema):
        pass
    assert (tmp_path / "o.csv").read_text() == "id,a b\n"
    assert pq.read_table(tmp_path / "o.parquet").schema.names == ["id", "a b"]


def test_parquet_batches_are_gathered_into_large_row_groups(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("on", pa.date32())])
    rows = PARQUET_ROW_GROUP_ROWS + 5000
    with ExtractWriter(tmp_path / "o.parquet", ExtractFormat.PARQUET, schema) as writer:
        for start in range(0, rows, 1000):
            ids = list(range(start, min(start + 1000, rows)))
            writer.write_rows((i, date(2024, 1, 1)) for i in ids)
    metadata = pq.ParquetFile(tmp_path / "o.parquet").metadata
    assert metadata.num_rows == rows == writer.rows
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        PARQUET_ROW_GROUP_ROWS,
        5000,
    ]


def test_a_row_of_the_wrong_width_is_refused() -> None:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    with pytest.raises(ExtractUnreadable, match="2 values"):
        rows_to_batch([(1, "a"), (2,)], schema)


def test_a_column_csv_cannot_hold_is_refused_by_name(tmp_path: Path) -> None:
    schema = pa.schema([("tags", pa.list_(pa.string()))])
    with (
        pytest.raises(ExtractUnreadable, match="'tags'"),
        ExtractWriter(tmp_path / "o.csv", ExtractFormat.CSV, schema) as writer,
    ):
        writer.write_rows([(["a"],)])


@pytest.mark.parametrize("fmt", list(ExtractFormat))
def test_the_size_estimate_of_a_sample_is_within_a_fifth_of_the_whole(
    tmp_path: Path, fmt: ExtractFormat
) -> None:
    # A price of a thousand values: a sample of 10,000 rows holds its whole dictionary. (With
    # tens of thousands of distinct values, a sample's Parquet dictionary weighs more per row
    # than the whole file's, and the estimate comes out high.)
    whole = duckdb.sql(
        "SELECT range AS id, 'item-' || (range % 97) AS name, round(random() * 100, 1) AS price"
        " FROM range(300000)"
    ).to_arrow_table()
    with ExtractWriter(tmp_path / f"whole.{fmt.value}", fmt, whole.schema) as writer:
        writer.write_batch(whole)
    written = (tmp_path / f"whole.{fmt.value}").stat().st_size
    sample = whole.take(list(range(0, 300000, 30)))
    estimate = estimate_size(sample, whole.num_rows, fmt, tmp_path)
    assert estimate.rows == whole.num_rows
    assert 0.8 * written <= estimate.bytes <= 1.2 * written, (estimate, written)


async def test_a_cancelled_block_stops_the_work_and_waits_for_its_thread() -> None:
    ended = threading.Event()
    stops: list[float] = []

    def work(stopping: threading.Event) -> int:
        # Like an engine that only notices the stop after being asked twice.
        while len(stops) < 2:
            time.sleep(0.01)
        assert stopping.is_set()
        ended.set()
        raise RuntimeError("interrupted")

    async def run() -> int:
        async with engine_thread(work, lambda: stops.append(time.monotonic()), name="t") as job:
            return await job.result()

    task = asyncio.create_task(run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Not before the thread was over: no engine work outlives the request.
    assert ended.is_set()
    assert len(stops) == 2


async def test_the_works_error_and_result_reach_the_awaiting_task() -> None:
    async def run(value: int | None) -> int:
        def work(stopping: threading.Event) -> int:
            if value is None:
                raise ExtractUnreadable("no such table")
            return value

        async with engine_thread(work, lambda: None, name="t") as job:
            return await job.result()

    assert await run(7) == 7
    with pytest.raises(ExtractUnreadable, match="no such table"):
        await run(None)
