"""Profiling real Parquet and CSV files with DuckDB (no network, no extension downloads)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filedock.core.catalogue_model import validate_spec
from filedock.ports.catalogue import DatasetUnreadable
from filedock.ports.objectstore_local import LocalObjectStore
from filedock.ports.profiler_duckdb import DuckdbProfiler
from tests.unit.memory_ports import MemoryStore


def readings(rows: int = 1000) -> pa.Table:
    return pa.table(
        {
            "location": [["berlin", "paris", None][i % 3] for i in range(rows)],
            "value": [18.0 + (i % 97) / 10 for i in range(rows)],
            "count": list(range(rows)),
            "ok": [i % 2 == 0 for i in range(rows)],
            "day": [dt.date(2026, 1, 1) + dt.timedelta(days=i % 5) for i in range(rows)],
            "at": [dt.datetime(2026, 1, 1, 12) + dt.timedelta(minutes=i) for i in range(rows)],
        }
    )


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    root.mkdir()
    pq.write_table(readings(), root / "readings.parquet")
    return root


async def test_a_parquet_file_gets_types_nulls_sizes_distributions_and_a_sample(
    data_root: Path,
) -> None:
    found = await DuckdbProfiler(MemoryStore(), [data_root]).profile(
        str(data_root / "readings.parquet")
    )
    spec = {column["name"]: column for column in validate_spec(found.spec)}
    assert {name: c["type"] for name, c in spec.items()} == {
        "location": "STRING",
        "value": "FLOAT",
        "count": "INTEGER",
        "ok": "BOOLEAN",
        "day": "DATE",
        "at": "TIMESTAMP",
    }
    assert spec["location"]["is_nullable"] is True and spec["value"]["is_nullable"] is False
    assert spec["location"]["size"] == 667 and spec["count"]["size"] == 1000
    # Low cardinality: value counts, most common first.
    assert spec["location"]["distribution"] == [
        {"value": "berlin", "count": 334},
        {"value": "paris", "count": 333},
    ]
    assert sorted(d["value"] for d in spec["day"]["distribution"]) == [
        f"2026-01-0{n}" for n in range(1, 6)
    ]
    # Numeric, many values: ten histogram buckets named by their lower bound.
    histogram = spec["count"]["distribution"]
    assert len(histogram) == 10 and sum(b["count"] for b in histogram) == 1000
    assert histogram[0] == {"value": 0, "count": 100}
    assert len(found.sample) == 5 and found.sample[0]["location"] == "berlin"
    assert found.sample[0]["at"] == "2026-01-01T12:00:00"


async def test_a_folder_of_csv_files_is_one_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "a.csv").write_text("name,score\nann,1\nbob,2\n")
    (folder / "b.csv").write_text("name,score\ncid,3\n")
    found = await DuckdbProfiler(MemoryStore(), [tmp_path]).profile(str(folder))
    assert [(c["name"], c["type"], c["size"]) for c in found.spec] == [
        ("name", "STRING", 3),
        ("score", "INTEGER", 3),
    ]


async def test_objects_in_the_store_are_profiled_by_prefix(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    pq.write_table(readings(50), tmp_path / "part.parquet")

    async def chunks() -> object:
        yield (tmp_path / "part.parquet").read_bytes()

    await store.write("datasets/iot/part-0.parquet", chunks())  # type: ignore[arg-type]
    found = await DuckdbProfiler(store).profile("store:datasets/iot/")
    assert {c["name"] for c in found.spec} >= {"location", "value"}
    assert next(c for c in found.spec if c["name"] == "count")["size"] == 50


@pytest.mark.parametrize(
    "location",
    ["/etc/passwd", "store:nothing/here/", "../../etc/shadow"],
)
async def test_locations_outside_the_data_roots_or_empty_are_refused(
    data_root: Path, location: str
) -> None:
    with pytest.raises(DatasetUnreadable):
        await DuckdbProfiler(MemoryStore(), [data_root]).profile(location)


async def test_a_file_that_is_not_a_dataset_is_refused_with_a_reason(data_root: Path) -> None:
    (data_root / "broken.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DatasetUnreadable, match="could not be read"):
        await DuckdbProfiler(MemoryStore(), [data_root]).profile(str(data_root / "broken.parquet"))
