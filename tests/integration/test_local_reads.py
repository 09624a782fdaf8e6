"""Reading local objects: from the page cache on the event loop, from the disk in a thread.

The local store reads a chunk inline only when the page cache holds it (`read_if_cached`
probes with `RWF_NOWAIT`); a chunk that would wait for the disk goes to a thread. Every
download streams through that read, so a client that hangs up stops it. These tests evict real
files from the page cache (`POSIX_FADV_DONTNEED` on synced, clean pages) to take the disk path.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from filedock.ports.local_file_io import read_if_cached
from filedock.ports.objectstore import CHUNK_SIZE
from filedock.ports.objectstore_local import READ_CHUNK_BYTES, LocalObjectStore
from tests.fixtures.server import LiveServer

METRICS_TOKEN = "a-metrics-token-for-the-read-tests"
SERVER_SETTINGS = {"metrics_token": METRICS_TOKEN}
DOWNLOAD_ROUTE = "/v1/file/{file_id:path}"


def test_a_chunk_in_the_page_cache_is_read_now_and_one_on_disk_is_left_to_a_thread(
    tmp_path: Path,
) -> None:
    data = os.urandom(3 * READ_CHUNK_BYTES)
    path = tmp_path / "object"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_if_cached(fd, READ_CHUNK_BYTES, READ_CHUNK_BYTES) == data[
            READ_CHUNK_BYTES : 2 * READ_CHUNK_BYTES
        ]
        evict(fd)
        assert read_if_cached(fd, READ_CHUNK_BYTES, READ_CHUNK_BYTES) is None
        os.pread(fd, len(data), 0)  # read back in: the cache holds it again
        assert read_if_cached(fd, 0, 10) == data[:10]
    finally:
        os.close(fd)


async def test_an_object_evicted_from_the_page_cache_reads_whole_from_the_disk(
    tmp_path: Path,
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    data = os.urandom(2 * CHUNK_SIZE + 5)
    await store.write("a/evicted", one_chunk(data))
    path = store.root / "a" / "evicted"
    fd = os.open(path, os.O_RDONLY)
    try:
        evict(fd)
        assert read_if_cached(fd, 0, READ_CHUNK_BYTES) is None  # the disk path is taken
        # Whole, whichever chunks came from the disk (a MiB each, in a thread) and which the
        # kernel's readahead had brought in by then (from the page cache, on the loop).
        chunks = [chunk async for chunk in store.read("a/evicted")]
        assert b"".join(chunks) == data
        assert {len(chunk) for chunk in chunks[:-1]} <= {CHUNK_SIZE, READ_CHUNK_BYTES}
        # Read back from the cache now: in its chunks, a range starting and ending inside them.
        cached = [chunk async for chunk in store.read("a/evicted", 7, 2 * READ_CHUNK_BYTES + 9)]
        assert [len(chunk) for chunk in cached] == [READ_CHUNK_BYTES, READ_CHUNK_BYTES, 2]
        assert b"".join(cached) == data[7 : 2 * READ_CHUNK_BYTES + 9]
    finally:
        os.close(fd)


@pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)
def test_a_download_read_from_the_disk_arrives_whole(server: LiveServer) -> None:
    data = os.urandom(4 * READ_CHUNK_BYTES + 3)
    file_id = upload_ready(server, data)
    evict_objects(server.data_dir)
    answer = httpx.get(f"{server.base_url}/v1/file/{file_id}", headers=server.auth("7"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-length"] == str(len(data))
    assert hashlib.sha256(answer.content).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)
def test_a_download_the_client_abandons_stops_reading_the_file(server: LiveServer) -> None:
    size = 64 * 1024 * 1024
    file_id = upload_ready(server, os.urandom(size))
    before = sent_bytes(server)
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", f"{server.base_url}/v1/file/{file_id}", headers=server.auth("7")) as r,
    ):
        assert r.status_code == 200
        received = 0
        for chunk in r.iter_raw():
            received += len(chunk)
            if received >= 1024 * 1024:
                break  # the client hangs up after a MiB
    # The server notices, stops reading and counts what it sent: far from the whole file.
    deadline = time.monotonic() + 10
    while (sent := sent_bytes(server) - before) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 0 < sent < size // 2, sent


def evict(fd: int) -> None:
    """Drop the file's pages from the page cache (they are clean once synced)."""
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def evict_objects(data_dir: Path) -> None:
    for path in (data_dir / "objects").rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                evict(fd)
            finally:
                os.close(fd)


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def upload_ready(server: LiveServer, data: bytes) -> str:
    """Upload `data` through the hasura face and wait until its download is served."""
    file_id = f"reads-{uuid.uuid4().hex}"
    url = f"{server.base_url}/v1/file/{file_id}"
    headers = {**server.auth("7"), "Content-Type": "application/octet-stream"}
    answer = httpx.post(url, content=data, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        head = httpx.head(url, headers=server.auth("7"), timeout=60)
        if head.status_code == 200:
            return file_id
        assert head.status_code == 409, head.status_code  # still being processed
        time.sleep(0.1)
    raise AssertionError(f"{file_id} never became ready")


def sent_bytes(server: LiveServer) -> float:
    """`filedock_http_sent_bytes_total` of GETs of the hasura download route."""
    samples = server.metric_samples("filedock_http_sent_bytes_total", METRICS_TOKEN)
    route = f'route="{DOWNLOAD_ROUTE}"'
    return sum(v for labels, v in samples if 'method="GET"' in labels and route in labels)
