"""The served process's event loop: asyncio's, woken from other threads once, not per call.

Granian hands each request to the application from its own threads with
`loop.call_soon_threadsafe`, and asyncio's loop writes a byte to its self-pipe on every such
call, even when the loop is busy running callbacks and will look at its queue again anyway.
On a loaded worker that was a system call (with the GIL let go and taken back) a request,
and as many wake-ups and reads of the pipe by the loop (about 6 % of the serving thread's
samples at 8,000 signed URLs a second, py-spy; docs/benchmarks.md).

`WakeOnceLoop` writes the byte only when none is waiting to be read: a wake-up already on
its way covers every callback queued before the loop reads it. The flag is cleared only
after the pipe has been drained, and the loop decides how long to wait only after running
that read, so a callback queued while the flag was set is always in the queue the loop
looks at next (the same protocol as libuv's `uv_async_send`). Signals reach the loop through
the same pipe but are written by the interpreter's own handler, which this does not touch.
"""

from __future__ import annotations

import asyncio


class WakeOnceLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._wake_pending = False

    def _write_to_self(self) -> None:
        if self._wake_pending:
            return  # a byte is in the pipe: the loop will look at its queue
        self._wake_pending = True
        super()._write_to_self()  # type: ignore[misc]

    def _read_from_self(self) -> None:
        super()._read_from_self()  # type: ignore[misc]
        # Only once drained: a call queued before this line finds the flag still set, and
        # is in the queue when the loop next decides how long to wait (right after this).
        self._wake_pending = False
