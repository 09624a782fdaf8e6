"""Random bytes from the operating system's CSPRNG, read a page at a time.

`os.urandom` is a system call, and a system call lets go of the GIL, which a served worker's
HTTP threads are waiting for: each call hands the interpreter over and back. A request drew
two or three (its id, a grant's nonce, a revision), which cost a loaded server a few percent
of its requests a second (docs/benchmarks.md). The bytes here are the same `os.urandom`
bytes, read `POOL_BYTES` at a time and each handed out once.

A forked child starts with an empty pool, so a parent and its child never hand out the same
bytes; threads take from the pool under a lock.
"""

from __future__ import annotations

import os
import threading
import uuid

POOL_BYTES = 4096


def random_bytes(count: int) -> bytes:
    """`count` bytes, as unpredictable as `os.urandom(count)`'s."""
    return _pool.take(count)


def random_hex(count: int) -> str:
    """`count` random bytes as `2 * count` lower-case hex digits."""
    return _pool.take(count).hex()


def random_uuid() -> uuid.UUID:
    """A version-4 UUID, as `uuid.uuid4()` makes one."""
    return uuid.UUID(bytes=_pool.take(16), version=4)


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        self._taken = 0

    def take(self, count: int) -> bytes:
        if count > POOL_BYTES:
            return os.urandom(count)
        with self._lock:
            start = self._taken
            if start + count > len(self._bytes):
                # What is left is dropped, never handed out: every byte once.
                self._bytes, start = os.urandom(POOL_BYTES), 0
            self._taken = start + count
            return self._bytes[start : start + count]

    def forget(self) -> None:
        """Drop what was read (in a forked child: the parent's bytes are the parent's)."""
        self._lock = threading.Lock()
        self._bytes = b""
        self._taken = 0


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.forget)
