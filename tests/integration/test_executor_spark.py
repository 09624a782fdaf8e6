"""Spark's extracts, run by a real local Spark Connect server, hold exactly DuckDB's rows.

One Spark Connect session for the module (`local[2]`: pyspark starts the server in this
process, which takes seconds). Each case runs the same `ExtractQuery` through `SparkExecutor`
and `DuckdbExecutor` over the same generated Parquet folder, reads both outputs back into
Python values and compares them sorted. Spark's CSV is also compared with DuckDB's `COPY`
line for line. Under CI=true a missing Java or pyspark fails the module; elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import operator
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from filedock.core.extract_model import ExtractFormat, ExtractSpec, Filter, FilterValue
from filedock.ports.dataset_files import DatasetFiles
from filedock.ports.executor import ExtractQuery, ExtractUnreadable
from filedock.ports.executor_duckdb import DuckdbExecutor
from filedock.ports.executor_spark import SparkExecutor
from filedock.ports.extract_sql import extract_sql, path_source
from filedock.ports.objectstore_local import LocalObjectStore
from tests.fixtures.real_parts import require_real_part

ROWS = 4000
BIG_ROWS = 10_000_000
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("product", pa.string()),
        ("weight", pa.float64()),
        ("available", pa.bool_()),
        ("born_on", pa.date32()),
        ("stamped", pa.timestamp("us")),
    ]
)
COLUMNS = tuple(SCHEMA.names)
START = datetime(2024, 1, 1)


def generated_rows() -> list[dict[str, Any]]:
    rng = random.Random(7)

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.06 else value

    return [
        {
            "id": i,
            # Quoting is part of what is compared: commas, quotes, empty strings.
            "product": maybe(rng.choice(["apple", "bread", "", "a,b", 'say "hi"', "é"])),
            "weight": maybe(rng.choice([0.0, 0.1, 1.5, 10.0, round(rng.uniform(0, 100), 2)])),
            "available": maybe(rng.random() < 0.5),
            "born_on": maybe(date(2000, 1, 1) + timedelta(days=rng.randint(0, 3000))),
            # Whole seconds, and fractions with trailing zeros: both written without them.
            "stamped": maybe(
                START
                + timedelta(seconds=rng.randint(0, 3600), microseconds=rng.choice([0, 500, 120000]))
            ),
        }
        for i in range(ROWS)
    ]


DATA = generated_rows()
STAMPED = next(r["stamped"] for r in DATA[2000:] if r["stamped"] is not None)
PYTHON_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}
SIX = tuple(PYTHON_OPERATORS)
FILTERS: list[tuple[str, str, FilterValue]] = [
    *[("id", op, 1999) for op in SIX],
    *[("product", op, "bread") for op in SIX],
    *[("weight", op, 10.0) for op in SIX],
    *[("available", op, flag) for op in ("=", "!=") for flag in (True, False)],
    *[("born_on", op, date(2004, 2, 29)) for op in SIX],
    *[("stamped", op, STAMPED) for op in SIX],
]
# Every ratio, with and without key columns, in both formats, each more than once.
SETTINGS = list(
    itertools.product((1.0, 0.5, 0.1), ((), ("id",)), (ExtractFormat.CSV, ExtractFormat.PARQUET))
)
CASES = [(*case, *SETTINGS[index % len(SETTINGS)]) for index, case in enumerate(FILTERS)]


def spark_missing() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs a JDK 17)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: pip install 'filedock[spark]'"
    if importlib.util.find_spec("grpc") is None:
        return "pyspark's Spark Connect client is not installed: pip install 'filedock[spark]'"
    return None


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spark-data")
    items = root / "items"
    items.mkdir()
    table = pa.Table.from_pylist(DATA, schema=SCHEMA)
    # Two files in a folder: both engines read the folder as one dataset.
    pq.write_table(table.slice(0, ROWS // 2), items / "part-0.parquet")
    pq.write_table(table.slice(ROWS // 2), items / "part-1.parquet")
    return root


@pytest.fixture(scope="module")
def big_dataset(data_root: Path) -> str:
    """Ten million rows (130 MB), for work that takes Spark seconds; its name in `data_root`."""
    big = data_root / "big.parquet"
    duckdb.connect().execute(
        "COPY (SELECT range AS id, round(random() * 1000, 2) AS price, range % 3 = 0 AS flag"
        f" FROM range({BIG_ROWS})) TO '{big}' (FORMAT parquet)"
    )
    return big.name


@pytest.fixture(scope="module")
def spark(data_root: Path) -> Iterator[SparkExecutor]:
    require_real_part(spark_missing(), "Spark (Java 17 and pyspark[connect])")
    executor = SparkExecutor("local[2]", [data_root])
    started = time.monotonic()
    # The session starts on first use; started here so that no test's timing includes it.
    asyncio.run(executor.estimate(located(query(ExtractSpec(("id",), (), 1.0)), data_root)))
    print(f"\nSpark Connect session up in {time.monotonic() - started:.1f}s")
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def duck(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> DuckdbExecutor:
    store = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    return DuckdbExecutor(DatasetFiles(store, [data_root]), memory_limit="256MB")


def query(spec: ExtractSpec, keys: tuple[str, ...] = (), location: str = "items") -> ExtractQuery:
    return ExtractQuery(location=location, spec=spec, seed="seed-3", key_columns=keys)


async def no_op(job_id: str) -> None:
    return None


def located(q: ExtractQuery, root: Path) -> ExtractQuery:
    return ExtractQuery(str(root / q.location), q.spec, q.seed, q.key_columns)


def python_filtered(name: str, op: str, value: FilterValue) -> int:
    """Rows the filter keeps, as Python compares them: NULL matches no comparison."""
    compare = PYTHON_OPERATORS[op]
    return sum(1 for r in DATA if r[name] is not None and compare(r[name], value))


def read_back(path: Path, fmt: ExtractFormat) -> list[tuple[Any, ...]]:
    if fmt is ExtractFormat.PARQUET:
        table = pq.read_table(path)
    else:
        # An empty field is NULL, a quoted empty one an empty string, as DuckDB writes them.
        options = pa_csv.ConvertOptions(
            column_types=SCHEMA, strings_can_be_null=True, quoted_strings_can_be_null=False
        )
        table = pa_csv.read_csv(path, convert_options=options)
    assert table.column_names == list(COLUMNS)
    return sorted(tuple(row.values()) for row in table.to_pylist())


@pytest.mark.parametrize(("name", "op", "value", "ratio", "keys", "fmt"), CASES)
async def test_spark_writes_the_rows_duckdb_writes(
    spark: SparkExecutor,
    duck: DuckdbExecutor,
    data_root: Path,
    tmp_path: Path,
    name: str,
    op: str,
    value: FilterValue,
    ratio: float,
    keys: tuple[str, ...],
    fmt: ExtractFormat,
) -> None:
    spec = ExtractSpec(COLUMNS, (Filter(name, op, value),), ratio, fmt)
    extract = located(query(spec, keys), data_root)
    from_spark, from_duckdb = tmp_path / f"spark.{fmt.value}", tmp_path / f"duckdb.{fmt.value}"
    spark_report = await spark.export(extract, from_spark, started=no_op)
    duck_report = await duck.export(extract, from_duckdb, started=no_op)

    spark_rows, duck_rows = read_back(from_spark, fmt), read_back(from_duckdb, fmt)
    assert spark_rows == duck_rows
    assert spark_report.rows == duck_report.rows == len(duck_rows)
    # A filter keeping nothing or everything would show little; nor would an empty sample.
    filtered = python_filtered(name, op, value)
    assert 0 < filtered < ROWS
    assert duck_rows or filtered * ratio < 20
    if fmt is ExtractFormat.CSV:
        # Byte for byte, once the rows are in the same order (no row holds a line break).
        spark_lines = from_spark.read_bytes().split(b"\n")
        duck_lines = from_duckdb.read_bytes().split(b"\n")
        assert spark_lines[0] == duck_lines[0]
        assert sorted(spark_lines[1:]) == sorted(duck_lines[1:])


async def test_two_filters_and_a_sample_keep_duckdbs_rows(
    spark: SparkExecutor, duck: DuckdbExecutor, data_root: Path, tmp_path: Path
) -> None:
    filters = (Filter("weight", "<", 50.0), Filter("born_on", ">=", date(2002, 6, 1)))
    spec = ExtractSpec(("stamped", "product", "id"), filters, 0.3, ExtractFormat.PARQUET)
    extract = located(query(spec), data_root)
    await spark.export(extract, tmp_path / "spark.parquet", started=no_op)
    await duck.export(extract, tmp_path / "duckdb.parquet", started=no_op)
    # In the order asked, and the sample hashed over values of every type, NULLs too.
    spark_table = pq.read_table(tmp_path / "spark.parquet")
    assert spark_table.column_names == ["stamped", "product", "id"]
    spark_rows = sorted(spark_table.to_pylist(), key=lambda r: r["id"])
    duck_rows = sorted(
        pq.read_table(tmp_path / "duckdb.parquet").to_pylist(), key=lambda r: r["id"]
    )
    assert spark_rows == duck_rows
    assert len(spark_rows) > 100


async def test_estimates_count_the_rows_and_come_within_a_fifth_of_the_bytes(
    spark: SparkExecutor, data_root: Path, big_dataset: str, tmp_path: Path
) -> None:
    # 150,000 filtered rows, half kept: well past the 10,000 rows the width is measured on.
    for fmt in ExtractFormat:
        spec = ExtractSpec(("id", "price", "flag"), (Filter("id", "<", 150_000),), 0.5, fmt)
        extract = located(query(spec, location=big_dataset), data_root)
        estimate = await spark.estimate(extract)
        report = await spark.export(extract, tmp_path / f"out.{fmt.value}", started=no_op)
        # The filtered rows times the ratio: 75,000 against the 75,090 the sample keeps.
        assert estimate.rows == 75_000
        assert abs(report.rows - estimate.rows) < 1000
        written = (tmp_path / f"out.{fmt.value}").stat().st_size
        assert 0.8 * written <= estimate.bytes <= 1.2 * written, (fmt, estimate, written)


async def test_an_estimate_of_no_rows_is_the_formats_own_bytes(
    spark: SparkExecutor, data_root: Path
) -> None:
    spec = ExtractSpec(("id",), (Filter("id", "<", -1),), 1.0, ExtractFormat.CSV)
    estimate = await spark.estimate(located(query(spec), data_root))
    assert (estimate.rows, estimate.bytes) == (0, len(b"id\n"))


async def test_cancelling_an_export_interrupts_the_running_spark_job(
    spark: SparkExecutor, data_root: Path, big_dataset: str, tmp_path: Path
) -> None:
    from pyspark import SparkContext

    # The local server's own context, in this process: it sees the jobs Spark runs.
    context = SparkContext._active_spark_context
    assert context is not None
    tracker = context.statusTracker()
    # md5 over ten million rows, in one partition, keeping about a hundred: the job sends no
    # batch for some twenty seconds, so only Spark's interrupt, not the client's reading of
    # the next batch, can end it promptly (measured: 0.2s with it, 9s without).
    session = spark._session()
    session.conf.set("spark.sql.files.maxPartitionBytes", str(1 << 30))
    session.conf.set("spark.sql.files.minPartitionNum", "1")
    spec = ExtractSpec(("id", "price", "flag"), (), 0.00001, ExtractFormat.CSV)
    tags: list[str] = []

    async def started(tag: str) -> None:
        tags.append(tag)

    target = tmp_path / "big.csv"
    extract = located(query(spec, location=big_dataset), data_root)
    export = asyncio.create_task(spark.export(extract, target, started=started))
    try:
        await wait_until(lambda: bool(tracker.getActiveJobsIds()), within=60)
        await asyncio.sleep(4)
        assert not export.done()

        cancelled_at = time.monotonic()
        export.cancel()
        with pytest.raises(asyncio.CancelledError):
            await export
        assert time.monotonic() - cancelled_at < 3
        await wait_until(lambda: not tracker.getActiveJobsIds(), within=3)
    finally:
        session.conf.unset("spark.sql.files.maxPartitionBytes")
        session.conf.unset("spark.sql.files.minPartitionNum")
    assert tags and tags[0].startswith("filedock-extract-")
    assert not target.exists()
    # The session outlives the cancelled request.
    small = ExtractSpec(("id",), (Filter("id", "<", 10),), 1.0, ExtractFormat.CSV)
    after = await spark.export(located(query(small), data_root), tmp_path / "a.csv", started=no_op)
    assert after.rows == 10


async def test_a_csv_dataset_is_read_with_its_header_row(
    spark: SparkExecutor, data_root: Path, tmp_path: Path
) -> None:
    folder = data_root / "csv-items"
    folder.mkdir(exist_ok=True)
    (folder / "a.csv").write_text('id,product,weight\n1,apple,1.5\n2,,2.25\n3,"a,b",\n')
    spec = ExtractSpec(("product", "id"), (Filter("weight", ">", 1.0),), 1.0, ExtractFormat.CSV)
    report = await spark.export(
        located(query(spec, location="csv-items"), data_root), tmp_path / "o.csv", started=no_op
    )
    assert report.rows == 2
    assert sorted((tmp_path / "o.csv").read_text().splitlines()) == sorted(
        ["product,id", "apple,1", ",2"]
    )


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("/etc/passwd", "under FILEDOCK_CATALOGUE_DATA_ROOTS"),
        ("<root>/../outside", "under FILEDOCK_CATALOGUE_DATA_ROOTS"),
        ("<root>/items/*.parquet", "Spark would expand it"),
        ("<root>/it[e]ms", "Spark would expand it"),
        ("<root>/items\n", "control characters"),
        ("<root>/missing", "no Parquet or CSV file"),
        ("store:datasets/items", "cannot read filedock's own store"),
        ("hdfs://namenode/items", "cannot read filedock's own store"),
        ("s3://Bad_Bucket/items", "s3://<bucket>/<key>"),
        ("s3://bucket/items/{a,b}", "s3://<bucket>/<key>"),
        ("s3://bucket/items/\x00", "control characters"),
    ],
)
async def test_hostile_locations_are_refused_before_spark_is_asked(
    data_root: Path, tmp_path: Path, location: str, reason: str
) -> None:
    # No session is needed: refusals come before one is made (nothing listens on port 1).
    executor = SparkExecutor("sc://localhost:1", [data_root])
    extract = query(
        ExtractSpec(("id",), (), 1.0), location=location.replace("<root>", str(data_root))
    )
    with pytest.raises(ExtractUnreadable, match=re.escape(reason)):
        await executor.export(extract, tmp_path / "o.csv", started=no_op)
    with pytest.raises(ExtractUnreadable, match=re.escape(reason)):
        await executor.estimate(extract)
    assert not (tmp_path / "o.csv").exists()


async def test_a_link_out_of_the_data_root_refuses_the_folder(
    data_root: Path, tmp_path: Path
) -> None:
    folder = data_root / "linked"
    folder.mkdir(exist_ok=True)
    (tmp_path / "secret.parquet").write_bytes(b"x")
    (folder / "out.parquet").symlink_to(tmp_path / "secret.parquet")
    executor = SparkExecutor("sc://localhost:1", [data_root])
    with pytest.raises(ExtractUnreadable, match="leads outside"):
        await executor.estimate(query(ExtractSpec(("id",), (), 1.0), location=str(folder)))


async def test_without_pyspark_the_reason_says_what_to_install(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a server installed without the extra: every pyspark import fails.
    for name in [n for n in sys.modules if n == "pyspark" or n.startswith("pyspark.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    executor = SparkExecutor("local[2]", [data_root])
    extract = located(query(ExtractSpec(("id",), (), 1.0)), data_root)
    with pytest.raises(ExtractUnreadable, match=re.escape("pip install 'filedock[spark]'")):
        await executor.export(extract, tmp_path / "o.csv", started=no_op)
    assert not (tmp_path / "o.csv").exists()


def test_the_spark_query_reads_the_path_as_one_quoted_identifier() -> None:
    spec = ExtractSpec(("id",), (Filter("product", "=", "x"),), 1.0)
    source = path_source("parquet", "file:///data/we`ird; DROP.parquet")
    assert extract_sql(spec, source, "spark", seed="s") == (
        "SELECT `id` FROM parquet.`file:///data/we``ird; DROP.parquet` WHERE `product` = 'x'"
    )


async def wait_until(condition: Any, *, within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
