"""Browsers on other origins (CORS): preflights answered, responses readable, per face.

A web app served from another origin may call a face, and upload to or read from a signed
`/_blobs/` URL, when its origin is in `FILEDOCK_CORS_ORIGINS`. This pure ASGI middleware sits
in front of the faces and:

- answers a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) itself,
  before routing: no credentials are asked for and nothing is read from the database. An
  allowed origin gets the methods and request headers of the face the path is under; any
  other origin gets 403 without them, so the browser refuses the request it was asking about;
- adds `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` to every other
  response of a face to an allowed origin, and `Vary: Origin` to every face response, so no
  cache hands one origin's answer to another.

`*` allows any origin, answered with `Access-Control-Allow-Origin: *`. No face uses cookies,
so `Access-Control-Allow-Credentials` is never sent; tokens travel in headers the preflight
allows (`Authorization`, `api-key`, `ACCESSTOKEN`, …). Paths under no face (`/healthz`,
`/metrics`, `/_hooks/`) are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filedock.ports.presign import BLOBS_PATH


@dataclass(frozen=True, slots=True)
class FaceAccess:
    """What a browser may send to the paths under `prefix`."""

    prefix: str
    methods: tuple[str, ...]
    headers: tuple[str, ...]


_AUTHORIZED_JSON = ("Authorization", "Content-Type")
_DOWNLOAD = ("Range", "If-None-Match", "If-Range")
# The first prefix a path starts with decides: "/v1/files/" before "/v1/file/".
FACES: tuple[FaceAccess, ...] = (
    FaceAccess("/v1/files/", ("GET", "DELETE"), ("api-key", "user-id")),
    FaceAccess(BLOBS_PATH, ("GET", "HEAD", "PUT", "POST", "DELETE"), ("Content-Type", *_DOWNLOAD)),
    FaceAccess("/v1/file/", ("GET", "HEAD", "POST", "DELETE"), (*_AUTHORIZED_JSON, *_DOWNLOAD)),
    FaceAccess("/api/v2/s3/", ("POST",), _AUTHORIZED_JSON),
    # Seed 000's clients send Content-Type even on a GET.
    FaceAccess("/api/v1/", ("GET", "HEAD", "DELETE"), ("ACCESSTOKEN", "IDTOKEN", "Content-Type")),
    FaceAccess("/accounts/", ("GET", "POST"), _AUTHORIZED_JSON),
    FaceAccess("/catalogue/", ("GET", "POST", "PUT", "DELETE"), _AUTHORIZED_JSON),
    FaceAccess("/downloader/", ("GET", "POST", "DELETE"), _AUTHORIZED_JSON),
)
# Response headers a page's script may read beyond the safelisted ones.
EXPOSED_HEADERS = (
    "ETag",
    "Content-Length",
    "Content-Range",
    "Location",
    "Accept-Ranges",
    "Content-Disposition",
    "Retry-After",
    "X-Request-Id",
)
# How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
PREFLIGHT_MAX_AGE = 600
ANY_ORIGIN = "*"


def cross_origin_layers(origins: Sequence[str]) -> list[Middleware]:
    """The layer serving browsers on `origins` (`("*",)`: any); with none, no layer."""
    return [Middleware(CrossOrigin, origins=tuple(origins))] if origins else []


class CrossOrigin:
    """The middleware; `origins` exactly as browsers send `Origin`, or `("*",)`."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.any_origin = ANY_ORIGIN in origins
        self.origins = frozenset(origins)
        self._exposed = ", ".join(EXPOSED_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        face = _face_of(scope["path"]) if scope["type"] == "http" else None
        if face is None:
            await self.app(scope, receive, send)
            return
        origin = preflight_method = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                preflight_method = value
        allowed = origin is not None and (self.any_origin or origin in self.origins)
        if scope["method"] == "OPTIONS" and origin is not None and preflight_method is not None:
            await self._answer_preflight(face, origin if allowed else None, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                _vary_on_origin(headers)
                if allowed and origin is not None:
                    headers["Access-Control-Allow-Origin"] = self._allow_origin(origin)
                    headers["Access-Control-Expose-Headers"] = self._exposed
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _answer_preflight(self, face: FaceAccess, origin: str | None, send: Send) -> None:
        headers = [(b"vary", b"Origin")]
        if origin is None:
            body = b"this origin may not call filedock from a browser (FILEDOCK_CORS_ORIGINS)"
            headers += [(b"content-type", b"text/plain; charset=utf-8")]
            status = 403
        else:
            # The face's whole lists, whatever was asked: the browser then names exactly what
            # it refused (a method or header) in its console.
            body, status = b"", 204
            headers += [
                (b"access-control-allow-origin", self._allow_origin(origin).encode("latin-1")),
                (b"access-control-allow-methods", ", ".join(face.methods).encode()),
                (b"access-control-allow-headers", ", ".join(face.headers).encode()),
                (b"access-control-max-age", str(PREFLIGHT_MAX_AGE).encode()),
            ]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _allow_origin(self, origin: str) -> str:
        return ANY_ORIGIN if self.any_origin else origin


def _face_of(path: str) -> FaceAccess | None:
    for face in FACES:
        if path.startswith(face.prefix):
            return face
    return None


def _vary_on_origin(headers: MutableHeaders) -> None:
    # Merged into what the face varies on (seed 000 sends `Vary: Accept, Cookie, Origin`).
    present = [part.strip() for part in headers.get("vary", "").split(",") if part.strip()]
    if not any(part.lower() == "origin" or part == "*" for part in present):
        headers["Vary"] = ", ".join([*present, "Origin"])
