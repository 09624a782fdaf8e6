"""Profiling real Parquet and CSV files with DuckDB (no network, no extension downloads)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filedock.core.catalogue_model import validate_spec
from filedock.ports.catalogue import DatasetUnreadable
from filedock.ports.objectstore_local import LocalObjectStore
from filedock.ports.profiler_duckdb import DuckdbProfiler
from tests.unit.memory_ports import MemoryStore

SECRET_CSV = b"owner,secret\nann,hunter2\n"


@dataclass
class WatchedStore(MemoryStore):
    """The in-memory store, noting every listing and read the profiler asks for."""

    listed: list[str] = field(default_factory=list)
    read_keys: list[str] = field(default_factory=list)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        self.listed.append(prefix)
        async for key in super().list_keys(prefix):
            yield key

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        self.read_keys.append(key)
        async for chunk in super().read(key, start, end):
            yield chunk


def store_with_private_objects() -> WatchedStore:
    """A CSV at every kind of key uploads write, and one public dataset."""
    store = WatchedStore()
    for key in (
        "files/ann/secret.csv",
        "uploads/ann/secret.csv",
        "direct_uploads/ann/secret.csv",
        "schedules/ann/secret.csv",
        "datasets_private/secret.csv",
    ):
        store.objects[key] = SECRET_CSV
    store.objects["datasets/iot/readings.csv"] = b"sensor,value\nt1,18.5\nt2,19.0\n"
    return store


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
    ["/etc/passwd", "store:nothing/here/", "store:datasets/nothing/here/", "../../etc/shadow"],
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


@pytest.mark.parametrize(
    "location",
    [
        "store:files/ann/secret.csv",
        "store:files/",
        "store:uploads/ann/",
        "store:direct_uploads/",
        "store:schedules/ann/secret.csv",
        "store:",
        "store:datasets",
        "store:datasets_private/",
    ],
)
async def test_store_location_outside_datasets_prefix_is_refused_and_reads_nothing(
    location: str,
) -> None:
    store = store_with_private_objects()
    with pytest.raises(DatasetUnreadable, match="under datasets/"):
        await DuckdbProfiler(store).profile(location)
    assert (store.listed, store.read_keys) == ([], [])


@pytest.mark.parametrize(
    "location",
    [
        "store:datasets/../files/ann/secret.csv",
        "store:datasets/..",
        "store:datasets//files/",
        "store:datasets/..\\files\\ann\\secret.csv",
        "store:datasets/iot\\readings.csv",
        "store:/datasets/iot/",
        "store:/files/ann/secret.csv",
    ],
)
async def test_store_location_escaping_the_datasets_prefix_is_refused_and_reads_nothing(
    location: str,
) -> None:
    store = store_with_private_objects()
    with pytest.raises(DatasetUnreadable, match="datasets/"):
        await DuckdbProfiler(store).profile(location)
    assert (store.listed, store.read_keys) == ([], [])


async def test_only_the_datasets_prefix_of_the_store_is_profiled() -> None:
    store = store_with_private_objects()
    profiler = DuckdbProfiler(store)
    found = await profiler.profile("store:datasets/iot/")
    assert [(c["name"], c["size"]) for c in found.spec] == [("sensor", 2), ("value", 2)]
    assert store.read_keys == ["datasets/iot/readings.csv"]
    with pytest.raises(DatasetUnreadable, match="under datasets/"):
        await profiler.profile("store:files/ann/secret.csv")
    assert store.read_keys == ["datasets/iot/readings.csv"]


async def test_the_datasets_prefix_is_the_profilers_setting() -> None:
    store = store_with_private_objects()
    store.objects["shared/data/iot.csv"] = b"sensor,value\nt1,18.5\n"
    profiler = DuckdbProfiler(store, datasets_prefix="shared/data/")
    found = await profiler.profile("store:shared/data/")
    assert found.sample == [{"sensor": "t1", "value": 18.5}]
    with pytest.raises(DatasetUnreadable, match="under shared/data/"):
        await profiler.profile("store:datasets/iot/")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the data root holding what must never be profiled."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_bytes(SECRET_CSV)
    return folder


async def test_a_symlink_in_a_data_root_to_a_csv_outside_is_refused_naming_the_link(
    data_root: Path, outside: Path
) -> None:
    folder = data_root / "csv"
    folder.mkdir()
    (folder / "a.csv").write_text("owner,secret\nbob,public\n")
    # A link that stays inside the root is read as any file.
    (data_root / "b.csv").write_text("owner,secret\ncid,public\n")
    (folder / "b.csv").symlink_to(data_root / "b.csv")
    profiler = DuckdbProfiler(MemoryStore(), [data_root])
    assert len((await profiler.profile(str(folder))).sample) == 2
    (folder / "leak.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(DatasetUnreadable, match=r"leak\.csv") as refused:
        await profiler.profile(str(folder))
    assert str(outside) not in str(refused.value)


async def test_a_folder_with_a_symlinked_subfolder_pointing_outside_is_refused(
    data_root: Path, outside: Path
) -> None:
    folder = data_root / "csv"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "a.csv").write_text("owner,secret\nbob,public\n")
    (folder / "part" / "more").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DatasetUnreadable, match="part/more") as refused:
        await DuckdbProfiler(MemoryStore(), [data_root]).profile(str(folder))
    assert str(outside) not in str(refused.value)


async def test_a_location_that_is_itself_a_symlink_out_of_the_root_is_refused(
    data_root: Path, outside: Path
) -> None:
    (data_root / "linked.csv").symlink_to(outside / "secret.csv")
    (data_root / "linked").symlink_to(outside, target_is_directory=True)
    profiler = DuckdbProfiler(MemoryStore(), [data_root])
    for location in (data_root / "linked.csv", data_root / "linked"):
        with pytest.raises(DatasetUnreadable, match="FILEDOCK_CATALOGUE_DATA_ROOTS"):
            await profiler.profile(str(location))
