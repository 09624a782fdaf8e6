"""Creating a write's temporary file: on the event loop while creates are quick, in a thread
after a slow one, so that a disk slow to create files does not stall every request.

The slow disk is stood in for by a create that first spends CPU in its own thread (hashing,
which lets go of the GIL, as the kernel's inode search does); the files, the store and the
threads are real.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from filedock.ports import temp_files
from filedock.ports.objectstore import ObjectNotFound
from filedock.ports.objectstore_local import TEMP_DIR_NAME, LocalObjectStore
from filedock.ports.temp_files import SLOW_CREATE_CPU_SECONDS, TempFile, TempFiles

# One create this slow moves the running average of a create's CPU past the line at once.
STALL = SLOW_CREATE_CPU_SECONDS * 100


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def stall_creates(monkeypatch: pytest.MonkeyPatch, stalls: Iterator[float]) -> list[str]:
    """Each create spends the next of `stalls` in CPU seconds first (none once they run out);
    returns the list that the names of the threads that created are appended to."""
    threads: list[str] = []
    create = TempFiles.create_now

    def stalled(self: TempFiles) -> TempFile:
        threads.append(threading.current_thread().name)
        spend_cpu(next(stalls, 0.0))
        return create(self)

    monkeypatch.setattr(temp_files.TempFiles, "create_now", stalled)
    return threads


def spend_cpu(seconds: float) -> None:
    until, piece, digest = time.thread_time() + seconds, bytes(64 * 1024), hashlib.sha256()
    while time.thread_time() < until:
        digest.update(piece)


@pytest.fixture
def creates_stall(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every create sleeps `STALL` first."""
    yield stall_creates(monkeypatch, itertools.repeat(STALL))


async def test_after_a_slow_create_the_next_ones_run_in_a_thread_while_the_loop_goes_on(
    tmp_path: Path, creates_stall: list[str]
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    await store.write("first", body(b"one"))  # slow, on the loop: it cannot know before
    assert creates_stall == [threading.current_thread().name]

    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    try:
        await store.write("second", body(b"two"))
    finally:
        ticker.cancel()
    assert creates_stall[1] != threading.current_thread().name
    assert ticks >= 3, "the loop stood still while the second file was created"
    assert [b"".join([c async for c in store.read(key)]) for key in ("first", "second")] == [
        b"one",
        b"two",
    ]
    assert list((store.root / TEMP_DIR_NAME).iterdir()) == []


async def test_a_write_cancelled_while_its_file_is_created_in_a_thread_leaves_nothing(
    tmp_path: Path, creates_stall: list[str]
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    await store.write("first", body(b"one"))  # the slow create that sends the next to a thread
    writing = asyncio.create_task(store.write("cancelled", body(b"never stored")))
    while len(creates_stall) < 2:  # the thread is creating the file now
        await asyncio.sleep(0.001)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await asyncio.sleep(STALL * 2)  # the thread finishes its create meanwhile
    assert list((store.root / TEMP_DIR_NAME).iterdir()) == []
    with pytest.raises(ObjectNotFound):
        await store.head("cancelled")


async def test_one_slow_create_among_quick_ones_keeps_creates_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five times the line once, then quick ones: the average stays below it.
    threads = stall_creates(monkeypatch, iter([SLOW_CREATE_CPU_SECONDS * 5]))
    store = LocalObjectStore(tmp_path / "objects")
    for n in range(10):
        await store.write(f"o{n}", body(b"x"))
    assert set(threads) == {threading.current_thread().name}


@pytest.fixture
def quick_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder whose creates are quick: in memory (/dev/shm) where there is one. The disk
    under `tmp_path` may not be: on ext4 without a journal, after a test suite's thousands
    of files were deleted nearby, a create took 400-850 µs of CPU (docs/benchmarks.md)."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(dir=shm, prefix="filedock-test-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_creates_come_back_to_the_loop_once_the_disk_is_quick_again(
    quick_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = stall_creates(monkeypatch, iter([STALL]))
    store = LocalObjectStore(quick_folder / "objects")
    for n in range(40):
        await store.write(f"o{n}", body(b"x"))
    loop_thread = threading.current_thread().name
    assert threads[1] != loop_thread  # after the slow one, in a thread
    assert threads[-1] == loop_thread  # quick ones since brought the average back down


async def test_writes_at_once_while_creates_are_slow_each_get_a_file_of_their_own(
    tmp_path: Path, creates_stall: list[str]
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    await store.write("first", body(b"one"))  # the slow create that sends the next to threads
    keys = [f"o{n}" for n in range(6)]
    await asyncio.gather(*(store.write(key, body(key.encode())) for key in keys))
    assert len(set(creates_stall[1:])) > 1, "the creates did not run in threads side by side"
    assert [b"".join([c async for c in store.read(key)]) for key in keys] == [
        key.encode() for key in keys
    ]
    assert list((store.root / TEMP_DIR_NAME).iterdir()) == []
