"""Helpers shared by the object store tests: the view behind a store's back, and byte sources.

`Backstage` looks at the real storage (the folder, or the bucket through boto3) so that the
all-or-nothing promises are checked there, not only through the store itself. The `store` and
`backstage` fixtures that build them live in this folder's conftest.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from filedock.ports.objectstore import ObjectStore, StoredObject
from filedock.ports.objectstore_s3 import S3ObjectStore
from tests.fixtures.s3 import S3Endpoint

MiB = 1024 * 1024
S3_PREFIX = "tenant"


@dataclass
class Backstage:
    """The storage as it really is: stored object names and unfinished writes."""

    objects: Callable[[], list[str]]
    unfinished_writes: Callable[[], list[str]]


class SourceBroke(Exception):
    """Raised by a test source, to check it reaches the caller unchanged."""


class Gate:
    """A source that pauses after its first part until released."""

    def __init__(self) -> None:
        self.paused = asyncio.Event()
        self.release = asyncio.Event()

    async def wait_paused(self, writing: asyncio.Task[StoredObject]) -> None:
        """Wait for the pause; a write that ends or hangs first fails the test, not stalls it."""
        paused = asyncio.create_task(self.paused.wait())
        await asyncio.wait({paused, writing}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        paused.cancel()
        if writing.done():
            await writing
        assert self.paused.is_set(), "the source never paused"

    async def source(self, first: bytes, rest: bytes) -> AsyncIterator[bytes]:
        for piece in split(first, MiB):
            yield piece
        self.paused.set()
        await self.release.wait()
        yield rest


def s3_store(endpoint: S3Endpoint, bucket: str, *, url: str | None = None) -> S3ObjectStore:
    return S3ObjectStore(
        bucket,
        S3_PREFIX,
        endpoint_url=url or endpoint.url,
        region=endpoint.region,
        access_key_id=endpoint.access_key_id,
        secret_access_key=endpoint.secret_access_key,
    )


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise SourceBroke("the client went away")


async def read_all(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([piece async for piece in store.read(key, start, end)])


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
