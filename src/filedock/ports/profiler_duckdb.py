"""Profiling a Parquet or CSV dataset with DuckDB: column types, nulls, sizes, distributions.

Which files a location names, and which it may not, is `dataset_files.py`'s to decide, so
that profiling and extracts read the same files. DuckDB runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from filedock.core.catalogue_model import DATASETS_PREFIX, ColumnSpec
from filedock.ports.catalogue import DatasetProfile, DatasetUnreadable
from filedock.ports.dataset_files import DatasetFiles
from filedock.ports.objectstore import ObjectStore

LOW_CARDINALITY = 20
HISTOGRAM_BUCKETS = 10
SAMPLE_ROWS = 5

_INTEGER = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)
_FLOAT = ("FLOAT", "DOUBLE", "REAL")


class DuckdbProfiler:
    def __init__(
        self,
        store: ObjectStore,
        data_roots: Sequence[Path] = (),
        *,
        datasets_prefix: str = DATASETS_PREFIX,
    ) -> None:
        self._files = DatasetFiles(store, data_roots, datasets_prefix=datasets_prefix)

    async def profile(self, location: str) -> DatasetProfile:
        with tempfile.TemporaryDirectory(prefix="filedock-profile-") as scratch:
            files = await self._files.local_files(location, Path(scratch))
            return await asyncio.to_thread(_profile_files, files)


def _profile_files(files: list[Path]) -> DatasetProfile:
    # Imported on first use: DuckDB adds tens of MB to a server that never profiles.
    import duckdb

    reader = "read_parquet" if files[0].suffix == ".parquet" else "read_csv_auto"
    connection = duckdb.connect()
    try:
        # No extension may be fetched at run time (offline installs).
        connection.execute("SET autoinstall_known_extensions = false")
        # A view cannot take bound parameters: the paths (ours, already checked) are quoted.
        paths = ", ".join(_sql_string(str(f)) for f in files)
        connection.execute(f"CREATE VIEW dataset AS SELECT * FROM {reader}([{paths}])")
        columns = connection.execute("DESCRIBE dataset").fetchall()
        total = connection.execute("SELECT count(*) FROM dataset").fetchone()
        rows = int(total[0]) if total else 0
        spec = [_column(connection, str(name), str(kind), rows) for name, kind, *_ in columns]
        sample = connection.execute(f"SELECT * FROM dataset LIMIT {SAMPLE_ROWS}")
        names = [d[0] for d in sample.description or []]
        rows_out = [
            dict(zip(names, map(_json_value, row), strict=True)) for row in sample.fetchall()
        ]
    except duckdb.Error as exc:
        raise DatasetUnreadable(f"the dataset could not be read: {exc}") from None
    finally:
        connection.close()
    return DatasetProfile(spec, rows_out)


def _column(connection: Any, name: str, duck_type: str, rows: int) -> ColumnSpec:
    column = '"' + name.replace('"', '""') + '"'
    kind = _our_type(duck_type)
    present, distinct = connection.execute(
        f"SELECT count({column}), approx_count_distinct({column}) FROM dataset"
    ).fetchone()
    distribution: list[dict[str, Any]] | None = None
    if 0 < distinct <= LOW_CARDINALITY:
        counted = connection.execute(
            f"SELECT {column}, count(*) AS n FROM dataset WHERE {column} IS NOT NULL "
            f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {LOW_CARDINALITY}"
        ).fetchall()
        distribution = [{"value": _json_value(v), "count": int(n)} for v, n in counted]
    elif kind in ("INTEGER", "FLOAT") and present:
        distribution = _histogram(connection, column, kind)
    return {
        "name": name,
        "type": kind,
        "is_nullable": present < rows,
        "size": int(present),
        "distribution": distribution,
    }


def _histogram(connection: Any, column: str, kind: str) -> list[dict[str, Any]] | None:
    low, high = connection.execute(f"SELECT min({column}), max({column}) FROM dataset").fetchone()
    if low is None or high is None or not math.isfinite(float(high) - float(low)):
        return None
    width = (float(high) - float(low)) / HISTOGRAM_BUCKETS or 1.0
    buckets = connection.execute(
        f"SELECT least(floor(({column} - $low) / $width), {HISTOGRAM_BUCKETS - 1}) AS b, "
        f"count(*) FROM dataset WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1",
        {"low": float(low), "width": width},
    ).fetchall()
    # Each bucket is named by its lower bound, in the column's own type.
    bound = int if kind == "INTEGER" else float
    return [{"value": bound(float(low) + b * width), "count": int(n)} for b, n in buckets]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _our_type(duck_type: str) -> str:
    base = duck_type.split("(", 1)[0].upper()
    if base in _INTEGER:
        return "INTEGER"
    if base in _FLOAT or base == "DECIMAL":
        return "FLOAT"
    if base == "BOOLEAN":
        return "BOOLEAN"
    if base == "DATE":
        return "DATE"
    if base.startswith("TIMESTAMP"):
        return "TIMESTAMP"
    return "STRING"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
