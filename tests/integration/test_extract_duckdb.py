"""Extract queries run on a real DuckDB over a generated Parquet file, checked against Python.

Every filter is compared with a plain Python filter over the same generated rows (a NULL
matches no comparison, as in SQL); sampling is deterministic for a seed, so its tolerances
cannot flake.
"""

from __future__ import annotations

import hashlib
import operator
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filedock.core.extract_spec import parse_spec
from filedock.ports.extract_sql import extract_sql, local_files_source, sample_threshold

ROWS = 5000
COLUMNS = [
    {"name": name, "type": kind, "is_nullable": True, "size": None, "distribution": None}
    for name, kind in [
        ("id", "INTEGER"),
        ("product", "STRING"),
        ("price", "INTEGER"),
        ("weight", "FLOAT"),
        ("available", "BOOLEAN"),
        ("seen_at", "DATETIME"),
        ("born_on", "DATE"),
        ("stamped", "TIMESTAMP"),
    ]
]
PYTHON_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}
START = datetime(2024, 1, 1)


def generated_rows() -> list[dict[str, Any]]:
    rng = random.Random(11)

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.05 else value

    return [
        {
            "id": i,
            "product": maybe(rng.choice(["apple", "bread", "cake", "dates", "eggs", ""])),
            "price": maybe(rng.randint(-20, 120)),
            "weight": maybe(rng.choice([0.0, 0.1, 0.25, 1.5, 2.5, 3.75, 10.0])),
            "available": maybe(rng.random() < 0.5),
            "seen_at": maybe(START + timedelta(minutes=rng.randint(0, 60 * 24 * 60))),
            "born_on": maybe(date(2000, 1, 1) + timedelta(days=rng.randint(0, 3000))),
            "stamped": maybe(START + timedelta(seconds=rng.randint(0, 3600), microseconds=500)),
        }
        for i in range(ROWS)
    ]


DATA = generated_rows()
# Times that occur in the data, so that "=" selects something.
SEEN = next(r["seen_at"] for r in DATA[2500:] if r["seen_at"] is not None)
STAMPED = next(r["stamped"] for r in DATA[2500:] if r["stamped"] is not None)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("extract") / "items.parquet"
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("product", pa.string()),
            ("price", pa.int64()),
            ("weight", pa.float64()),
            ("available", pa.bool_()),
            ("seen_at", pa.timestamp("us")),
            ("born_on", pa.date32()),
            ("stamped", pa.timestamp("us")),
        ]
    )
    pq.write_table(pa.Table.from_pylist(DATA, schema=schema), path)
    return path


def kept_ids(dataset: Path, body: dict[str, Any], seed: str = "seed-1", **keys: Any) -> list[int]:
    spec = parse_spec({"columns": ["id", "product"], **body}, COLUMNS)
    sql = extract_sql(spec, local_files_source([dataset]), "duckdb", seed=seed, **keys)
    connection = duckdb.connect()
    try:
        return sorted(row[0] for row in connection.execute(sql).fetchall())
    finally:
        connection.close()


def python_ids(name: str, op: str, value: Any) -> list[int]:
    compare = PYTHON_OPERATORS[op]
    return [r["id"] for r in DATA if r[name] is not None and compare(r[name], value)]


SIX = (">", ">=", "<", "<=", "=", "!=")
CASES = [
    *[("product", op, "cake", "cake") for op in SIX],
    *[("product", op, "", "") for op in ("=", "!=", ">")],
    *[("price", op, 50, 50) for op in SIX],
    *[("price", op, 0, 0) for op in ("=", "!=")],
    *[("weight", op, 1.5, 1.5) for op in SIX],
    *[("weight", op, 0.1, 0.1) for op in ("=", "<=")],
    *[("available", op, flag, flag) for op in ("=", "!=") for flag in (True, False)],
    *[("seen_at", op, SEEN.isoformat(), SEEN) for op in SIX],
    *[("born_on", op, "2004-02-29", date(2004, 2, 29)) for op in SIX],
    *[("stamped", op, STAMPED.isoformat(), STAMPED) for op in SIX],
]


@pytest.mark.parametrize(("name", "op", "value", "as_python"), CASES)
def test_each_filter_selects_the_rows_python_selects(
    dataset: Path, name: str, op: str, value: Any, as_python: Any
) -> None:
    expected = python_ids(name, op, as_python)
    body = {"filters": [{"name": name, "operator": op, "value": value}], "randomize_ratio": 1}
    assert kept_ids(dataset, body) == expected
    # A case that selects nothing, or everything, would pin nothing.
    assert 0 < len(expected) < ROWS


def test_the_cases_use_values_that_occur() -> None:
    for name, op, _, as_python in CASES:
        if op == "=":
            assert any(r[name] == as_python for r in DATA), name


def test_two_filters_are_both_applied(dataset: Path) -> None:
    filters = [
        {"name": "price", "operator": ">=", "value": 78},
        {"name": "available", "operator": "=", "value": True},
    ]
    expected = sorted(set(python_ids("price", ">=", 78)) & set(python_ids("available", "=", True)))
    assert kept_ids(dataset, {"filters": filters}) == expected


def test_ratio_one_keeps_every_filtered_row(dataset: Path) -> None:
    filters = [{"name": "price", "operator": "<", "value": 30}]
    assert kept_ids(dataset, {"filters": filters, "randomize_ratio": 1}) == python_ids(
        "price", "<", 30
    )
    assert len(kept_ids(dataset, {"randomize_ratio": 1})) == ROWS


def test_ratio_a_tenth_keeps_about_a_tenth_the_same_rows_for_the_same_seed(
    dataset: Path,
) -> None:
    first = kept_ids(dataset, {"randomize_ratio": 0.1})
    assert 0.05 * ROWS <= len(first) <= 0.15 * ROWS
    assert kept_ids(dataset, {"randomize_ratio": 0.1}) == first
    other_seed = kept_ids(dataset, {"randomize_ratio": 0.1}, seed="seed-2")
    assert other_seed != first
    assert 0.05 * ROWS <= len(other_seed) <= 0.15 * ROWS


def test_a_smaller_ratio_keeps_a_subset_of_a_larger_ones_rows(dataset: Path) -> None:
    tenth = set(kept_ids(dataset, {"randomize_ratio": 0.1}))
    half = set(kept_ids(dataset, {"randomize_ratio": 0.5}))
    assert tenth < half
    assert 0.4 * ROWS <= len(half) <= 0.6 * ROWS


def test_the_ratio_is_of_the_filtered_rows(dataset: Path) -> None:
    filtered = python_ids("price", ">=", 90)
    filters = [{"name": "price", "operator": ">=", "value": 90}]
    kept = kept_ids(dataset, {"filters": filters, "randomize_ratio": 0.5})
    assert set(kept) <= set(filtered)
    # Half of the filtered rows (about 1,000), not half of all 5,000 nor half of a prior sample.
    assert 0.4 * len(filtered) <= len(kept) <= 0.6 * len(filtered)


def test_duckdb_keeps_exactly_the_rows_the_documented_hash_keeps(dataset: Path) -> None:
    # The hash is what Spark and Trino must compute too: md5 of "seed|key", first 8 hex
    # digits as an integer, under ceil(ratio * 16^8).
    threshold = sample_threshold(0.3)
    expected = [
        r["id"]
        for r in DATA
        if int(hashlib.md5(f"seed-9|{r['id']}".encode()).hexdigest()[:8], 16) < threshold
    ]
    body = {"randomize_ratio": 0.3}
    assert kept_ids(dataset, body, seed="seed-9", key_columns=("id",)) == expected


def test_null_key_values_hash_as_the_fixed_marker(dataset: Path) -> None:
    threshold = sample_threshold(0.5)

    def kept(row: dict[str, Any]) -> bool:
        product = "<NULL>" if row["product"] is None else row["product"]
        text = f"s|{row['id']}|{product}"
        return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) < threshold

    assert any(r["product"] is None for r in DATA)
    assert kept_ids(dataset, {"randomize_ratio": 0.5}, seed="s") == [
        r["id"] for r in DATA if kept(r)
    ]
