"""The DuckDB executor's size estimate against the size of the file its export then writes.

Generated shop data of a few thousand to a few hundred thousand rows, with the columns that
make sizes hard to guess: a sorted id, free text of varying length, a handful of products
(so a sample on them keeps or drops whole groups), a code with thousands of distinct values
(Parquet's dictionaries), dates in runs (Parquet's run-length encoding) and NULLs. Each spec
is estimated, then exported, and the two sizes compared.
"""

from __future__ import annotations

import random
import string
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filedock.core.extract_model import ExtractFormat, ExtractSpec, Filter
from filedock.ports.dataset_files import DatasetFiles
from filedock.ports.executor import ExtractQuery
from filedock.ports.executor_duckdb import DuckdbExecutor
from filedock.ports.objectstore_local import LocalObjectStore

SIZES = (4_000, 40_000, 300_000)
TOLERANCE = 0.2
EVERY_COLUMN = ("id", "product", "note", "price", "weight", "ok", "at", "day", "code")
SPECS = {
    "all columns, every row": ExtractSpec(EVERY_COLUMN, (), 1),
    "all columns, half the rows": ExtractSpec(EVERY_COLUMN, (), 0.5),
    "a tenth of a filtered part": ExtractSpec(
        ("id", "note", "price"), (Filter("price", ">=", 50),), 0.1
    ),
    "sampled on few distinct values": ExtractSpec(("product", "ok"), (), 0.5),
    "dictionary and runs, filtered": ExtractSpec(
        ("code", "day"), (Filter("weight", "<", 30.0),), 1
    ),
    "dictionary and runs, half": ExtractSpec(("code", "day"), (), 0.5),
    "one product, half": ExtractSpec(
        ("id", "product", "at"), (Filter("product", "=", "cake"),), 0.5
    ),
}
PRODUCTS = ["apple", "bread", "cake", "dates", "eggs", "", "a much longer product name here"]


def shop_rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(count)
    start = datetime(2024, 1, 1)
    return [
        {
            "id": i,
            "product": None if rng.random() < 0.05 else rng.choice(PRODUCTS),
            "note": "".join(rng.choices(string.ascii_letters, k=rng.randint(0, 60))),
            "price": rng.randint(-20, 120),
            "weight": None if rng.random() < 0.05 else rng.random() * 100,
            "ok": rng.random() < 0.5,
            "at": start + timedelta(seconds=rng.randint(0, 10**7)),
            "day": date(2000, 1, 1) + timedelta(days=i // 100),
            "code": f"C{rng.randint(0, 5000)}",
        }
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    for size in SIZES:
        pq.write_table(pa.Table.from_pylist(shop_rows(size)), root / f"shop-{size}.parquet")
    return root


@pytest.fixture
def run(data_root: Path, tmp_path: Path) -> DuckdbExecutor:
    files = DatasetFiles(LocalObjectStore(tmp_path / "objects"), [data_root])
    return DuckdbExecutor(files, threads=2, scratch_dir=tmp_path)


async def no_op(job_id: str) -> None:
    pass


async def estimated_and_written(
    run: DuckdbExecutor, location: Path, spec: ExtractSpec, target: Path
) -> tuple[int, int, int, int]:
    """Estimated rows and bytes, then the rows and bytes the export wrote."""
    query = ExtractQuery(str(location), spec, seed="seed-1")
    estimate = await run.estimate(query)
    report = await run.export(query, target, started=no_op)
    return estimate.rows, estimate.bytes, report.rows, target.stat().st_size


@pytest.mark.parametrize("output", list(ExtractFormat))
@pytest.mark.parametrize("spec_name", list(SPECS))
@pytest.mark.parametrize("size", SIZES)
async def test_the_estimate_is_within_a_fifth_of_what_the_export_writes(
    run: DuckdbExecutor,
    data_root: Path,
    tmp_path: Path,
    size: int,
    spec_name: str,
    output: ExtractFormat,
) -> None:
    spec = ExtractSpec(
        SPECS[spec_name].columns, SPECS[spec_name].filters, SPECS[spec_name].randomize_ratio, output
    )
    rows, size_guess, written_rows, written = await estimated_and_written(
        run, data_root / f"shop-{size}.parquet", spec, tmp_path / f"out.{output.value}"
    )
    assert written_rows > 0
    assert abs(rows - written_rows) <= TOLERANCE * written_rows
    assert abs(size_guess - written) <= TOLERANCE * written, (size_guess, written)


@pytest.mark.parametrize("output", list(ExtractFormat))
async def test_the_estimate_of_a_small_extract_is_its_size(
    run: DuckdbExecutor, data_root: Path, tmp_path: Path, output: ExtractFormat
) -> None:
    # Under the sample's size every filtered row is drawn: nothing is left to guess.
    spec = ExtractSpec(EVERY_COLUMN, (Filter("price", "<", 0),), 0.5, output)
    rows, size_guess, written_rows, written = await estimated_and_written(
        run, data_root / "shop-40000.parquet", spec, tmp_path / f"out.{output.value}"
    )
    assert (rows, size_guess) == (written_rows, written)
    assert 0 < written_rows < 10_000


@pytest.mark.parametrize("output", list(ExtractFormat))
async def test_the_estimate_of_an_empty_extract_is_the_formats_own_overhead(
    run: DuckdbExecutor, data_root: Path, tmp_path: Path, output: ExtractFormat
) -> None:
    spec = ExtractSpec(("id", "note"), (Filter("price", ">", 1000),), 1, output)
    rows, size_guess, written_rows, written = await estimated_and_written(
        run, data_root / "shop-4000.parquet", spec, tmp_path / f"out.{output.value}"
    )
    assert (rows, size_guess) == (written_rows, written) == (0, written)
    assert written > 0
