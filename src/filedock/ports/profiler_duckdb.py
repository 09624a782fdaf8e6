"""Profiling a Parquet or CSV dataset with DuckDB: column types, nulls, sizes, distributions.

A location is a local file or folder under one of the configured data roots, or
`store:<key or prefix>` for objects in filedock's own store under its datasets prefix (the
rest of the store holds people's private uploads). Everything found in a local folder must
resolve inside a data root too: one symlink out of it refuses the whole dataset. Objects of a
remote store are copied to a temporary folder first: DuckDB's httpfs would download an
extension at run time, which an offline install must not need. DuckDB runs in a thread, off
the event loop.
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

from filedock.core.catalogue_model import (
    DATASETS_PREFIX,
    STORE_SCHEME,
    ColumnSpec,
    LocationRefused,
    store_location_key,
)
from filedock.ports.catalogue import DatasetProfile, DatasetUnreadable
from filedock.ports.objectstore import ObjectStore, ObjectStoreError

SUFFIXES = (".parquet", ".csv")
LOW_CARDINALITY = 20
HISTOGRAM_BUCKETS = 10
SAMPLE_ROWS = 5
MAX_COPY_BYTES = 1024**3

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
        self._store = store
        self._roots = [root.resolve() for root in data_roots]
        self._datasets_prefix = datasets_prefix

    async def profile(self, location: str) -> DatasetProfile:
        with tempfile.TemporaryDirectory(prefix="filedock-profile-") as scratch:
            files = await self._files(location, Path(scratch))
            return await asyncio.to_thread(_profile_files, files)

    async def _files(self, location: str, scratch: Path) -> list[Path]:
        if location.startswith(STORE_SCHEME):
            try:
                prefix = store_location_key(location, self._datasets_prefix)
            except LocationRefused as exc:
                raise DatasetUnreadable(str(exc)) from None
            return await self._store_files(prefix, scratch)
        path = Path(location).resolve()
        if not self._inside_a_root(path):
            raise DatasetUnreadable(
                "a local location must be under FILEDOCK_CATALOGUE_DATA_ROOTS; "
                f"use {STORE_SCHEME}{self._datasets_prefix}<key> for objects in filedock's store"
            )
        if not path.is_dir():
            return _one_format([path] if path.is_file() else [], location)
        return _one_format(await asyncio.to_thread(self._folder_files, path), location)

    def _inside_a_root(self, resolved: Path) -> bool:
        return any(resolved.is_relative_to(root) for root in self._roots)

    def _folder_files(self, folder: Path) -> list[Path]:
        """The folder's dataset files, resolved; refused if anything in it leads out of a root."""
        files = []
        # rglob does not descend into symlinked folders, but lists them: each entry is checked.
        for found in sorted(folder.rglob("*")):
            resolved = found.resolve()
            if not self._inside_a_root(resolved):
                # Named as found, not by its target: the target is what must stay unread.
                raise DatasetUnreadable(
                    f"{found.relative_to(folder)} in this location leads outside "
                    "FILEDOCK_CATALOGUE_DATA_ROOTS; remove the link or add its target's folder"
                )
            if found.suffix in SUFFIXES and resolved.is_file():
                # The checked path is what DuckDB reads, so a link changed meanwhile is not.
                files.append(resolved)
        return files

    async def _store_files(self, prefix: str, scratch: Path) -> list[Path]:
        copied, total = [], 0
        try:
            keys = [
                key
                async for key in self._store.list_keys(prefix)
                if key.startswith(prefix) and key.endswith(SUFFIXES)
            ]
            for index, key in enumerate(sorted(keys)):
                local = self._store.local_path(key)
                if local is not None:
                    copied.append(local)
                    continue
                target = scratch / f"{index}{Path(key).suffix}"
                with target.open("wb") as out:
                    async for chunk in self._store.read(key):
                        total += len(chunk)
                        if total > MAX_COPY_BYTES:
                            raise DatasetUnreadable("the dataset is over 1 GiB; profile a part")
                        out.write(chunk)
                copied.append(target)
        except ObjectStoreError as exc:
            raise DatasetUnreadable(f"the store could not be read: {exc}") from None
        return _one_format(copied, f"{STORE_SCHEME}{prefix}")


def _one_format(files: list[Path], location: str) -> list[Path]:
    if not files:
        raise DatasetUnreadable(f"no Parquet or CSV file at {location}")
    if len({f.suffix for f in files}) > 1:
        raise DatasetUnreadable("a dataset is Parquet or CSV, not both")
    return files


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
