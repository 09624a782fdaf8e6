"""DirectWriter: large objects written with O_DIRECT give the same file as a buffered write."""

from __future__ import annotations

import errno
import fcntl
import os
import random
from pathlib import Path

import pytest

from filedock.ports import direct_writes
from filedock.ports.direct_writes import ALIGNMENT, DirectWriter

CAPACITY = 64 * 1024


def _pieces(seed: int, total: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces, left = [], total
    while left:
        size = min(left, rng.choice((1, 511, 4096, 5000, 65536, 100_000)))
        pieces.append(rng.randbytes(size))
        left -= size
    return pieces


def _direct_flag(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


@pytest.mark.parametrize(
    "total", [CAPACITY, CAPACITY + 1, 3 * CAPACITY + ALIGNMENT, 5 * CAPACITY + 4321, 123]
)
def test_direct_writer_leaves_exactly_the_bytes_given_and_turns_o_direct_off(
    tmp_path: Path, total: int
) -> None:
    pieces = _pieces(total, total)
    path = tmp_path / "object"
    with open(path, "xb") as file:
        writer = DirectWriter.start(file, CAPACITY)
        # The project's test folders are on ext4, which takes O_DIRECT.
        assert writer is not None
        assert _direct_flag(file.fileno())
        writer.writelines(pieces[: len(pieces) // 2])
        writer.writelines(pieces[len(pieces) // 2 :])
        writer.finish()
        assert not _direct_flag(file.fileno())
    assert path.read_bytes() == b"".join(pieces)


def test_a_file_system_refusing_direct_writes_gets_the_same_bytes_written_as_usual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: some file systems take the O_DIRECT flag and then refuse each write
    # with EINVAL; none here does, so os.write plays one for descriptors that carry it.
    real_write = os.write
    refused = []

    def write_refusing_direct(fd: int, data: bytes | memoryview) -> int:
        if _direct_flag(fd):
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(direct_writes.os, "write", write_refusing_direct)
    pieces = _pieces(7, 3 * CAPACITY + 17)
    path = tmp_path / "object"
    with open(path, "xb") as file:
        writer = DirectWriter.start(file, CAPACITY)
        assert writer is not None
        writer.writelines(pieces)
        writer.finish()
        assert not _direct_flag(file.fileno())
    assert refused == [CAPACITY]  # refused once, then written the usual way
    assert path.read_bytes() == b"".join(pieces)


def test_a_writer_closed_after_a_failure_can_be_closed_again(tmp_path: Path) -> None:
    with open(tmp_path / "object", "xb") as file:
        writer = DirectWriter.start(file, CAPACITY)
        assert writer is not None
        writer.writelines([b"x" * 100])
        writer.close()
        writer.close()
