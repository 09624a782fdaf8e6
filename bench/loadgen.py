"""A closed-loop HTTP/1.1 load generator for the benchmarks: N keep-alive connections.

Each connection sends one request, waits for the whole response, then sends the next (no
pipelining), so N connections are N concurrent clients. It speaks raw HTTP over asyncio
protocols rather than through an HTTP client library: parsing one small response costs a few
microseconds here, where httpx costs tens, and on a machine whose cores the server shares
the client must take as little CPU as it can. Responses must carry Content-Length (Starlette
and FastAPI JSON responses do); anything else fails the run rather than being guessed at.

Also here: the source of the bare reference endpoint that such loads are compared against.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)

# The reference endpoint: Starlette and Granian with nothing of filedock, written to a file
# and run as its own server. BARE_PADDING sizes the body to the measured endpoint's.
BARE_APP = '''"""Reference endpoint of bench/signing.py: bare Starlette (written by the bench)."""

import os
import sys

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"file_id": "0" * 36, "padding": "x" * int(os.environ["BARE_PADDING"])}


async def signed_url(request):
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/v1/files/signed-url", signed_url)])

if __name__ == "__main__":
    from granian.constants import Interfaces
    from granian.server import Server

    # filedock.server's options, so that only the application differs.
    Server(
        "bare_app:app",
        address="127.0.0.1",
        port=int(sys.argv[1]),
        interface=Interfaces.ASGI,
        workers=1,
        log_access=False,
    ).serve()
'''


@dataclass
class LoadResult:
    concurrency: int
    seconds: float  # the measured window
    latencies_ns: list[int] = field(default_factory=list)  # completed in the window
    statuses: Counter[int] = field(default_factory=Counter)
    client_cpu: float = 0.0  # this process's CPU seconds during the window
    server_cpu: float = 0.0  # the server tree's CPU seconds during the window (if probed)
    # CPU seconds the hypervisor gave to other guests while this machine wanted them, summed
    # over its cores, during the window (/proc/stat's steal; 0 where the kernel counts none).
    # A shared host's speed moves with it: a ratio from windows with unlike steal says less.
    stolen_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_ns) / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ns)
        index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
        return ordered[index] / 1e6


def request_bytes(host: str, port: int, target: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `ask` sends a request and returns (status, body)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._head_end = -1
        self._length = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport  # asyncio sets TCP_NODELAY on TCP sockets itself

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._head_end < 0:
            self._head_end = self._buffer.find(b"\r\n\r\n")
            if self._head_end < 0:
                return
            match = _CONTENT_LENGTH.search(self._buffer, 0, self._head_end + 2)
            if match is None:
                self._fail(ConnectionError("response without Content-Length"))
                return
            self._length = int(match.group(1))
        end = self._head_end + 4 + self._length
        if len(self._buffer) < end:
            return
        status = int(self._buffer[9:12])
        body = bytes(self._buffer[self._head_end + 4 : end])
        del self._buffer[:end]
        self._head_end = -1
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def ask(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


def stolen_seconds() -> float:
    """CPU seconds stolen from this machine so far, all cores (/proc/stat; 0.0 without it)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return 0.0
    # "cpu user nice system idle iowait irq softirq steal ...", in clock ticks.
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


async def fetch_once(host: str, port: int, request: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection: to check an endpoint before loading it."""
    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(_Connection, host, port)
    try:
        return await asyncio.wait_for(conn.ask(request), 30)
    finally:
        transport.close()


async def run_load(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    seconds: float,
    warmup: float,
    server_cpu: Callable[[], float] = lambda: 0.0,
) -> LoadResult:
    """Load for `warmup` + `seconds`; only responses completed in the last `seconds` count.

    `server_cpu` returns the server's CPU seconds so far; it is read at both window edges.

    Connection i starts at request i and steps through `requests` in turn, so the requests
    (e.g. one per user id) are spread over the connections.
    """
    loop = asyncio.get_running_loop()
    conns = [(await loop.create_connection(_Connection, host, port))[1] for _ in range(concurrency)]
    result = LoadResult(concurrency, seconds)
    start = time.perf_counter_ns() + int(warmup * 1e9)
    end = start + int(seconds * 1e9)
    latencies, statuses = result.latencies_ns, result.statuses

    async def client(conn: _Connection, offset: int) -> None:
        clock, count, i = time.perf_counter_ns, len(requests), offset
        while True:
            sent = clock()
            if sent >= end:
                return
            status, _ = await conn.ask(requests[i % count])
            done = clock()
            i += 1
            if start <= done < end:
                latencies.append(done - sent)
                statuses[status] += 1

    async def measure_cpu() -> None:
        # CPU seconds over exactly the window: this process (the client) and the server's.
        marks = []
        for moment in (start, end):
            await asyncio.sleep(max(0.0, (moment - time.perf_counter_ns()) / 1e9))
            marks.append((time.process_time(), server_cpu(), stolen_seconds()))
        result.client_cpu = marks[1][0] - marks[0][0]
        result.server_cpu = marks[1][1] - marks[0][1]
        result.stolen_cpu = marks[1][2] - marks[0][2]

    try:
        await asyncio.gather(measure_cpu(), *(client(conn, n) for n, conn in enumerate(conns)))
    finally:
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    return result
