"""Per-face error rendering: each face's routes catch errors once and render its own body.

FastAPI's exception handlers are app-wide, but each face answers in its seed's envelope, so a
face builds its router with `face_router(render)`; the route class wraps every endpoint of
that router (request validation included) and hands any exception to `render`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from filedock.core import errors
from filedock.observability import CLIENT_CLOSED_REQUEST, client_closed

log = logging.getLogger("filedock.errors")

Renderer = Callable[[Request, "Failure"], Response]


class RequestTimedOut(Exception):
    """The client stopped sending its request body (HTTP 408)."""


class MethodNotAllowed(Exception):
    """A path that exists, asked with a method it does not serve (HTTP 405)."""


class UnsatisfiableRange(Exception):
    """A `Range` header that selects no byte of the file (HTTP 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the range selects no byte of the {size}-byte file")
        self.size = size


class Failure:
    """What went wrong, in the terms every face needs: status, message, field, headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error: Exception,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.error = error
        self.field = field
        self.headers = headers or {}


def face_router(render: Renderer, **kwargs: Any) -> APIRouter:
    """An APIRouter whose every endpoint renders failures with `render`."""

    class FaceRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:
                    return _answer(request, exc, render)

            return guarded

    return APIRouter(route_class=FaceRoute, **kwargs)


def plain_route(render: Renderer) -> type[APIRoute]:
    """A route class that calls its endpoint with the bare `Request`, for hot paths.

    FastAPI's parameter and dependency machinery costs about a quarter of the CPU of a
    request as light as issuing a signed URL (measured, docs/benchmarks.md); an endpoint on
    such a path parses its own request instead. Its parameters are documented through
    `openapi_extra`, and failures render through `render` like every other route's; path
    parameters are in `request.path_params`. Such a route needs nothing of FastAPI's
    per-request layers, so `hot_routes.py` dispatches its requests straight to
    `handle_plainly`.
    """

    class PlainRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            endpoint = self.endpoint

            async def plain(request: Request) -> Response:
                try:
                    response: Response = await endpoint(request)
                    return response
                except Exception as exc:
                    return _answer(request, exc, render)

            return plain

        async def handle_plainly(
            self, scope: Scope, receive: Receive, send: Send, path_params: dict[str, Any]
        ) -> None:
            """Answer a request already known to be this route's (path and method), with the
            parameters its path held. `plain` above, inlined: a frame less a request."""
            scope["route"] = self
            scope["endpoint"] = self.endpoint
            scope["path_params"] = path_params
            request = Request(scope, receive, send)
            try:
                response: Response = await self.endpoint(request)
            except Exception as exc:
                response = _answer(request, exc, render)
            await response(scope, receive, send)

    return PlainRoute


def _answer(request: Request, exc: Exception, render: Renderer) -> Response:
    failure = describe_failure(request, exc)
    if failure.status == CLIENT_CLOSED_REQUEST:
        # Nobody is left to read an envelope: the status is for the access log and metrics.
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return render(request, failure)


def describe_failure(request: Request, exc: Exception) -> Failure:
    """Map any exception to a `Failure`; unknown ones become a 500 that leaks nothing."""
    match exc:
        case errors.InvalidInput():
            return Failure(400, exc.first_message, error=exc, field=exc.first_field)
        case RequestValidationError():
            field, message = _first_validation_error(exc)
            return Failure(400, message, error=exc, field=field)
        case errors.Unauthenticated():
            return Failure(401, exc.message, error=exc, headers={"WWW-Authenticate": "Bearer"})
        case errors.Forbidden():
            return Failure(403, exc.message, error=exc)
        case errors.NotFound():
            return Failure(404, exc.message, error=exc)
        case errors.Conflict():
            return Failure(409, exc.message, error=exc)
        case errors.Expired():
            return Failure(410, exc.message, error=exc)
        case errors.TooLarge():
            return Failure(413, exc.message, error=exc)
        case errors.UnsupportedType():
            return Failure(415, exc.message, error=exc)
        case UnsatisfiableRange():
            return Failure(
                416, str(exc), error=exc, headers={"Content-Range": f"bytes */{exc.size}"}
            )
        case errors.RateLimited():
            return Failure(
                429, exc.message, error=exc, headers={"Retry-After": str(exc.retry_after)}
            )
        case errors.Unavailable():
            log.warning("storage unavailable", exc_info=exc)
            return Failure(503, "storage is unavailable, try again later", error=exc)
        case ClientDisconnect():
            # The client hung up while its body was read (mid-upload): its doing, not ours.
            client_closed()
            return Failure(CLIENT_CLOSED_REQUEST, "the client closed the connection", error=exc)
    request_id = str(getattr(request.state, "request_id", "-"))
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return Failure(500, f"internal server error (request id {request_id})", error=exc)


def _first_validation_error(exc: RequestValidationError) -> tuple[str, str]:
    problems = exc.errors()
    if not problems:
        return "request", "the request is invalid"
    first = problems[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or "request"
    return field, f"{field}: {first.get('msg', 'invalid')}"
