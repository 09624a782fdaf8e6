"""The S3 store against a service that hangs: every call gives up within the store timeout.

A hung service accepts connections and then says nothing (tests/fixtures/stall_proxy.py: a
black hole, or a proxy in front of moto that stops passing bytes). Only a timeout notices it;
each wait must end in `StoreUnavailable` in about the store timeout, never in obstore's or
botocore's own minutes. A download is timed chunk by chunk, not as a whole.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from filedock.ports.objectstore import StoreUnavailable
from filedock.ports.objectstore_s3 import S3ObjectStore
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.stall_proxy import StallProxy
from tests.integration.object_store_support import MiB, chunks, read_all

TIMEOUT = 1.0
# What the test allows beyond the timeout: scheduling, connecting, obstore's own bookkeeping.
SLACK = 1.0


@pytest.fixture
def black_hole() -> Iterator[StallProxy]:
    with StallProxy(None) as hole:
        yield hole


@pytest.fixture
def proxy(s3_endpoint: S3Endpoint) -> Iterator[StallProxy]:
    host, port = s3_endpoint.url.removeprefix("http://").split(":")
    with StallProxy((host, int(port))) as forwarding:
        yield forwarding


def store_at(url: str, endpoint: S3Endpoint, bucket: str) -> S3ObjectStore:
    return S3ObjectStore(
        bucket,
        "tenant",
        endpoint_url=url,
        region=endpoint.region,
        access_key_id=endpoint.access_key_id,
        secret_access_key=endpoint.secret_access_key,
        timeout=timedelta(seconds=TIMEOUT),
    )


async def list_all(store: S3ObjectStore) -> list[str]:
    return [key async for key in store.list_keys()]


CALLS: dict[str, Callable[[S3ObjectStore], Awaitable[Any]]] = {
    "write": lambda store: store.write("k", chunks(b"x")),
    "multipart-write": lambda store: store.write("k", chunks(*[b"x" * MiB] * 6)),
    "head": lambda store: store.head("k"),
    "read": lambda store: read_all(store, "k"),
    "range-read": lambda store: read_all(store, "k", 5, 10),
    "delete": lambda store: store.delete("k"),
    "list": list_all,
    "check": lambda store: store.check(),
    "remove-unfinished-writes": lambda store: store.remove_unfinished_writes(timedelta(0)),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_every_call_to_a_black_hole_is_store_unavailable_within_the_timeout(
    black_hole: StallProxy,
    s3_endpoint: S3Endpoint,
    call: Callable[[S3ObjectStore], Awaitable[Any]],
) -> None:
    store = store_at(black_hole.url, s3_endpoint, "any-bucket")
    # Presigning needs no network; it builds botocore's client (built on first use), which
    # the clean-up calls use too. On a slow, busy machine building it alone took about a
    # second of the SLACK, which is meant for waiting on the endpoint.
    store.presign("GET", "k", expires_in=timedelta(minutes=1))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await call(store)
    waited = time.monotonic() - started
    await store.close()
    assert black_hole.accepted >= 1, "the call never reached the endpoint"
    assert waited < TIMEOUT + SLACK, f"gave up after {waited:.1f} s"


async def test_a_read_that_stalls_after_its_first_chunk_fails_within_the_timeout(
    proxy: StallProxy, s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    store = store_at(proxy.url, s3_endpoint, s3_bucket)
    await store.write("big", chunks(bytes(4 * MiB)))
    proxy.stall_after(3 * MiB // 2)
    reading = aiter(store.read("big"))
    assert len(await anext(reading)) > 0
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        async for _ in reading:
            pass
    assert time.monotonic() - started < 2 * TIMEOUT + SLACK


async def test_a_download_longer_than_the_timeout_goes_through_while_chunks_keep_coming(
    proxy: StallProxy, s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    store = store_at(proxy.url, s3_endpoint, s3_bucket)
    data = bytes(range(256)) * (4 * MiB // 256)
    await store.write("big", chunks(data))
    proxy.stall_after(0)
    started = time.monotonic()
    # A 1 MiB chunk every ~0.6 s: each wait well within the timeout, the whole twice as long.
    trickle = asyncio.create_task(_trickle(proxy, MiB // 4, every=0.15))
    try:
        received = await read_all(store, "big")
    finally:
        trickle.cancel()
    assert received == data
    assert time.monotonic() - started > 2 * TIMEOUT


async def test_a_store_works_again_once_the_service_answers(
    proxy: StallProxy, s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    store = store_at(proxy.url, s3_endpoint, s3_bucket)
    await store.write("k", chunks(b"before"))
    proxy.stall()
    with pytest.raises(StoreUnavailable):
        await store.head("k")
    proxy.resume()
    assert await read_all(store, "k") == b"before"
    assert await list_all(store) == ["k"]


async def _trickle(proxy: StallProxy, size: int, *, every: float) -> None:
    while True:
        proxy.let_through(size)
        await asyncio.sleep(every)
