"""Pooled random bytes: each handed out once, never shared with a forked child."""

from __future__ import annotations

import os
import threading
import uuid

from filedock.core.entropy import POOL_BYTES, random_bytes, random_hex, random_uuid


def test_draws_across_many_pool_refills_never_repeat() -> None:
    draws = [random_bytes(16) for _ in range(4 * POOL_BYTES // 16 + 7)]
    assert all(len(draw) == 16 for draw in draws)
    assert len(set(draws)) == len(draws)


def test_threads_drawing_at_once_never_get_the_same_bytes() -> None:
    found: list[bytes] = []

    def draw() -> None:
        found.extend(random_bytes(8) for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8000 and len(set(found)) == 8000


def test_a_forked_child_draws_other_bytes_than_its_parent() -> None:
    random_bytes(1)  # the pool holds bytes the child would otherwise inherit
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's half, reported through the pipe
        os.write(write, random_bytes(32))
        os._exit(0)
    os.close(write)
    from_child = os.read(read, 32)
    os.close(read)
    os.waitpid(child, 0)
    assert len(from_child) == 32
    assert from_child != random_bytes(32)


def test_shapes_match_the_standard_library() -> None:
    assert len(random_hex(16)) == 32 and int(random_hex(16), 16) >= 0
    made = random_uuid()
    assert made.version == 4 and made.variant == uuid.RFC_4122
    assert len(random_bytes(POOL_BYTES + 1)) == POOL_BYTES + 1
