"""Exact-path dispatch for the busiest plain routes, ahead of FastAPI's router.

FastAPI 0.165 finds a request's route by trying each route of each included router in turn
(about 2 µs a route, with no short cut by prefix) and wraps every request in its exception,
exit-stack and request-response layers: for `GET /v1/files/signed-url` that was about a
fifth of the request's CPU (measured in-process, docs/benchmarks.md). A route declared with
`plain_route` (faces/errors.py) takes no path parameters and no dependencies and renders its
own failures in its face's envelope, so those layers do nothing for it; this layer, the
innermost of the middleware, hands its requests to it directly. Every other request goes on
to the router unchanged, and the routes stay declared and documented in their faces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send


class PlainlyHandled(Protocol):
    async def handle_plainly(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], PlainlyHandled]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Under a root path (a proxy's prefix) the router strips it first: left to it.
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.routes.get((scope["method"], scope["path"]))
            if route is not None:
                await route.handle_plainly(scope, receive, send)
                return
        await self.app(scope, receive, send)


def plain_routes(routes: Iterable[Any]) -> dict[tuple[str, str], PlainlyHandled]:
    """(method, path) of each plain route with a fixed path; the first declared wins, as in
    the router."""
    table: dict[tuple[str, str], PlainlyHandled] = {}
    for route in routes:
        if not hasattr(route, "handle_plainly") or "{" in route.path:
            continue
        for method in sorted(route.methods or ()):
            table.setdefault((method, route.path), route)
    return table
