"""A catalogue item's `location` turned into the local Parquet or CSV files DuckDB reads.

Shared by profiling and the DuckDB executor, so that an extract reads exactly what profiling
read, under the same refusals. A location is a local file or folder under one of the
configured data roots, or `store:<key or prefix>` for objects in filedock's own store under
its datasets prefix (the rest of the store holds people's private uploads). Everything found
in a local folder must resolve inside a data root too: one symlink out of it refuses the whole
dataset. Objects of a remote store are copied to a scratch folder first: DuckDB's httpfs would
download an extension at run time, which an offline install must not need.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from filedock.core.catalogue_model import (
    DATASETS_PREFIX,
    STORE_SCHEME,
    LocationRefused,
    store_location_key,
)
from filedock.ports.catalogue import DatasetUnreadable
from filedock.ports.objectstore import ObjectStore, ObjectStoreError

SUFFIXES = (".parquet", ".csv")
# Remote objects are copied to local disk; past this a dataset is refused rather than let
# fill the disk.
MAX_COPY_BYTES = 1024**3


class DatasetFiles:
    """Resolves locations against one store and the configured data roots."""

    def __init__(
        self,
        store: ObjectStore,
        data_roots: Sequence[Path] = (),
        *,
        datasets_prefix: str = DATASETS_PREFIX,
        max_copy_bytes: int = MAX_COPY_BYTES,
    ) -> None:
        self._store = store
        self._roots = [root.resolve() for root in data_roots]
        self._datasets_prefix = datasets_prefix
        self._max_copy_bytes = max_copy_bytes

    async def local_files(self, location: str, scratch: Path) -> list[Path]:
        """The dataset's files, all Parquet or all CSV; remote objects are copied into `scratch`.

        The files stay valid as long as `scratch` does. Raises `DatasetUnreadable` with a
        reason a person can act on.
        """
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
                        if total > self._max_copy_bytes:
                            raise DatasetUnreadable(
                                f"the dataset is over {self._max_copy_bytes:,} bytes, more "
                                "than this server copies out of its store; name a part of it"
                            )
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
