"""Process measurements for the benchmarks: CPU time and memory of a process tree, from /proc."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from pathlib import Path


def proc_kb(path: str, field: str) -> int:
    """A `kB` field of a /proc file (VmRSS, VmHWM, Pss) in bytes; 0 if the process is gone."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds spent so far by `root` and its descendants."""
    ticks = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc/<pid>/task/<tid>/children (cheap to read)."""
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                stack.extend(int(child) for child in children.read_text().split())
    return tree


class RssSampler(threading.Thread):
    """Sums VmRSS over a process tree every 50 ms; keeps the peak per labelled phase."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.phase = root, "idle"
        self.peaks: dict[str, int] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            tree = process_tree(self.root)
            total = sum(proc_kb(f"/proc/{pid}/status", "VmRSS") for pid in tree)
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), total)


def stop(process: subprocess.Popen[bytes], descendants: list[int]) -> None:
    """Terminate `process`, then any recorded descendant that outlived it; by pid only."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid in descendants:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)
