"""Object store backend specifics: what only local disk or only S3 can show.

Local: pruning of emptied folders, symlinks out of the root, keys that are also folders, fsync.
S3: objects live under the prefix, large writes go multipart, plain HTTP to a remote host is
refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from filedock.ports.objectstore import InvalidKey
from filedock.ports.objectstore_local import TEMP_DIR_NAME, LocalObjectStore
from tests.fixtures.s3 import S3Endpoint
from tests.integration.object_store_support import S3_PREFIX, MiB, chunks, read_all, s3_store

# Backend specifics: what only one backend can show ------------------------------------------


async def test_local_delete_prunes_empty_folders_up_to_the_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    await store.write("a/b/c/one", chunks(b"1"))
    await store.write("a/two", chunks(b"2"))

    await store.delete("a/b/c/one")

    assert not (store.root / "a" / "b").exists()
    assert (store.root / "a" / "two").is_file()


async def test_local_key_through_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (tmp_path / "elsewhere").mkdir()
    (store.root / "link").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(InvalidKey):
        await store.write("link/x", chunks(b"x"))
    with pytest.raises(InvalidKey):
        store.local_path("link/x")
    assert list((tmp_path / "elsewhere").iterdir()) == []


async def test_local_symlinks_deeper_in_a_key_or_as_the_object_itself_are_refused(
    tmp_path: Path,
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "secret").write_bytes(b"secret")
    await store.write("a/b/kept", chunks(b"k"))
    (store.root / "a" / "b" / "link").symlink_to(tmp_path / "elsewhere")
    (store.root / "a" / "leak").symlink_to(tmp_path / "secret")

    with pytest.raises(InvalidKey):
        await store.write("a/b/link/x", chunks(b"x"))
    with pytest.raises(InvalidKey):
        store.local_path("a/leak")
    with pytest.raises(InvalidKey):
        [chunk async for chunk in store.read("a/leak")]
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert store.local_path("a/b/kept") == store.root / "a" / "b" / "kept"


async def test_local_key_that_is_also_a_folder_is_refused(tmp_path: Path) -> None:
    # On disk `a` cannot be an object and the folder of `a/b` at once; S3 allows both.
    store = LocalObjectStore(tmp_path / "objects")
    await store.write("a/b", chunks(b"x"))

    with pytest.raises(InvalidKey):
        await store.write("a", chunks(b"y"))
    assert list((store.root / TEMP_DIR_NAME).iterdir()) == []


async def test_local_fsync_write_round_trips(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", fsync=True)

    stored = await store.write("k", chunks(b"durable"))

    assert stored.size == 7
    assert await read_all(store, "k") == b"durable"


async def test_s3_objects_live_under_the_prefix_and_large_ones_use_multipart(
    s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    store = s3_store(s3_endpoint, s3_bucket)
    await store.write("small", chunks(b"x"))
    await store.write("large", chunks(*[b"y" * MiB] * 12))

    client = s3_endpoint.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(keys) == [f"{S3_PREFIX}/large", f"{S3_PREFIX}/small"]
    # A multipart object's ETag ends in "-<number of parts>": 5 + 5 + 2 MiB.
    assert client.head_object(Bucket=s3_bucket, Key=f"{S3_PREFIX}/large")["ETag"].endswith('-3"')


def test_s3_refuses_plain_http_to_a_remote_endpoint(s3_endpoint: S3Endpoint) -> None:
    with pytest.raises(ValueError):
        s3_store(s3_endpoint, "any-bucket", url="http://s3.example.com:9000")
