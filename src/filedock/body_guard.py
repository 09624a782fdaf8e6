"""Request bodies cannot hold the server: an idle limit on each read, a cap on reads at once.

Granian hands a request to the application as soon as its headers are in and never times out
a body that stops arriving, so a thousand clients that send headers and a few bytes would
hold every connection a worker serves. This pure ASGI middleware, for requests that declare a
body (Content-Length above 0, or Transfer-Encoding):

- waits at most `idle_seconds` for each piece of the body; a body that sends nothing for that
  long is abandoned: 408 if no response has started, and whatever was being stored is removed
  by the paths that already clean up after a cancelled request;
- lets at most `max_reads` bodies be read at once per worker process; one more is answered 503
  with `Retry-After` at once, before any of its bytes are read;
- reads the rest of a body the application answered without reading (a refusal: bad token,
  database outage), up to `DRAIN_LIMIT` bytes, before that answer goes out. A client that
  sends its whole body before reading (Python's http.client, for one) would otherwise see a
  broken pipe instead of the status.

Requests without a body pass through untouched: the hot signed-URL GETs pay one header scan
(about a microsecond, measured).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# How a refusal is rendered: in the envelope of the face the path belongs to, when it has one
# (None: plain JSON). Arguments: the request's scope, the status, a message, extra headers.
Refusal = Callable[[Scope, int, str, dict[str, str]], Response | None]

# Past this, closing the connection is cheaper than reading what nobody will store; clients
# that read early answers (curl, httpx) still get the status.
DRAIN_LIMIT = 32 * 1024 * 1024
# A slot frees when an upload finishes or is abandoned; a few seconds is a fair wait.
BUSY_RETRY_AFTER_SECONDS = 5


def body_guard_layer(
    idle_seconds: float, max_reads: int, refusal: Refusal | None = None
) -> Middleware:
    """`BodyGuard` as a layer of the app. Every guard the layer makes (the router's stack and
    hot_routes.py's lane each have one) counts reads in the same `BodySlots`, so the cap is
    the process's, whichever way a request came in."""
    slots = BodySlots(max_reads)
    return Middleware(
        BodyGuard, idle_seconds=idle_seconds, max_reads=max_reads, refusal=refusal, slots=slots
    )


class BodyStalled(BaseException):
    """The client stopped sending the body; the request is over.

    A BaseException, as a cancellation is: no face should answer it (the guard does) or log
    it as a failure of ours, and every cleanup path below already runs on cancellations.
    """


class BodySlots:
    """How many bodies are being read at once, against the cap; shared by a process's guards."""

    __slots__ = ("limit", "taken")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0


class BodyGuard:
    """See the module docstring; the cap is per worker process (its `BodySlots`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        idle_seconds: float,
        max_reads: int,
        refusal: Refusal | None = None,
        slots: BodySlots | None = None,
    ) -> None:
        self.app = app
        self.idle_seconds = idle_seconds
        self.refusal = refusal
        self.slots = BodySlots(max_reads) if slots is None else slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_body(scope)
        if declared is None:
            await self.app(scope, receive, send)
            return
        slots = self.slots
        if slots.taken >= slots.limit:
            await self._refuse(
                scope,
                send,
                503,
                "too many uploads in progress, try again shortly",
                {"retry-after": str(BUSY_RETRY_AFTER_SECONDS)},
            )
            return
        slots.taken += 1
        body = _GuardedBody(self, receive, send, declared)
        try:
            await self.app(scope, body.receive, body.send)
        except BodyStalled:
            # Once a response has started its status is out; the server ends the connection.
            if not body.response_started:
                await self._refuse(scope, send, 408, body.stalled_message(), {})
        finally:
            body.release()

    async def _refuse(
        self, scope: Scope, send: Send, status: int, error: str, headers: dict[str, str]
    ) -> None:
        # The body is left unread, so the connection cannot carry another request.
        headers = {**headers, "connection": "close"}
        response = self.refusal(scope, status, error, headers) if self.refusal else None
        if response is None:
            raw = [(name.encode(), value.encode()) for name, value in headers.items()]
            await _answer(send, status, error, raw)
            return

        async def nothing_more() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing_more, send)


class _Declared:
    __slots__ = ("expects_continue", "length")

    def __init__(self, length: int | None, expects_continue: bool) -> None:
        self.length = length
        self.expects_continue = expects_continue


def _declared_body(scope: Scope) -> _Declared | None:
    """What the headers say of the body; None when there is none."""
    length: int | None = None
    has_body = expects_continue = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            # A malformed length still means a body; the face refuses the value itself.
            length = int(value) if value.isdigit() else None
            has_body = has_body or length != 0
        elif name == b"transfer-encoding":
            has_body = True
        elif name == b"expect":
            expects_continue = value.lower() == b"100-continue"
    return _Declared(length, expects_continue) if has_body else None


class _GuardedBody:
    """One request's body reads, with the guard's slot it holds until the body is in."""

    def __init__(self, guard: BodyGuard, receive: Receive, send: Send, declared: _Declared):
        self._guard = guard
        self._receive = receive
        self._send = send
        self._declared = declared
        self._holds_slot = True
        self.complete = False
        self.received = 0
        self.response_started = False

    async def receive(self) -> Message:
        if self.complete:
            # After the body only a disconnect can come; waiting for it is not a stalled body.
            return await self._receive()
        try:
            async with asyncio.timeout(self._guard.idle_seconds):
                message = await self._receive()
        except TimeoutError:
            raise BodyStalled from None
        self.received += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.complete = True
            self.release()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.response_started:
            await self._drain()
            self.response_started = True
        await self._send(message)

    def release(self) -> None:
        if self._holds_slot:
            self._holds_slot = False
            self._guard.slots.taken -= 1

    def stalled_message(self) -> str:
        seconds = f"{self._guard.idle_seconds:g}"
        return f"no part of the request body arrived for {seconds} s; the request was abandoned"

    async def _drain(self) -> None:
        """Read and drop the unread rest of the body, so the client gets to read the answer."""
        if self.complete:
            return
        if self._declared.expects_continue and self.received == 0:
            # The client waits for "100 Continue" before sending: answering now, it never does.
            return
        length = self._declared.length
        if length is not None and length - self.received > DRAIN_LIMIT:
            return
        budget = DRAIN_LIMIT
        try:
            while not self.complete and budget > 0:
                budget -= len((await self.receive()).get("body", b""))
        except BodyStalled:
            # The answer goes out anyway; the server closes the connection after it.
            return


async def _answer(
    send: Send, status: int, error: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
