"""The scanner on clamd, speaking its INSTREAM protocol over a unix or TCP socket.

A scan sends `zINSTREAM\\0`, then the bytes as chunks each prefixed by its 4-byte big-endian
length, then a zero-length chunk; clamd answers one `\\0`-terminated line. Scans run in clamd
sessions (`zIDSESSION\\0`), one scan at a time on each, and a session whose scan ended
cleanly is kept for the next scan: opening and closing a connection per scan cost about twice
a small file's scanning CPU on our side (docs/benchmarks.md). In a session clamd numbers its
answers (`3: stream: OK`). A session is dropped after any failure, after `SESSION_IDLE_SECONDS`
unused (clamd ends idle sessions itself after its IdleTimeout, 30 s by default), or when it is
found closed before a scan (a clamd restart); a scan never starts on a session known dead.

The socket is driven with `loop.sock_sendall`/`loop.sock_recv` rather than asyncio streams on
purpose. When a stream exceeds StreamMaxLength, clamd writes "INSTREAM size limit exceeded"
and closes while we are still sending. A stream transport that then fails a write closes its
socket at once and drops the reply still unread in the kernel (about 1 scan in 8 over TCP in
our measurements), which would make a too-large file look like a clamd outage. Owning the
socket, a failed send leaves the reply readable, so the two are always told apart.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from filedock.ports.scanner import ScanIncomplete, ScannerUnavailable, ScanVerdict

# clamd accepts any chunk up to StreamMaxLength; 1 MiB keeps our memory bounded per scan.
MAX_CHUNK_BYTES = 1024 * 1024

URL_RULE = "must be unix:///path/to/clamd.sock or tcp://host:port"

_LENGTH = struct.Struct(">I")
_END_OF_STREAM = _LENGTH.pack(0)
# Bytes gathered before a send: a small file's whole stream goes out at once.
_SEND_AT_BYTES = 64 * 1024
_SIZE_LIMIT_REPLY = "INSTREAM size limit exceeded"
# clamd's replies are one short line; anything longer is not clamd.
_MAX_REPLY_BYTES = 4096
# How long to wait for a reply after a send failed (see `_reply_if_any`).
_LAST_WORDS_SECONDS = 5.0
# sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_UNIX_PATH_BYTES = 107
SESSION_IDLE_SECONDS = 10.0
"""A kept session unused this long is ended rather than reused (well under clamd's 30 s)."""
# Sessions kept for the next scans; more scans at once open more, ended when they finish.
_MAX_IDLE_SESSIONS = 32
_SESSION_START = b"zIDSESSION\0"
_SESSION_END = b"zEND\0"
_NUMBERED_REPLY = re.compile(r"(\d+): (.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ClamdAddress:
    """Where clamd listens: a unix socket path, or a TCP host and port."""

    unix_path: str | None = None
    host: str = ""
    port: int = 0


def parse_clamd_url(url: str) -> ClamdAddress:
    """The address in `url`; `ValueError` unless it is unix:///abs/path or tcp://host:port."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError(URL_RULE) from None
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(URL_RULE)
    if parts.scheme == "unix" and not parts.netloc:
        path = unquote(parts.path)
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError(URL_RULE)
        if len(path.encode()) > _MAX_UNIX_PATH_BYTES:
            raise ValueError(f"unix socket path is longer than {_MAX_UNIX_PATH_BYTES} bytes")
        return ClamdAddress(unix_path=path)
    if parts.scheme == "tcp" and parts.hostname and port and parts.path in ("", "/"):
        return ClamdAddress(host=parts.hostname, port=port)
    raise ValueError(URL_RULE)


class ClamdScanner:
    """Scans with clamd at `url`; no connection is held between scans.

    `timeout_seconds` bounds each wait on clamd: connecting, sending one chunk, and the
    verdict after the last chunk (so it must exceed clamd's scan time for the largest file).
    """

    def __init__(self, url: str, *, timeout_seconds: float = 30.0) -> None:
        try:
            self._address = parse_clamd_url(url)
        except ValueError as exc:
            raise ValueError(f"clamd URL {url!r}: {exc}") from None
        if not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds!r}")
        self._url = url
        self._timeout = timeout_seconds
        self._idle: list[_Session] = []  # the most recently used last

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanVerdict:
        session = await self._session()
        sock = session.sock
        verdict: ScanVerdict | None = None
        try:
            sent = 0
            session.requests += 1
            # The command, small chunks and the end marker go out together: a small file is
            # one send (and one wake-up of clamd) instead of three.
            pending = bytearray(b"" if session.requests > 1 else _SESSION_START)
            pending += b"zINSTREAM\0"
            try:
                async for chunk in chunks:
                    view = memoryview(chunk)
                    # An empty chunk would tell clamd the stream has ended: skip it.
                    for start in range(0, len(view), MAX_CHUNK_BYTES):
                        piece = view[start : start + MAX_CHUNK_BYTES]
                        pending += _LENGTH.pack(len(piece))
                        sent += len(piece)
                        if len(pending) + len(piece) < _SEND_AT_BYTES:
                            pending += piece
                            continue
                        # A large piece goes as it is, after what was gathered: no copy of it.
                        await self._send(sock, pending)
                        await self._send(sock, piece)
                        pending = bytearray()
                pending += _END_OF_STREAM
                await self._send(sock, pending)
            except ScannerUnavailable as failure:
                # clamd closes on us when the stream is too large; its reply says whether
                # that is why. Any other cause stays an outage.
                reply = await self._reply_if_any(sock)
                if _SIZE_LIMIT_REPLY in reply:
                    raise _too_large(sent) from None
                if reply:
                    raise ScannerUnavailable(f"{failure}; clamd said {reply!r}") from failure
                raise
            reply = _unnumbered(await self._read_reply(sock), session.requests, self._url)
            verdict = _verdict(reply, sent, self._url)
        finally:
            # Only a session whose scan ended with a verdict is known to be in step.
            if verdict is None:
                sock.close()
            else:
                self._keep(session)
        return verdict

    def verdict_without_reading(self) -> None:
        """clamd reads every byte it judges."""
        return None

    async def check(self) -> None:
        sock = await self._connect()
        try:
            await self._send(sock, b"zPING\0")
            reply = await self._read_reply(sock)
        finally:
            sock.close()
        if reply != "PONG":
            raise ScannerUnavailable(f"clamd at {self._url} answered {reply!r} to PING")

    async def close(self) -> None:
        """End the kept sessions."""
        while self._idle:
            _end(self._idle.pop().sock)

    async def _session(self) -> _Session:
        """A kept session that is fresh and still open, else a new connection."""
        now = time.monotonic()
        while self._idle:
            session = self._idle.pop()
            if now - session.idle_since < SESSION_IDLE_SECONDS and _quiet_and_open(session.sock):
                return session
            _end(session.sock)
        return _Session(await self._connect())

    def _keep(self, session: _Session) -> None:
        session.idle_since = time.monotonic()
        self._idle.append(session)
        # The longest idle go first: beyond the cap, or idle past their time (never the one
        # just kept, the last).
        while len(self._idle) > 1 and (
            len(self._idle) > _MAX_IDLE_SESSIONS
            or session.idle_since - self._idle[0].idle_since >= SESSION_IDLE_SECONDS
        ):
            _end(self._idle.pop(0).sock)

    async def _connect(self) -> socket.socket:
        try:
            async with asyncio.timeout(self._timeout):
                if self._address.unix_path is not None:
                    return await _open(socket.AF_UNIX, self._address.unix_path)
                return await self._open_tcp()
        except OSError as exc:  # TimeoutError and socket.gaierror are OSErrors too
            raise self._unavailable("cannot connect", exc) from exc

    async def _open_tcp(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        host, port = self._address.host, self._address.port
        addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        last_error: OSError = OSError(f"no address found for {host}")
        for family, _type, _proto, _name, address in addresses:
            try:
                sock = await _open(family, address)
            except OSError as exc:
                last_error = exc
                continue
            # Without this, the 4-byte end-of-stream marker waits for the ACK of the last
            # chunk (Nagle and delayed ACK), adding up to 40 ms to every scan.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        raise last_error

    async def _send(self, sock: socket.socket, data: bytes | bytearray | memoryview) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.get_running_loop().sock_sendall(sock, data)
        except OSError as exc:
            raise self._unavailable("connection lost while sending", exc) from exc

    async def _read_reply(self, sock: socket.socket, timeout: float | None = None) -> str:
        """clamd's one reply, without its terminating NUL."""
        loop = asyncio.get_running_loop()
        received = bytearray()
        try:
            async with asyncio.timeout(timeout or self._timeout):
                while b"\0" not in received:
                    data = await loop.sock_recv(sock, _MAX_REPLY_BYTES)
                    if not data:
                        raise ConnectionResetError("clamd closed the connection without a reply")
                    received += data
                    if len(received) > _MAX_REPLY_BYTES:
                        raise ConnectionError(f"reply longer than {_MAX_REPLY_BYTES} bytes")
        except OSError as exc:
            raise self._unavailable("no reply", exc) from exc
        return received.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()

    async def _reply_if_any(self, sock: socket.socket) -> str:
        try:
            # A clamd that hung up has its reply waiting already; one that merely stalled
            # our send has already cost a full timeout.
            return await self._read_reply(sock, min(self._timeout, _LAST_WORDS_SECONDS))
        except ScannerUnavailable:
            return ""

    def _unavailable(self, what: str, exc: BaseException) -> ScannerUnavailable:
        detail = str(exc) or type(exc).__name__
        return ScannerUnavailable(f"clamd at {self._url}: {what}: {detail}")


class _Session:
    """A connection to clamd in session mode: how many scans it carried, and since when it
    has been unused."""

    __slots__ = ("idle_since", "requests", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.requests = 0
        self.idle_since = 0.0


def _quiet_and_open(sock: socket.socket) -> bool:
    """Whether a kept session can carry a scan: open, and with nothing unasked-for to read."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True  # nothing to read: open, and in step
    except OSError:
        return False
    return False  # closed by clamd (b""), or bytes nobody asked for


def _end(sock: socket.socket) -> None:
    """End a session politely if the socket takes the command at once; close it anyway."""
    try:
        sock.send(_SESSION_END)
    except OSError:
        pass
    finally:
        sock.close()


def _unnumbered(reply: str, request: int, url: str) -> str:
    """A session's reply without its number (`3: stream: OK`), which must be this request's."""
    numbered = _NUMBERED_REPLY.fullmatch(reply)
    if numbered is None:
        return reply  # an error clamd sends unnumbered: judged as it is
    if int(numbered.group(1)) != request:
        raise ScannerUnavailable(
            f"clamd at {url} answered request {numbered.group(1)} while {request} was awaited"
        )
    return numbered.group(2)


async def _open(family: int, address: str | tuple[object, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, address)
    except BaseException:
        # Also on cancellation or timeout: the half-open socket must not leak.
        sock.close()
        raise
    return sock


def _verdict(reply: str, sent: int, url: str) -> ScanVerdict:
    if reply == "stream: OK":
        return ScanVerdict(clean=True, signature=None, scanned_bytes=sent)
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        signature = reply.removeprefix("stream: ").removesuffix(" FOUND")
        return ScanVerdict(clean=False, signature=signature, scanned_bytes=sent)
    if _SIZE_LIMIT_REPLY in reply:
        # A stream that fits in clamd's socket buffers ends before clamd notices the limit.
        raise _too_large(sent)
    # "... ERROR" replies (out of memory, a database reload gone wrong) are clamd's trouble,
    # not the file's: the scan may succeed later.
    raise ScannerUnavailable(f"clamd at {url} answered {reply!r}")


def _too_large(sent: int) -> ScanIncomplete:
    return ScanIncomplete(
        f"clamd refused the stream after we sent {sent} bytes: it exceeds clamd's StreamMaxLength "
        f"({_SIZE_LIMIT_REPLY})"
    )
