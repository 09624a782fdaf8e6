"""One contract for every object store backend: each test runs on local disk, on S3 (moto) and on
the in-memory double of the unit tests (tests/unit/memory_ports.py), which must not promise more
or less than the real stores.

These tests cover what a caller sees when writing, reading, heading, deleting and listing. The
`backstage` fixture (tests/integration/conftest.py) looks behind a store's back (the folder, the
bucket through boto3, or the double's dicts) so that the all-or-nothing promises are checked on
the storage itself, not only through the store's methods. Unsafe keys and store outages are in
test_object_store_safety.py; what only one backend can show is in test_object_store_backends.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from filedock.ports.objectstore import ObjectNotFound, ObjectStore, ObjectTooLarge
from filedock.ports.objectstore_local import LocalObjectStore
from tests.integration.object_store_support import (
    Backstage,
    Gate,
    MiB,
    SourceBroke,
    chunks,
    failing,
    read_all,
    split,
    until,
)

# Writing ------------------------------------------------------------------------------------


async def test_write_returns_size_and_sha256_of_the_streamed_bytes(store: ObjectStore) -> None:
    parts = [b"hello ", b"", b"object ", b"store" * 1000]
    data = b"".join(parts)

    stored = await store.write("docs/greeting.txt", chunks(*parts))

    assert stored.key == "docs/greeting.txt"
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(store, "docs/greeting.txt") == data


async def test_empty_write_creates_an_empty_object(store: ObjectStore) -> None:
    stored = await store.write("empty", chunks())

    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert (await store.head("empty")).size == 0
    assert await read_all(store, "empty") == b""
    assert await read_all(store, "empty", 0, 5) == b""
    assert await read_all(store, "empty", 2) == b""


async def test_write_replaces_an_existing_object(store: ObjectStore) -> None:
    await store.write("k", chunks(b"first version"))
    await store.write("k", chunks(b"second"))

    assert await read_all(store, "k") == b"second"


async def test_multi_mib_write_round_trips(store: ObjectStore) -> None:
    data = random.Random(12).randbytes(12 * MiB + 321)

    stored = await store.write("big/blob.bin", chunks(*split(data, 256 * 1024)))

    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (await store.head("big/blob.bin")).size == len(data)
    assert await read_all(store, "big/blob.bin") == data


async def test_write_of_exactly_max_bytes_is_accepted(store: ObjectStore) -> None:
    stored = await store.write("k", chunks(b"x" * 600, b"y" * 424), max_bytes=1024)

    assert stored.size == 1024


async def test_write_over_limit_raises_and_leaves_no_object_or_temp_file(
    store: ObjectStore, backstage: Backstage
) -> None:
    # Past 5 MiB, so that on S3 a multipart upload has started and must be aborted.
    with pytest.raises(ObjectTooLarge) as raised:
        await store.write("k", chunks(*[b"x" * MiB] * 10), max_bytes=7 * MiB)

    assert raised.value.limit == 7 * MiB
    assert backstage.objects() == []
    assert backstage.unfinished_writes() == []
    with pytest.raises(ObjectNotFound):
        await store.head("k")


async def test_write_stops_pulling_the_source_once_the_limit_is_exceeded(
    store: ObjectStore,
) -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"z" * 1000

    with pytest.raises(ObjectTooLarge):
        await store.write("k", endless(), max_bytes=2500)

    assert pulled == 3


async def test_failing_source_leaves_previous_object_untouched(
    store: ObjectStore, backstage: Backstage
) -> None:
    await store.write("k", chunks(b"old"))
    before = backstage.objects()

    with pytest.raises(SourceBroke):
        await store.write("k", failing(b"n" * 6 * MiB))

    assert await read_all(store, "k") == b"old"
    assert backstage.objects() == before
    assert backstage.unfinished_writes() == []


async def test_failing_source_on_a_new_key_leaves_nothing(
    store: ObjectStore, backstage: Backstage
) -> None:
    with pytest.raises(SourceBroke):
        await store.write("new", failing(b"n" * 100))

    assert backstage.objects() == []
    assert backstage.unfinished_writes() == []


async def test_reader_never_sees_half_written_object(
    store: ObjectStore, backstage: Backstage
) -> None:
    gate = Gate()
    writing = asyncio.create_task(store.write("k", gate.source(b"a" * 6 * MiB, b"b" * MiB)))
    await gate.wait_paused(writing)
    await until(lambda: bool(backstage.unfinished_writes()))  # the write really is under way

    with pytest.raises(ObjectNotFound):
        await store.head("k")
    with pytest.raises(ObjectNotFound):
        await read_all(store, "k")
    assert [key async for key in store.list_keys()] == []
    assert store.local_path("k") is None

    gate.release.set()
    stored = await writing
    assert stored.size == 7 * MiB
    assert await read_all(store, "k") == b"a" * 6 * MiB + b"b" * MiB
    assert backstage.unfinished_writes() == []


async def test_reader_sees_previous_version_until_the_write_completes(store: ObjectStore) -> None:
    await store.write("k", chunks(b"old"))
    gate = Gate()
    writing = asyncio.create_task(store.write("k", gate.source(b"n" * 6 * MiB, b"n")))
    await gate.wait_paused(writing)

    assert (await store.head("k")).size == 3
    assert await read_all(store, "k") == b"old"

    gate.release.set()
    await writing
    assert (await store.head("k")).size == 6 * MiB + 1


async def test_cancelled_write_leaves_nothing_behind(
    store: ObjectStore, backstage: Backstage
) -> None:
    gate = Gate()
    writing = asyncio.create_task(store.write("k", gate.source(b"c" * 6 * MiB, b"c")))
    await gate.wait_paused(writing)

    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing

    assert backstage.objects() == []
    assert backstage.unfinished_writes() == []


async def test_concurrent_writes_to_one_key_leave_one_whole_version(store: ObjectStore) -> None:
    one, two = b"1" * (6 * MiB), b"2" * (6 * MiB + 7)

    await asyncio.gather(
        store.write("k", chunks(*split(one, MiB))), store.write("k", chunks(*split(two, MiB)))
    )

    assert await read_all(store, "k") in (one, two)


# Reading ------------------------------------------------------------------------------------


async def test_read_streams_the_whole_object_in_order(store: ObjectStore) -> None:
    data = random.Random(3).randbytes(3 * MiB + 5)
    await store.write("k", chunks(data))

    pieces = [piece async for piece in store.read("k")]

    assert all(isinstance(piece, bytes) for piece in pieces)
    assert b"".join(pieces) == data


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(4, None, b"456789", id="start-only"),
        pytest.param(2, 5, b"234", id="start-and-end"),
        pytest.param(7, 100, b"789", id="end-beyond-size"),
        pytest.param(0, 10, b"0123456789", id="exact-size"),
        pytest.param(10, None, b"", id="start-at-size"),
        pytest.param(25, 30, b"", id="start-beyond-size"),
        pytest.param(3, 3, b"", id="empty-range"),
    ],
)
async def test_ranged_read_returns_start_up_to_but_excluding_end(
    store: ObjectStore, start: int, end: int | None, expected: bytes
) -> None:
    await store.write("digits", chunks(b"0123456789"))

    assert await read_all(store, "digits", start, end) == expected


async def test_ranged_read_across_chunk_boundaries(store: ObjectStore) -> None:
    data = random.Random(5).randbytes(3 * MiB)
    await store.write("k", chunks(data))

    assert await read_all(store, "k", MiB - 10, 2 * MiB + 10) == data[MiB - 10 : 2 * MiB + 10]


async def test_read_of_missing_key_raises_object_not_found_on_first_pull(
    store: ObjectStore,
) -> None:
    stream = store.read("missing")  # creating the stream does not touch the store

    with pytest.raises(ObjectNotFound):
        await anext(stream)


async def test_read_of_a_key_prefix_is_not_an_object(store: ObjectStore) -> None:
    await store.write("folder/file", chunks(b"x"))

    with pytest.raises(ObjectNotFound):
        await read_all(store, "folder")
    with pytest.raises(ObjectNotFound):
        await store.head("folder")


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 2)])
async def test_read_with_invalid_range_is_refused(
    store: ObjectStore, start: int, end: int | None
) -> None:
    await store.write("k", chunks(b"0123456789"))

    with pytest.raises(ValueError):
        await read_all(store, "k", start, end)


async def test_head_reports_size_and_last_modified(store: ObjectStore) -> None:
    await store.write("k", chunks(b"12345"))

    info = await store.head("k")

    assert (info.key, info.size) == ("k", 5)
    assert abs(datetime.now(UTC) - info.last_modified) < timedelta(minutes=1)


async def test_head_of_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.head("missing")


async def test_keys_with_spaces_and_unicode_round_trip(store: ObjectStore) -> None:
    key = "reports/2024 Q1/été #1 (final)+%.csv"
    await store.write(key, chunks(b"data"))

    assert await read_all(store, key) == b"data"
    assert [k async for k in store.list_keys("reports/")] == [key]


async def test_local_path_is_the_stored_file_or_none(store: ObjectStore) -> None:
    await store.write("k/v", chunks(b"bytes"))

    path = store.local_path("k/v")

    if isinstance(store, LocalObjectStore):
        assert path is not None and path.read_bytes() == b"bytes"
    else:
        assert path is None
    assert store.local_path("missing") is None


# Deleting and listing -----------------------------------------------------------------------


async def test_delete_removes_only_that_object(store: ObjectStore) -> None:
    await store.write("a/one", chunks(b"1"))
    await store.write("a/two", chunks(b"2"))

    await store.delete("a/one")

    with pytest.raises(ObjectNotFound):
        await store.head("a/one")
    assert await read_all(store, "a/two") == b"2"


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.write("k", chunks(b"x"))

    await store.delete("k")
    await store.delete("k")
    await store.delete("never/existed")

    assert [key async for key in store.list_keys()] == []


async def test_list_keys_with_prefix_is_a_plain_string_prefix(store: ObjectStore) -> None:
    for key in ["doc", "docs/a.txt", "docs/sub/b.txt", "docsx/c", "other/d"]:
        await store.write(key, chunks(b"."))

    async def listed(prefix: str) -> list[str]:
        return sorted([key async for key in store.list_keys(prefix)])

    assert await listed("") == ["doc", "docs/a.txt", "docs/sub/b.txt", "docsx/c", "other/d"]
    assert await listed("docs/") == ["docs/a.txt", "docs/sub/b.txt"]
    assert await listed("docs") == ["docs/a.txt", "docs/sub/b.txt", "docsx/c"]
    assert await listed("do") == ["doc", "docs/a.txt", "docs/sub/b.txt", "docsx/c"]
    assert await listed("docs/sub/b") == ["docs/sub/b.txt"]
    assert await listed("nothing/") == []
