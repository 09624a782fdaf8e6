"""The local store's temporary files: where a write streams before it is published.

Creating a file takes microseconds on most disks, less than a hop to a thread and back, so it
runs on the event loop. On some disks it does not: on ext4 without a journal (this
workplace's machines) a create near thousands of recently deleted files searches for a free
inode for 0.4-1.1 ms of the kernel's CPU, and inline every request of the process waits
meanwhile (docs/benchmarks.md). So each create's CPU is measured, wherever it runs, and while
the running average says creates are slow they go to a thread. One slow create among quick
ones moves nothing: on a quick disk one create in about 10,000 takes over 200 µs (measured
here), and a thread hop for every create would cost more than those few.

Time on the clock is not used: the loop's thread may wait up to the interpreter's 5 ms switch
interval for the GIL after the call returns, which says nothing of the disk (measured: an
`open` beside a busy thread took 5 ms at the median on the clock, 59 µs of CPU). A network
file system's slow creates wait rather than compute, and stay on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from filedock.ports.local_file_io import settled
from filedock.ports.objectstore import StoreUnavailable

# Creates are slow while the running average of the creating thread's CPU for one is above
# this: 10-20 µs on a quick disk, about 60 µs when the thread fights others for the GIL.
SLOW_CREATE_CPU_SECONDS = 200e-6
# The newest create's weight in the running average.
_WEIGHT = 1 / 8

TempFile = tuple[Path, BinaryIO]


class TempFiles:
    """Creates uniquely named, empty files in `folder`, opened for writing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Unique without a system call that lets go of the GIL (`os.urandom` did, on every
        # write, with the server's HTTP threads waiting for it): the process, this store's
        # random nonce, a counter (its `next` is atomic under the GIL, so threads may share it).
        self._nonce = os.urandom(8).hex()
        self._names = itertools.count()
        # The running average of a create's CPU. Threads may update it at once and lose an
        # update: an estimate, which one lost sample does not change much.
        self._cpu = 0.0

    @property
    def off_loop(self) -> bool:
        """Whether creates go to a thread now: while they are slow on average."""
        return self._cpu > SLOW_CREATE_CPU_SECONDS

    async def create(self) -> TempFile:
        """A new temporary file; on the loop while creates are quick, else in a thread.
        `StoreUnavailable` when it cannot be made."""
        if self.off_loop:
            return await _created_in_thread(self._timed_create)
        return self._timed_create()

    def _timed_create(self) -> TempFile:
        cpu = time.thread_time()
        created = self.create_now()
        self._cpu += (time.thread_time() - cpu - self._cpu) * _WEIGHT
        return created

    def create_now(self) -> TempFile:
        """A new temporary file, created in the calling thread."""
        name = f"{os.getpid():x}-{self._nonce}-{next(self._names):x}"
        path = self.folder / name
        try:
            try:
                return path, open(path, "xb")
            except FileNotFoundError:
                # Someone cleaned the temporary folder away; the root itself must still exist.
                self.folder.mkdir(exist_ok=True)
                return path, open(path, "xb")
        except OSError as exc:
            raise StoreUnavailable(f"cannot create a temporary file: {exc}") from exc


async def _created_in_thread(create: Callable[[], TempFile]) -> TempFile:
    """`create()` in a thread. A thread cannot be stopped: a caller cancelled meanwhile waits
    for it (`settled`, as the store's other thread work does), and the file it made is closed
    and removed."""
    made = asyncio.get_running_loop().run_in_executor(None, create)
    try:
        return await settled(made)
    except asyncio.CancelledError:
        _discard(made)
        raise


def _discard(made: asyncio.Future[TempFile]) -> None:
    if made.cancelled() or made.exception() is not None:
        return
    path, file = made.result()
    with contextlib.suppress(OSError):
        file.close()
    with contextlib.suppress(OSError):
        path.unlink()
