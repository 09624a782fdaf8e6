"""Redirects filedock makes itself point at `FILEDOCK_PUBLIC_URL`.

Starlette builds the redirect that adds a path's trailing slash (`/ui` → `/ui/`) from the
scheme and `Host` the server sees. Behind a TLS proxy that is `http://` and, often, no port:
a client following it would send its `api-key` or Bearer token in clear to port 80. A
redirect to the server's own origin is rewritten to the public origin; others pass as sent.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class PublicRedirects:
    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        parts = urlsplit(public_url)
        self.public_origin = f"{parts.scheme}://{parts.netloc}".encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_public(message: Message) -> None:
            # Only a redirect carries a Location to rewrite: no other answer pays for this.
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                seen_origins = _seen_origins(scope)
                message["headers"] = [
                    (name, self._public(value, seen_origins) if name == b"location" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_public)

    def _public(self, location: bytes, seen_origins: tuple[bytes, ...]) -> bytes:
        for origin in seen_origins:
            if location == origin or location.startswith(origin + b"/"):
                return self.public_origin + location[len(origin) :]
        return location


def _seen_origins(scope: Scope) -> tuple[bytes, ...]:
    """The origins a URL built from this request may start with (Host as sent, and the
    server's own address when there is no Host)."""
    scheme = str(scope.get("scheme", "http")).encode("latin-1")
    origins = []
    for name, value in scope["headers"]:
        if name == b"host":
            origins.append(scheme + b"://" + value)
    server = scope.get("server")
    if server:
        host, port = server
        origins.append(scheme + b"://" + f"{host}:{port}".encode("latin-1"))
    return tuple(origins)
