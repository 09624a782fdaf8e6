"""The clamd scanner against a real clamd (tests/fixtures/clamd.py), over its unix and TCP sockets.

The test database holds one `.hdb` signature: the MD5 of the 68-byte EICAR file. clamd matches
it against a whole stream, so only a stream of exactly those bytes is "infected"; EICAR inside
a larger stream is clean here (a real signature database would differ).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from filedock.config import Settings, SettingsError, load_settings
from filedock.ports.scanner import (
    NoScanner,
    ScanIncomplete,
    Scanner,
    ScannerUnavailable,
    ScanVerdict,
)
from filedock.ports.scanner_clamd import MAX_CHUNK_BYTES, ClamdScanner
from tests.fixtures.clamd import EICAR, ClamdServer

URL_RULE = "must be unix:///path/to/clamd.sock or tcp://host:port"
MiB = 1024 * 1024


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture(params=["unix", "tcp"])
def scanner(request: pytest.FixtureRequest, clamd: ClamdServer) -> ClamdScanner:
    return ClamdScanner(clamd.unix_url if request.param == "unix" else clamd.tcp_url)


# Verdicts --------------------------------------------------------------------------------------


async def test_clean_bytes_are_clean(scanner: ClamdScanner) -> None:
    data = b"just an ordinary text file\n" * 100
    assert await scanner.scan(chunks_of(data)) == ScanVerdict(True, None, len(data))


async def test_eicar_is_infected_with_the_signature_name(
    scanner: ClamdScanner, clamd: ClamdServer
) -> None:
    verdict = await scanner.scan(chunks_of(EICAR))
    assert verdict == ScanVerdict(clean=False, signature=clamd.signature, scanned_bytes=68)
    assert verdict.signature is not None
    assert verdict.signature.startswith("Filedock.Test.EICAR")


@pytest.mark.parametrize("size", [1, 7, 34, 67])
async def test_eicar_split_across_chunks_is_still_found(
    scanner: ClamdScanner, clamd: ClamdServer, size: int
) -> None:
    verdict = await scanner.scan(chunks_of(*split_every(EICAR, size)))
    assert (verdict.clean, verdict.signature) == (False, clamd.signature)


async def test_empty_chunks_do_not_end_the_stream_early(
    scanner: ClamdScanner, clamd: ClamdServer
) -> None:
    # A zero-length chunk is the protocol's end marker; passing one on would scan b"" only.
    verdict = await scanner.scan(chunks_of(b"", EICAR[:30], b"", b"", EICAR[30:], b""))
    assert (verdict.clean, verdict.signature, verdict.scanned_bytes) == (False, clamd.signature, 68)


async def test_empty_stream_is_clean(scanner: ClamdScanner) -> None:
    assert await scanner.scan(chunks_of()) == ScanVerdict(True, None, 0)


async def test_a_chunk_larger_than_the_protocol_chunk_is_scanned_whole(
    scanner: ClamdScanner,
) -> None:
    data = bytes(range(256)) * ((MAX_CHUNK_BYTES + MAX_CHUNK_BYTES // 2) // 256)
    assert await scanner.scan(chunks_of(data)) == ScanVerdict(True, None, len(data))


async def test_a_stream_of_exactly_stream_max_length_is_scanned(
    scanner: ClamdScanner, clamd: ClamdServer
) -> None:
    data = b"a" * clamd.stream_max_bytes
    assert await scanner.scan(chunks_of(*split_every(data, 64 * 1024))) == ScanVerdict(
        True, None, clamd.stream_max_bytes
    )


@pytest.mark.parametrize("over", [1, 6 * MiB], ids=["one-byte-over", "far-over"])
async def test_a_stream_over_stream_max_length_is_incomplete(
    scanner: ClamdScanner, clamd: ClamdServer, over: int
) -> None:
    # One byte over fits in the socket buffers, so clamd's refusal comes as its reply; far
    # over, clamd hangs up while we still send, and the refusal must be read after that.
    data = b"a" * (clamd.stream_max_bytes + over)
    for _ in range(3):
        with pytest.raises(ScanIncomplete) as caught:
            await scanner.scan(chunks_of(*split_every(data, 256 * 1024)))
        message = str(caught.value)
        assert "StreamMaxLength" in message
        assert re.search(r"after we sent \d+ bytes", message), message
    assert await scanner.scan(chunks_of(b"still fine")) == ScanVerdict(True, None, 10)


async def test_concurrent_scans_each_get_their_own_verdict(
    scanner: ClamdScanner, clamd: ClamdServer
) -> None:
    streams = [EICAR if i % 2 else b"clean %d" % i for i in range(16)]
    verdicts = await asyncio.gather(*(scanner.scan(chunks_of(s)) for s in streams))
    assert [v.signature for v in verdicts] == [
        clamd.signature if s == EICAR else None for s in streams
    ]


async def test_an_error_from_the_chunks_propagates_unchanged(scanner: ClamdScanner) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"some bytes"
        raise OSError("the object store's own read error")

    # Not a ScannerUnavailable: the scanner is fine, the source of the bytes is not.
    with pytest.raises(OSError, match="object store's own") as caught:
        await scanner.scan(failing())
    assert not isinstance(caught.value, ScannerUnavailable)


# Availability ----------------------------------------------------------------------------------


async def test_check_passes_while_clamd_answers(scanner: ClamdScanner) -> None:
    await scanner.check()
    await scanner.close()


async def test_clamd_down_is_unavailable_and_scans_work_again_after_it_returns(
    clamd: ClamdServer,
) -> None:
    scanners = [ClamdScanner(clamd.unix_url), ClamdScanner(clamd.tcp_url)]
    clamd.stop()
    try:
        for scanner in scanners:
            with pytest.raises(ScannerUnavailable, match="cannot connect"):
                await scanner.scan(chunks_of(b"hello"))
            with pytest.raises(ScannerUnavailable):
                await scanner.check()
    finally:
        clamd.start()
    for scanner in scanners:
        await scanner.check()
        assert (await scanner.scan(chunks_of(EICAR))).signature == clamd.signature


async def test_nothing_listening_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ScannerUnavailable, match="cannot connect"):
        await ClamdScanner(f"unix://{tmp_path}/absent.sock").scan(chunks_of(b"x"))
    with pytest.raises(ScannerUnavailable, match="cannot connect"):
        await ClamdScanner("tcp://127.0.0.1:1").check()


# Misbehaving servers: clamd cannot be made to run out of memory or hang on cue, so these
# stand in for it with a small socket server that answers as a failing clamd would.

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def fake_clamd(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"tcp://127.0.0.1:{port}"


def answering(reply: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(reply)
        await writer.drain()
        writer.close()

    return handle


@pytest.mark.parametrize(
    "reply",
    [
        b"stream: Can't allocate memory ERROR\0",
        b"UNKNOWN COMMAND\0",
        b"stream: OK",  # no terminating NUL before the connection closes
        b"",
    ],
)
async def test_a_failing_clamd_is_unavailable(reply: bytes) -> None:
    server, url = await fake_clamd(answering(reply))
    async with server:
        with pytest.raises(ScannerUnavailable, match=re.escape(url)):
            await ClamdScanner(url).scan(chunks_of(b"hello"))
        with pytest.raises(ScannerUnavailable):
            await ClamdScanner(url).check()


async def test_a_clamd_that_fails_mid_stream_is_unavailable_with_its_reason() -> None:
    # It hangs up while we send, as on a size-limit refusal, but for another reason: that is
    # an outage, not a file to reject.
    server, url = await fake_clamd(answering(b"stream: Can't allocate memory ERROR\0"))
    async with server:
        with pytest.raises(ScannerUnavailable, match="Can't allocate memory"):
            await ClamdScanner(url).scan(chunks_of(*split_every(b"a" * 8 * MiB, MiB)))


async def test_a_clamd_that_never_answers_times_out_as_unavailable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server, url = await fake_clamd(silent)
    async with server:
        with pytest.raises(ScannerUnavailable, match="no reply"):
            await ClamdScanner(url, timeout_seconds=0.3).scan(chunks_of(b"hello"))


# Configuration ---------------------------------------------------------------------------------

GOOD_URLS = [
    "unix:///run/clamav/clamd.ctl",
    "tcp://127.0.0.1:3310",
    "tcp://[::1]:3310",
    "tcp://clamd.internal:3310",
]
BAD_URLS = [
    "clamd.sock",
    "/run/clamav/clamd.ctl",
    "unix://relative/clamd.sock",
    "unix:relative.sock",
    "unix:///",
    "unix:///run/clamav/",
    "unix:///run/clamd.sock?mode=1",
    "tcp://clamd.internal",
    "tcp://:3310",
    "tcp://clamd.internal:port",
    "tcp://clamd.internal:70000",
    "tcp://clamd.internal:0",
    "tcp://clamd.internal:3310/scan",
    "tcp://user:secret@clamd.internal:3310",
    "http://clamd.internal:3310",
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_urls_are_accepted(url: str) -> None:
    ClamdScanner(url)
    assert Settings(clamd_url=url).clamd_url == url


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_are_rejected_by_the_constructor(url: str) -> None:
    with pytest.raises(ValueError, match=re.escape(URL_RULE)) as caught:
        ClamdScanner(url)
    assert url in str(caught.value)


def test_an_over_long_unix_socket_path_is_rejected() -> None:
    with pytest.raises(ValueError, match="longer than 107 bytes"):
        ClamdScanner("unix:///" + "d" * 120 + "/clamd.sock")


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_seconds"):
        ClamdScanner("tcp://127.0.0.1:3310", timeout_seconds=0)


@pytest.mark.parametrize("url", BAD_URLS[:4])
def test_a_bad_clamd_url_setting_stops_start_up_naming_the_variable(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FILEDOCK_CLAMD_URL", url)
    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path)
    assert str(caught.value) == f"FILEDOCK_CLAMD_URL: {URL_RULE} (got {url!r})"


def test_the_clamd_url_setting_defaults_to_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FILEDOCK_CLAMD_URL", raising=False)
    assert load_settings(data_dir=tmp_path).clamd_url is None
    monkeypatch.setenv("FILEDOCK_CLAMD_URL", "")
    assert load_settings(data_dir=tmp_path).clamd_url is None


# Scanning switched off -------------------------------------------------------------------------


async def test_no_scanner_calls_everything_clean_without_reading_it() -> None:
    pulled: list[bytes] = []

    async def watched() -> AsyncIterator[bytes]:
        for part in (EICAR, b"more"):
            pulled.append(part)
            yield part

    scanner: Scanner = NoScanner()
    await scanner.check()
    assert await scanner.scan(watched()) == ScanVerdict(clean=True, signature=None, scanned_bytes=0)
    assert pulled == []
    await scanner.close()
