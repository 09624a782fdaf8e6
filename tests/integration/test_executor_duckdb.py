"""The DuckDB executor on generated Parquet files: what it exports, how it stops, what it refuses.

Rows are checked against a plain Python computation over the generated rows (those of
`test_extract_duckdb.py`). Store locations are read through a real `LocalObjectStore` and a
real S3 endpoint (moto's server). The estimate's accuracy has its own module,
`test_executor_duckdb_estimate.py`.
"""

from __future__ import annotations

import asyncio
import csv
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filedock.core.extract_model import ExtractFormat, ExtractSpec, Filter
from filedock.ports.dataset_files import DatasetFiles
from filedock.ports.executor import ExtractQuery, ExtractUnreadable
from filedock.ports.executor_duckdb import DuckdbExecutor
from filedock.ports.objectstore import ObjectStore
from filedock.ports.objectstore_local import LocalObjectStore
from tests.fixtures.s3 import S3Endpoint
from tests.integration.object_store_support import chunks, s3_store
from tests.integration.test_extract_duckdb import DATA, ROWS, python_ids

HOSTILE_NAME = 'a"; DROP TABLE x; --'
HOSTILE_VALUE = "' OR 1=1 --"
# A huge dataset for the price of one file: each hard link is another file for DuckDB to read.
BIG_FILE_ROWS = 1_000_000
BIG_FILE_LINKS = 200
# Well under what the whole export would take, well over a thread's reaction to an interrupt.
PROMPTLY = 2.0


class StartedCalls:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, job_id: str) -> None:
        self.ids.append(job_id)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    pq.write_table(pa.Table.from_pylist(DATA), root / "items.parquet")
    return root


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


def executor(store: ObjectStore, root: Path, scratch: Path) -> DuckdbExecutor:
    return DuckdbExecutor(DatasetFiles(store, [root]), threads=2, scratch_dir=scratch)


def query(location: Path | str, spec: ExtractSpec, seed: str = "seed-1") -> ExtractQuery:
    return ExtractQuery(location=str(location), spec=spec, seed=seed)


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as file:
        return list(csv.reader(file))


def as_csv_text(value: Any) -> str:
    # DuckDB's CSV: NULL as nothing, booleans in lower case; csv.reader reads `""` as ''.
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


async def test_the_csv_has_a_header_row_then_the_rows_python_selects_in_the_order_asked(
    data_root: Path, scratch: Path, tmp_path: Path
) -> None:
    columns = ("price", "id", "product", "weight", "available")
    spec = ExtractSpec(columns, (Filter("price", ">=", 50), Filter("available", "=", True)), 1)
    target = tmp_path / "out.csv"
    started = StartedCalls()
    report = await executor(LocalObjectStore(tmp_path / "objects"), data_root, scratch).export(
        query(data_root / "items.parquet", spec), target, started=started
    )
    expected = [
        [as_csv_text(row[name]) for name in columns]
        for row in DATA
        if row["price"] is not None and row["price"] >= 50 and row["available"] is True
    ]
    assert csv_rows(target) == [list(columns), *expected]
    assert report.rows == len(expected) > 0
    assert len(started.ids) == 1 and started.ids[0].startswith("duckdb:")


async def test_ratio_one_exports_every_filtered_row(
    data_root: Path, scratch: Path, tmp_path: Path
) -> None:
    # The system filedock replaces returned nothing for a ratio of 1.
    run = executor(LocalObjectStore(tmp_path / "objects"), data_root, scratch)
    everything = ExtractSpec(("id",), (), 1, ExtractFormat.PARQUET)
    filtered = ExtractSpec(("id",), (Filter("price", "<", 30),), 1, ExtractFormat.PARQUET)
    for spec, expected in (
        (everything, list(range(ROWS))),
        (filtered, python_ids("price", "<", 30)),
    ):
        target = tmp_path / "out.parquet"
        report = await run.export(query(data_root, spec), target, started=StartedCalls())
        assert pq.read_table(target).column("id").to_pylist() == expected
        assert report.rows == len(expected)
        assert (await run.estimate(query(data_root, spec))).rows == len(expected)


async def test_a_sample_exports_a_part_of_the_filtered_rows_and_the_estimate_counts_them(
    data_root: Path, scratch: Path, tmp_path: Path
) -> None:
    run = executor(LocalObjectStore(tmp_path / "objects"), data_root, scratch)
    spec = ExtractSpec(("id", "product"), (Filter("price", ">=", 20),), 0.1)
    target = tmp_path / "out.csv"
    report = await run.export(query(data_root, spec), target, started=StartedCalls())
    kept = [int(row[0]) for row in csv_rows(target)[1:]]
    filtered = python_ids("price", ">=", 20)
    assert set(kept) < set(filtered)
    assert 0.05 * len(filtered) < len(kept) < 0.15 * len(filtered)
    assert report.rows == len(kept) == (await run.estimate(query(data_root, spec))).rows


async def test_a_hostile_column_name_and_value_are_only_data(scratch: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    values = [HOSTILE_VALUE, "plain", HOSTILE_VALUE, "x' OR '1'='1", None]
    table = pa.table({"id": list(range(len(values))), HOSTILE_NAME: values})
    pq.write_table(table, root / "hostile.parquet")
    run = executor(LocalObjectStore(tmp_path / "objects"), root, scratch)
    spec = ExtractSpec(
        (HOSTILE_NAME, "id"), (Filter(HOSTILE_NAME, "=", HOSTILE_VALUE),), 1, ExtractFormat.PARQUET
    )
    target = tmp_path / "out.parquet"
    report = await run.export(
        query(root, spec, seed="'; DROP TABLE x; --"), target, started=StartedCalls()
    )
    assert pq.read_table(target).to_pylist() == [
        {HOSTILE_NAME: HOSTILE_VALUE, "id": 0},
        {HOSTILE_NAME: HOSTILE_VALUE, "id": 2},
    ]
    assert report.rows == 2
    assert (await run.estimate(query(root, spec))).rows == 2
    # The file is untouched: nothing in it was run as SQL.
    assert pq.read_table(root / "hostile.parquet") == table


async def test_an_output_path_with_a_quote_is_written_there(
    data_root: Path, scratch: Path, tmp_path: Path
) -> None:
    target = tmp_path / "it's here'); DROP TABLE x; --.csv"
    spec = ExtractSpec(("id",), (), 1)
    report = await executor(LocalObjectStore(tmp_path / "objects"), data_root, scratch).export(
        query(data_root, spec), target, started=StartedCalls()
    )
    assert len(csv_rows(target)) == report.rows + 1 == ROWS + 1


@pytest.mark.parametrize("missing", ["nothing-here.parquet", "empty-folder", "/etc/passwd"])
async def test_a_location_without_data_is_unreadable_for_both_calls(
    data_root: Path, scratch: Path, tmp_path: Path, missing: str
) -> None:
    (data_root / "empty-folder").mkdir()
    run = executor(LocalObjectStore(tmp_path / "objects"), data_root, scratch)
    spec = ExtractSpec(("id",), (), 1)
    location = data_root / missing
    with pytest.raises(ExtractUnreadable):
        await run.estimate(query(location, spec))
    target = tmp_path / "out.csv"
    with pytest.raises(ExtractUnreadable):
        await run.export(query(location, spec), target, started=StartedCalls())
    assert not target.exists()


async def test_a_column_the_data_lacks_is_unreadable_and_leaves_no_file(
    data_root: Path, scratch: Path, tmp_path: Path
) -> None:
    run = executor(LocalObjectStore(tmp_path / "objects"), data_root, scratch)
    spec = ExtractSpec(("id", "gone"), (), 1)
    with pytest.raises(ExtractUnreadable, match="gone"):
        await run.estimate(query(data_root, spec))
    target = tmp_path / "out.csv"
    with pytest.raises(ExtractUnreadable, match="gone") as refused:
        await run.export(query(data_root, spec), target, started=StartedCalls())
    assert str(scratch) not in str(refused.value)
    assert not target.exists()
    assert list(scratch.iterdir()) == []


async def test_store_locations_read_the_objects_of_a_local_object_store(
    scratch: Path, tmp_path: Path
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    halves = (DATA[: ROWS // 2], DATA[ROWS // 2 :])
    for index, rows in enumerate(halves):
        part = tmp_path / f"part-{index}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), part)
        await store.write(f"datasets/shop/part-{index}.parquet", chunks(part.read_bytes()))
    run = DuckdbExecutor(DatasetFiles(store), scratch_dir=scratch)
    spec = ExtractSpec(("id",), (Filter("price", "<", 30),), 1, ExtractFormat.PARQUET)
    target = tmp_path / "out.parquet"
    report = await run.export(query("store:datasets/shop/", spec), target, started=StartedCalls())
    assert sorted(pq.read_table(target).column("id").to_pylist()) == python_ids("price", "<", 30)
    assert report.rows == (await run.estimate(query("store:datasets/shop/", spec))).rows
    with pytest.raises(ExtractUnreadable, match="datasets/"):
        await run.estimate(query("store:files/shop/", spec))


async def test_objects_of_a_remote_store_are_copied_to_scratch_and_removed_after(
    s3_endpoint: S3Endpoint, s3_bucket: str, scratch: Path, tmp_path: Path
) -> None:
    store = s3_store(s3_endpoint, s3_bucket)
    try:
        part = tmp_path / "items.parquet"
        pq.write_table(pa.Table.from_pylist(DATA), part)
        await store.write("datasets/shop/items.parquet", chunks(part.read_bytes()))
        run = DuckdbExecutor(DatasetFiles(store), scratch_dir=scratch)
        spec = ExtractSpec(("id",), (Filter("price", ">=", 90),), 1)
        target = tmp_path / "out.csv"
        report = await run.export(
            query("store:datasets/shop/", spec), target, started=StartedCalls()
        )
        assert [int(r[0]) for r in csv_rows(target)[1:]] == python_ids("price", ">=", 90)
        assert (await run.estimate(query("store:datasets/shop/", spec))).rows == report.rows
        assert list(scratch.iterdir()) == []
    finally:
        await store.close()


async def test_rows_never_pass_through_python(
    data_root: Path, scratch: Path, tmp_path: Path
) -> None:
    # tracemalloc sees Python's allocations only: DuckDB's own buffers are not counted.
    run = executor(LocalObjectStore(tmp_path / "objects"), data_root, scratch)
    spec = ExtractSpec(tuple(DATA[0]), (), 1)
    target = tmp_path / "out.csv"
    tracemalloc.start()
    try:
        await run.export(query(data_root, spec), target, started=StartedCalls())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert target.stat().st_size > 300_000
    assert peak < target.stat().st_size / 2


@pytest.fixture(scope="module")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hundred million rows in one folder, on the disk space of one million."""
    root = tmp_path_factory.mktemp("big")
    first = root / "part-000.parquet"
    table = pa.table(
        {"id": pa.array(range(BIG_FILE_ROWS)), "label": [f"row {i}" for i in range(BIG_FILE_ROWS)]}
    )
    pq.write_table(table, first)
    for index in range(1, BIG_FILE_LINKS):
        os.link(first, root / f"part-{index:03}.parquet")
    return root


async def cancelled_after_a_while(work: asyncio.Task[Any]) -> float:
    """Seconds from cancelling `work`, once it has run a while, until it is done."""
    await asyncio.sleep(0.5)
    assert not work.done()
    work.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await work
    return time.monotonic() - cancelled_at


async def test_cancelling_an_export_stops_duckdb_promptly_and_leaves_no_file(
    big_root: Path, scratch: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    started = StartedCalls()
    run = executor(LocalObjectStore(tmp_path / "objects"), big_root, scratch)
    spec = ExtractSpec(("id", "label"), (), 0.5)
    work = asyncio.create_task(run.export(query(big_root, spec), out / "x.csv", started=started))
    assert await cancelled_after_a_while(work) < PROMPTLY
    assert len(started.ids) == 1
    # Neither the target nor DuckDB's temporary file for it stays behind, nor scratch.
    assert list(out.iterdir()) == []
    assert list(scratch.iterdir()) == []


async def test_cancelling_an_estimate_stops_duckdb_promptly(
    big_root: Path, scratch: Path, tmp_path: Path
) -> None:
    run = executor(LocalObjectStore(tmp_path / "objects"), big_root, scratch)
    # The filter makes the count read every label, not only Parquet's metadata.
    spec = ExtractSpec(("id", "label"), (Filter("label", "!=", "row 5"),), 0.5)
    work = asyncio.create_task(run.estimate(query(big_root, spec)))
    assert await cancelled_after_a_while(work) < PROMPTLY
    assert list(scratch.iterdir()) == []


async def test_queries_beyond_the_limit_wait_for_a_running_one_to_end(
    big_root: Path, data_root: Path, scratch: Path, tmp_path: Path
) -> None:
    files = DatasetFiles(LocalObjectStore(tmp_path / "objects"), [big_root, data_root])
    run = DuckdbExecutor(files, memory_limit="256MB", scratch_dir=scratch, max_queries=1)
    long = asyncio.create_task(
        run.export(query(big_root, ExtractSpec(("id", "label"), (), 0.5)), tmp_path / "a.csv",
                   started=StartedCalls())
    )  # fmt: skip
    await asyncio.sleep(0.5)
    small = asyncio.create_task(run.estimate(query(data_root, ExtractSpec(("id",), (), 1.0))))
    done, _ = await asyncio.wait({small}, timeout=1.5)
    assert not done, "a second query ran beside the first beyond max_queries"
    long.cancel()
    assert (await asyncio.wait_for(small, timeout=10)).rows > 0
    with pytest.raises(asyncio.CancelledError):
        await long


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("memory_limit", "lots"),
        ("memory_limit", "512MB'; SET threads=1; --"),
        ("threads", 0),
        ("max_queries", 0),
    ],
)
def test_settings_are_checked_when_the_executor_is_built(
    tmp_path: Path, setting: str, value: Any
) -> None:
    files = DatasetFiles(LocalObjectStore(tmp_path / "objects"))
    with pytest.raises(ValueError, match=setting):
        DuckdbExecutor(files, **{setting: value})
