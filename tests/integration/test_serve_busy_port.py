"""`filedock serve` on a port something else listens on: one line on stderr, exit 1.

It used to migrate, exec into Granian and die there with a Python and a Rust traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    # Granian puts a Rust backtrace in its errors when this is set; the line must not.
    env.update(FILEDOCK_DATA_DIR=str(data_dir), RUST_BACKTRACE="1")
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_serve_on_a_busy_port_says_so_in_one_line_before_migrating(
    tmp_path: Path, busy_port: int
) -> None:
    result = run("filedock", "serve", "--port", str(busy_port), data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"filedock: cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    ]
    assert not (tmp_path / "filedock.db").exists()


# One worker serves in the process itself, more under Granian's master: each binds its own way.
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_taken_between_the_check_and_granian_is_still_one_line(
    tmp_path: Path, busy_port: int, workers: str
) -> None:
    # What `serve` execs into, as if the port was taken after `serve` checked it.
    result = run("filedock.server", "127.0.0.1", str(busy_port), workers, data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"filedock: cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    ]
