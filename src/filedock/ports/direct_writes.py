"""Large objects written around the page cache (`O_DIRECT`), where the file system allows it.

A buffered write of a new GiB needs a GiB of fresh page-cache pages. On this project's test
machines (a Firecracker guest, Linux 6.18) the kernel hands those out at 400 to 600 MB/s,
barely faster than `sha256sum` hashes, while `O_DIRECT` writes of the same GiB ran at 1.4 to
1.9 GB/s (docs/benchmarks.md). Elsewhere it keeps an upload from pushing other files out of the page
cache, as databases and object stores do for their data. Processing reads the object back
once, from the disk (about 600 MB/s here, faster than a scan).

`O_DIRECT` wants each write's buffer, length and file offset aligned to the device's block:
the pieces are copied into one page-aligned buffer (a memory copy, about 10 GB/s) and written
a full buffer at a time; the last, unaligned bytes are written after `O_DIRECT` is turned off
again. A file system that refuses `O_DIRECT` (when it is set, or at the first write) gets the
same bytes written the ordinary way: the result is the same file either way.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from collections.abc import Iterable
from typing import BinaryIO

# Every block size a Linux file system or device asks `O_DIRECT` to align to, 512 included.
ALIGNMENT = 4096
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


class DirectWriter:
    """Writes a file from its start through an aligned buffer; `finish` writes the rest.

    Used by one thread at a time (the store keeps one batch in flight).
    """

    def __init__(self, fd: int, flags: int, capacity: int) -> None:
        self._fd = fd
        self._flags = flags  # the descriptor's flags without O_DIRECT
        self._buffer = mmap.mmap(-1, capacity)  # page-aligned, as O_DIRECT requires
        self._view = memoryview(self._buffer)
        self._capacity = capacity
        self._used = 0
        self._direct = True

    @classmethod
    def start(cls, file: BinaryIO, capacity: int) -> DirectWriter | None:
        """A writer for `file`, which must hold nothing yet (nothing written, nothing
        buffered); None where `O_DIRECT` is not available, and the caller writes as usual."""
        if not _O_DIRECT or capacity % ALIGNMENT:
            return None
        fd = file.fileno()
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
        except OSError:
            return None
        return cls(fd, flags & ~_O_DIRECT, capacity)

    def writelines(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            data = memoryview(piece)
            while data:
                room = self._capacity - self._used
                taken = data[:room]
                self._view[self._used : self._used + len(taken)] = taken
                self._used += len(taken)
                data = data[len(taken) :]
                if self._used == self._capacity:
                    self._write(self._view)
                    self._used = 0

    def finish(self) -> None:
        """Write what is left, turn `O_DIRECT` off and let go of the buffer."""
        try:
            aligned = self._used - self._used % ALIGNMENT
            if aligned:
                self._write(self._view[:aligned])
            self._leave_direct()
            if self._used > aligned:
                self._write(self._view[aligned : self._used])
            self._used = 0
        finally:
            self.close()

    def close(self) -> None:
        """Let go of the buffer (also after a failure; the file is the caller's to close)."""
        if not self._buffer.closed:
            self._view.release()
            self._buffer.close()

    def _write(self, data: memoryview) -> None:
        written = 0
        while written < len(data):
            try:
                written += os.write(self._fd, data[written:])
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self._direct:
                    raise
                # The file system took the flag but not the write: write it the usual way.
                self._leave_direct()
                continue
            if written % ALIGNMENT and written < len(data):
                # A short write left the rest unaligned (seen only when a disk fills up).
                self._leave_direct()

    def _leave_direct(self) -> None:
        if self._direct:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, self._flags)
            self._direct = False
