"""Scans share clamd sessions (`IDSESSION`): a session that ended a scan cleanly carries the
next one; any other is dropped, and a kept session that clamd closed (a restart, its idle
timeout) or that sat unused too long is never used for a scan.

Against the real clamd (tests/fixtures/clamd.py) where clamd's own behaviour matters, and a
small session-speaking stand-in where the test must count connections or see the commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from filedock.ports import scanner_clamd
from filedock.ports.scanner import ScanIncomplete, ScannerUnavailable, ScanVerdict
from filedock.ports.scanner_clamd import ClamdScanner
from tests.fixtures.clamd import EICAR, ClamdServer


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@dataclass
class SessionClamd:
    """Speaks clamd's session protocol for INSTREAM: numbered `stream: OK` answers."""

    connections: int = 0
    commands: list[bytes] = field(default_factory=list)
    number_offset: int = 0  # answer with a wrong request number when set

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                command = await reader.readuntil(b"\0")
                self.commands.append(command)
                if command == b"zEND\0":
                    break
                if command == b"zINSTREAM\0":
                    while length := int.from_bytes(await reader.readexactly(4)):
                        await reader.readexactly(length)
                    answered += 1
                    writer.write(b"%d: stream: OK\0" % (answered + self.number_offset))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def serving(clamd: SessionClamd) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(clamd.handle, "127.0.0.1", 0)
    return server, f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_scans_one_after_another_share_one_session_and_close_ends_it() -> None:
    fake = SessionClamd()
    server, url = await serving(fake)
    async with server:
        scanner = ClamdScanner(url)
        for n in range(3):
            assert await scanner.scan(chunks_of(b"file %d" % n)) == ScanVerdict(True, None, 6)
        await scanner.close()
        await asyncio.sleep(0.05)  # the stand-in reads the END
    assert fake.connections == 1
    assert fake.commands == [b"zIDSESSION\0", *[b"zINSTREAM\0"] * 3, b"zEND\0"]


async def test_an_answer_numbered_for_another_request_is_unavailable_and_drops_the_session(
) -> None:
    fake = SessionClamd(number_offset=1)
    server, url = await serving(fake)
    async with server:
        scanner = ClamdScanner(url)
        for _ in range(2):
            with pytest.raises(ScannerUnavailable, match="answered request 2 while 1"):
                await scanner.scan(chunks_of(b"hello"))
    assert fake.connections == 2  # the out-of-step session was not used again


async def test_a_scan_whose_bytes_failed_drops_its_session() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"some bytes"
        raise OSError("the store's read error")

    fake = SessionClamd()
    server, url = await serving(fake)
    async with server:
        scanner = ClamdScanner(url)
        with pytest.raises(OSError, match="store's read error"):
            await scanner.scan(failing())
        assert (await scanner.scan(chunks_of(b"next"))).clean
    assert fake.connections == 2  # half a stream was sent on the first: never reused


async def test_a_session_unused_too_long_is_ended_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scanner_clamd, "SESSION_IDLE_SECONDS", 0.05)
    fake = SessionClamd()
    server, url = await serving(fake)
    async with server:
        scanner = ClamdScanner(url)
        await scanner.scan(chunks_of(b"first"))
        await asyncio.sleep(0.1)
        await scanner.scan(chunks_of(b"second"))
        await scanner.close()
        await asyncio.sleep(0.05)
    assert fake.connections == 2
    assert fake.commands.count(b"zEND\0") == 2


async def test_a_kept_session_clamd_closed_on_restart_is_not_used(clamd: ClamdServer) -> None:
    for url in (clamd.unix_url, clamd.tcp_url):
        scanner = ClamdScanner(url)
        assert (await scanner.scan(chunks_of(b"before"))).clean  # its session is kept
        clamd.stop()
        clamd.start()
        verdict = await scanner.scan(chunks_of(EICAR))
        assert verdict.signature == clamd.signature
        await scanner.close()


async def test_after_clamd_refused_a_stream_the_next_scan_gets_a_fresh_session(
    clamd: ClamdServer,
) -> None:
    scanner = ClamdScanner(clamd.unix_url)
    assert (await scanner.scan(chunks_of(b"warm"))).clean
    with pytest.raises(ScanIncomplete):
        await scanner.scan(chunks_of(b"a" * (clamd.stream_max_bytes + 1)))
    results = await asyncio.gather(*(scanner.scan(chunks_of(b"x" * n)) for n in range(1, 9)))
    assert [r.scanned_bytes for r in results] == list(range(1, 9))
    assert (await scanner.scan(chunks_of(EICAR))).signature == clamd.signature
    await scanner.close()
