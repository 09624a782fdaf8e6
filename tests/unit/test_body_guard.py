"""The body guard on its own: what passes untouched, what is timed, capped and drained.

The ASGI server is played by lists of messages (the test is about the middleware's order of
reads and writes, which a real server hides); tests/integration/test_stalled_bodies.py runs
the same guard in a real server against real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filedock.body_guard import DRAIN_LIMIT, BodyGuard
from filedock.config import SettingsError, load_settings

IDLE = 0.05


class Peer:
    """The server's side of one request: body messages to hand out, and what was sent back."""

    def __init__(self, *chunks: bytes, then_stall: bool = False) -> None:
        self.pending: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
        ]
        if not then_stall:
            self.pending.append({"type": "http.request", "body": b"", "more_body": False})
        self.events: list[str] = []
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if not self.pending:
            await asyncio.Event().wait()  # a client that sends nothing more
        self.events.append("read")
        return self.pending.pop(0)

    async def send(self, message: Message) -> None:
        self.events.append(message["type"])
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def scope(method: str = "POST", **headers: str) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": "/upload",
        "raw_path": b"/upload",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "http_version": "1.1",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def reading_app() -> FastAPI:
    """An endpoint that stores the body the way faces do: a stream, any error rendered."""
    app = FastAPI()

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        try:
            size = sum([len(chunk) async for chunk in request.stream()])
        except Exception as exc:  # what every face's router does with any error
            return Response(f"face rendered {type(exc).__name__}", 500)
        return Response(str(size), 200)

    return app


async def answer_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"no"})


def guarded(app: ASGIApp, max_reads: int = 10) -> BodyGuard:
    return BodyGuard(app, idle_seconds=IDLE, max_reads=max_reads)


async def test_a_request_without_a_body_reaches_the_app_with_the_servers_own_channels() -> None:
    seen: list[tuple[Receive, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((receive, send))

    guard = guarded(app, max_reads=1)
    guard.slots.taken = 1  # every slot taken: a bodyless request must not even look
    for request in (scope("GET"), scope("GET", content_length="0"), scope("DELETE")):
        peer = Peer()
        await guard(request, peer.receive, peer.send)
        assert seen.pop() == (peer.receive, peer.send)


async def test_a_body_that_stops_arriving_is_answered_408_past_the_faces_error_handling() -> None:
    guard = guarded(reading_app())
    peer = Peer(b"a few bytes", then_stall=True)

    await asyncio.wait_for(guard(scope(content_length="1000"), peer.receive, peer.send), 2)

    assert peer.status == 408, peer.sent
    assert "abandoned" in peer.json()["error"]
    assert peer.headers["connection"] == "close"
    assert guard.slots.taken == 0


async def test_a_body_that_keeps_arriving_is_never_cut_however_long_it_takes() -> None:
    async def slow_receive() -> Message:
        await asyncio.sleep(IDLE * 0.6)  # each piece within the idle time; all of them beyond
        return await peer.receive()

    guard = guarded(reading_app())
    peer = Peer(*[b"x"] * 5)

    await guard(scope(transfer_encoding="chunked"), slow_receive, peer.send)

    assert peer.status == 200 and peer.sent[1]["body"] == b"5"


async def test_an_upload_beyond_the_cap_gets_503_at_once_and_a_finished_one_frees_its_slot() -> (
    None
):
    guard = guarded(reading_app(), max_reads=2)
    stalled = [Peer(b"x", then_stall=True) for _ in range(2)]
    holders = [
        asyncio.create_task(guard(scope(content_length="10"), p.receive, p.send)) for p in stalled
    ]
    await asyncio.sleep(IDLE / 5)
    refused = Peer(b"x")

    await asyncio.wait_for(guard(scope(content_length="1"), refused.receive, refused.send), IDLE)

    assert refused.status == 503 and refused.headers["retry-after"].isdigit()
    assert refused.events == ["http.response.start", "http.response.body"]  # nothing read
    await asyncio.gather(*holders)
    assert [p.status for p in stalled] == [408, 408] and guard.slots.taken == 0
    admitted = Peer(b"x")
    await guard(scope(content_length="1"), admitted.receive, admitted.send)
    assert admitted.status == 200


async def test_an_answer_given_before_the_body_is_read_goes_out_after_the_body_is_drained() -> None:
    guard = guarded(answer_at_once)
    peer = Peer(b"a" * 1000, b"b" * 1000, b"c" * 1000)

    await guard(scope(content_length="3000"), peer.receive, peer.send)

    assert peer.events == ["read"] * 4 + ["http.response.start", "http.response.body"]
    assert peer.status == 401


async def test_a_body_declared_beyond_the_drain_limit_is_not_read_before_the_answer() -> None:
    guard = guarded(answer_at_once)
    peer = Peer(b"a" * 1000)

    await guard(scope(content_length=str(DRAIN_LIMIT + 1)), peer.receive, peer.send)

    assert peer.events == ["http.response.start", "http.response.body"]


async def test_a_client_waiting_for_100_continue_is_answered_without_sending_its_body() -> None:
    guard = guarded(answer_at_once)
    peer = Peer(b"a" * 1000)

    await guard(scope(content_length="1000", expect="100-continue"), peer.receive, peer.send)

    assert peer.events == ["http.response.start", "http.response.body"]


async def test_a_body_that_stalls_while_being_drained_still_gets_the_apps_answer() -> None:
    guard = guarded(answer_at_once)
    peer = Peer(b"a", then_stall=True)

    await asyncio.wait_for(guard(scope(content_length="1000"), peer.receive, peer.send), 2)

    assert peer.status == 401 and guard.slots.taken == 0


async def test_waiting_for_a_disconnect_after_the_whole_body_is_not_a_stalled_body() -> None:
    async def read_then_listen(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        # A streaming response listens for the client going away, however long that takes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receive(), IDLE * 3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = guarded(read_then_listen)
    peer = Peer(b"x")

    await guard(scope(content_length="1"), peer.receive, peer.send)

    assert peer.status == 200


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_CONCURRENT_UPLOADS", "769"),
        ("MAX_CONCURRENT_UPLOADS", "0"),
        ("BODY_IDLE_SECONDS", "0"),
    ],
)
def test_a_cap_that_could_take_every_connection_or_a_zero_limit_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(f"FILEDOCK_{variable}", value)

    with pytest.raises(SettingsError, match=f"FILEDOCK_{variable}: .*'{value}'"):
        load_settings(data_dir=tmp_path)
