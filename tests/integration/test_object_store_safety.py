"""Object store safety: unsafe keys are refused everywhere, and outages surface as StoreUnavailable.

Key checks run on every backend (the `store` fixture in tests/integration/conftest.py) and must
leave nothing behind on the real storage; the health checks point stores at a dead S3 endpoint,
a missing bucket, or a local root that is no longer a folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from filedock.ports.objectstore import InvalidKey, ObjectStore, StoreUnavailable
from filedock.ports.objectstore_local import TEMP_DIR_NAME, LocalObjectStore
from tests.fixtures.s3 import S3Endpoint
from tests.integration.object_store_support import (
    Backstage,
    MiB,
    chunks,
    read_all,
    s3_store,
    unused_port,
)

# Keys ---------------------------------------------------------------------------------------

UNSAFE_KEYS = {
    "parent": "../x",
    "nested-parent": "a/../../x",
    "absolute": "/abs",
    "empty": "",
    "empty-segment": "a//b",
    "trailing-slash": "a/",
    "dot-segment": "a/./b",
    "temp-dir": f"{TEMP_DIR_NAME}/x",
    "hidden-segment": "a/.hidden",
    "backslash": "a\\b",
    "nul": "a\x00b",
    "newline": "a\nb",
    "too-long": "k" * 2000,
}


@pytest.mark.parametrize("key", UNSAFE_KEYS.values(), ids=UNSAFE_KEYS.keys())
async def test_unsafe_keys_are_refused(store: ObjectStore, backstage: Backstage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.write(key, chunks(b"x"))
    with pytest.raises(InvalidKey):
        await store.head(key)
    with pytest.raises(InvalidKey):
        await read_all(store, key)
    with pytest.raises(InvalidKey):
        await store.delete(key)
    with pytest.raises(InvalidKey):
        store.local_path(key)
    assert backstage.objects() == []
    assert backstage.unfinished_writes() == []


@pytest.mark.parametrize("prefix", ["../", "/abs", "a\\b", "a/../b/"])
async def test_unsafe_list_prefixes_are_refused(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        [key async for key in store.list_keys(prefix)]


# Health -------------------------------------------------------------------------------------


async def test_check_passes_on_a_working_store(store: ObjectStore) -> None:
    await store.check()


async def test_check_on_a_dead_s3_endpoint_raises_store_unavailable(
    s3_endpoint: S3Endpoint,
) -> None:
    dead = s3_store(s3_endpoint, "any-bucket", url=f"http://127.0.0.1:{unused_port()}")

    with pytest.raises(StoreUnavailable):
        await dead.check()


async def test_every_call_on_a_dead_s3_endpoint_raises_store_unavailable(
    s3_endpoint: S3Endpoint,
) -> None:
    dead = s3_store(s3_endpoint, "any-bucket", url=f"http://127.0.0.1:{unused_port()}")

    with pytest.raises(StoreUnavailable):
        await dead.write("k", chunks(b"x"))
    with pytest.raises(StoreUnavailable):
        await dead.write("k", chunks(*[b"x" * MiB] * 6))
    with pytest.raises(StoreUnavailable):
        await dead.head("k")
    with pytest.raises(StoreUnavailable):
        await read_all(dead, "k")
    with pytest.raises(StoreUnavailable):
        await dead.delete("k")
    with pytest.raises(StoreUnavailable):
        [key async for key in dead.list_keys()]


async def test_check_on_a_missing_bucket_raises_store_unavailable(
    s3_endpoint: S3Endpoint,
) -> None:
    with pytest.raises(StoreUnavailable):
        await s3_store(s3_endpoint, "no-such-bucket").check()


async def test_check_on_a_vanished_local_root_raises_store_unavailable(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (tmp_path / "objects" / TEMP_DIR_NAME).rmdir()
    (tmp_path / "objects").rmdir()
    (tmp_path / "objects").write_bytes(b"not a folder")

    with pytest.raises(StoreUnavailable):
        await store.check()
    with pytest.raises(StoreUnavailable):
        await store.write("k", chunks(b"x"))
