"""Blocking file work of the local object store, off the event loop and safe to cancel.

Each batch of an upload is hashed and written in two threads at once (both release the GIL on
large buffers); a small one, inline. A read is inline when the page cache holds its bytes (a
copy of microseconds) and in a thread when it would wait for the disk (`read_if_cached`). A
thread cannot be stopped, so every wait on one outlasts a cancel (`settled`): the work may
hold one of the store's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from filedock.ports.objectstore import ObjectNotFound, StoreUnavailable

_T = TypeVar("_T")
# The outcome of hashing and writing one batch: each thread's result or exception.
Absorbed = asyncio.Future[tuple[BaseException | None, BaseException | None]]

# Errors meaning "there is no object at this path" rather than "the disk failed".
ABSENT = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
# Linux's "fail instead of waiting for the disk" flag of preadv2; None where there is none,
# and then every read large enough to matter goes to a thread.
_NO_WAIT: int | None = getattr(os, "RWF_NOWAIT", None)
# What a read from the disk asks the kernel to fetch beyond it (`read_from_disk`).
PREFETCH_BYTES = 8 * 1024 * 1024
_WILL_NEED: int | None = getattr(os, "POSIX_FADV_WILLNEED", None)


def hash_and_write(
    hasher: hashlib._Hash, write: Callable[[list[bytes]], None], batch: list[bytes]
) -> Absorbed:
    """Hash and write `batch` at the same time: both release the GIL on large buffers.

    The batch's pieces are handed over as they came from the server: joining them would copy
    every byte once more, on the event loop's thread (about 0.06 s a GiB here; small, but the
    loop is the one thread every request shares).
    """
    loop = asyncio.get_running_loop()
    # return_exceptions: the future must not complete before *both* threads have finished.
    return asyncio.gather(
        loop.run_in_executor(None, hash_pieces, hasher, batch),
        loop.run_in_executor(None, write, batch),
        return_exceptions=True,
    )


def hash_pieces(hasher: hashlib._Hash, pieces: list[bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)


def hash_and_write_inline(
    hasher: hashlib._Hash, write: Callable[[list[bytes]], None], batch: list[bytes]
) -> None:
    try:
        for piece in batch:
            hasher.update(piece)
        write(batch)
    except OSError as exc:
        raise StoreUnavailable(f"cannot write the object: {exc}") from exc


def flush_inline(file: BinaryIO) -> None:
    try:
        file.flush()
    except OSError as exc:
        raise StoreUnavailable(f"cannot write the object: {exc}") from exc


async def settled(future: asyncio.Future[_T]) -> _T:
    """Await `future` to completion even if we are cancelled meanwhile, then honour the cancel.

    The threads behind it keep running whatever asyncio does, and they touch our file.
    """
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait({future})
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()


def raise_failures(results: tuple[BaseException | None, BaseException | None]) -> None:
    for result in results:
        if isinstance(result, OSError):
            raise StoreUnavailable(f"cannot write the object: {result}") from result
        if isinstance(result, BaseException):
            raise result


async def in_thread(function: Callable[..., _T], *args: object, missing: str | None = None) -> _T:
    """Run blocking file work in a thread and turn `OSError` into the port's errors.

    Waits for the thread even through a cancel, since the work may hold one of our files.
    With `missing` set, a path that does not exist means that object is not found.
    """
    try:
        return await settled(asyncio.get_running_loop().run_in_executor(None, function, *args))
    except ABSENT:
        if missing is None:
            raise StoreUnavailable("a file of the store vanished") from None
        raise ObjectNotFound(missing) from None
    except OSError as exc:
        raise StoreUnavailable(str(exc)) from exc


def read_if_cached(fd: int, offset: int, length: int) -> bytes | None:
    """`length` bytes of `fd` at `offset`, read now if the page cache holds them; None if
    reading them would wait for the disk (the caller then reads in a thread).

    A handed-off read costs more than the copy itself: two thread switches a chunk, which on
    a loaded machine each wait for a core. The probe reads the chunk's last byte with
    `RWF_NOWAIT`: once the kernel's readahead has reached it, the pages before it are
    resident too (a page evicted out of order costs this one read a wait on the disk).
    """
    if _NO_WAIT is None or length <= 0:
        return None
    try:
        os.preadv(fd, [bytearray(1)], offset + length - 1, _NO_WAIT)
    except OSError:
        # EAGAIN: not in memory. Anything else (a filesystem without no-wait reads): let
        # the thread's plain read decide.
        return None
    try:
        return os.pread(fd, length, offset)
    except OSError as exc:
        raise StoreUnavailable(f"cannot read the object: {exc}") from exc


def read_from_disk(fd: int, offset: int, length: int) -> bytes:
    """`length` bytes of `fd` at `offset`, in a thread: the page cache does not hold them.

    The kernel is asked first to fetch the next `PREFETCH_BYTES` too, without waiting for
    them: they arrive while the caller works on these (hashing, a scanner, a socket), and
    its next reads find them in memory. Processing uploads written around the page cache:
    100 MiB in 0.46-0.52 s against 0.61-0.70 s without, 1 GiB in 1.44-1.64 s against
    2.25-3.45 s (docs/benchmarks.md).
    """
    if _WILL_NEED is not None:
        with contextlib.suppress(OSError):  # advice only: a refusal changes nothing
            os.posix_fadvise(fd, offset, length + PREFETCH_BYTES, _WILL_NEED)
    return os.pread(fd, length, offset)


def open_for_reading(path: Path, start: int, key: str) -> BinaryIO:
    try:
        # Unbuffered: each read is one system call straight into the returned bytes.
        file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by read)
    except ABSENT:
        raise ObjectNotFound(key) from None
    except OSError as exc:
        raise StoreUnavailable(str(exc)) from exc
    try:
        # Anything but a regular file (a device, a folder) is not an object of ours.
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise ObjectNotFound(key)
        if start:
            file.seek(start)
    except OSError as exc:
        file.close()
        raise StoreUnavailable(str(exc)) from exc
    except BaseException:
        file.close()
        raise
    return file


def finish_file(file: BinaryIO, fsync: bool) -> None:
    file.flush()
    if fsync:
        os.fsync(file.fileno())


def sync_directory(directory: Path) -> None:
    # The rename itself is only durable once the folder holding the new name is synced.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range {start}..{end}")
