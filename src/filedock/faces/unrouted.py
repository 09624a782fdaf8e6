"""Paths and methods no route serves, answered in the envelope of the face whose prefix they
are under, so a client of any seed always gets its own error shape (a cosphere client its
`@event`, an S3 client its XML), never the framework's `{"detail": "Not Found"}`."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Scope

from filedock.core.errors import NotFound, Unavailable
from filedock.faces import (
    blobs,
    bucket_events,
    hasura,
    s3_command,
    schedules,
    signed_url,
    web_ui_api,
)
from filedock.faces.cosphere import envelope
from filedock.faces.errors import Failure, MethodNotAllowed, Renderer, RequestTimedOut
from filedock.ports.presign import BLOBS_PATH

_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# By path prefix; a prefix matches itself and what lies under it, segment-wise.
_FACES: tuple[tuple[str, Renderer], ...] = (
    ("/v1/files", signed_url.render_error),
    ("/v1/file", hasura.render_error),
    ("/api/v2/s3", s3_command.render_error),
    ("/api/v1", schedules.render_error),
    ("/accounts", envelope.render_error),
    ("/catalogue", envelope.render_error),
    ("/downloader", envelope.render_error),
    (BLOBS_PATH.rstrip("/"), blobs.render_error),
    ("/_hooks", bucket_events.render_error),
    (web_ui_api.API_PATH, web_ui_api.render_error),
)


async def render_unrouted(request: Request, exc: Exception) -> Response:
    """The app's handler for routing's 404 and 405: the face's envelope where there is one."""
    assert isinstance(exc, HTTPException)
    render = _face_of(request.url.path)
    if render is None or exc.status_code not in (404, 405):
        return await http_exception_handler(request, exc)
    error: Exception
    if exc.status_code == 404:
        error = NotFound(f"nothing is served at {request.url.path[:200]}")
    else:
        error = MethodNotAllowed(f"{request.method} is not allowed here")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_served_methods(request))
    failure = Failure(exc.status_code, str(error), error=error, headers=headers)
    return render(request, failure)


def render_refusal(
    scope: Scope, status: int, message: str, headers: dict[str, str]
) -> Response | None:
    """A refusal made before routing (the body guard's 408 and 503) in the face's envelope."""
    render = _face_of(scope["path"])
    if render is None:
        return None
    error = Unavailable(message) if status == 503 else RequestTimedOut(message)
    return render(Request(scope), Failure(status, message, error=error, headers=headers))


def _served_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. The router's own `Allow` names only the
    first route that matched the path, and a path is often served by several (GET and HEAD
    are separate routes, with operation ids of their own)."""
    routes = request.app.router.routes

    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    return [method for method in _METHODS if served(method)]


def _face_of(path: str) -> Renderer | None:
    for prefix, render in _FACES:
        if path == prefix or path.startswith(prefix + "/"):
            return render
    return None
