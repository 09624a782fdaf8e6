"""Direct dispatch for the busiest plain routes, in front of FastAPI's whole stack.

FastAPI 0.165 finds a request's route by trying each route of each included router in turn
(about 2 µs a route, with no short cut by prefix) and wraps every request in its exception,
exit-stack and request-response layers: for `GET /v1/files/signed-url` that was about a
fifth of the request's CPU, for a 1 KB `POST /v1/file/<id>` with its dependencies a third
(measured in-process, docs/benchmarks.md). A route declared with `plain_route`
(faces/errors.py) takes no dependencies, reads its own parameters and renders its own
failures in its face's envelope, so those layers do nothing for it.

`HotRoutes` is the app's outermost layer. A plain route's request goes down the *lane*: the
app's own layers that shape such a request's answer (request id, logs and metrics, CORS,
the body guard, in the order the app has them) and then the route, skipping Starlette's and
FastAPI's layers and `PublicRedirects` (a plain route never redirects). Those skipped layers
and the last-resort 500 the lane needs instead cost a signed-URL request about a quarter of
its in-process time (docs/benchmarks.md). Every other request goes down the app's full stack
unchanged, and the routes stay declared and documented in their faces.

A plain route with a fixed path is found by (method, path). One with path parameters
(`/v1/file/{file_id:path}`) is found by the fixed text before its first parameter, and only
if no other route taking that method could match a path starting so: then the router, in
whatever order it tries routes, could pick no other, and the route's own pattern decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

# The app's answer to an exception no layer answered (app.py's `_last_resort`).
LastResort = Callable[[Request, Exception], Awaitable[Response]]


class PlainlyHandled(Protocol):
    path: str

    async def handle_plainly(
        self, scope: Scope, receive: Receive, send: Send, path_params: dict[str, Any]
    ) -> None: ...


@dataclass(frozen=True)
class HotTable:
    """The plain routes answered directly: by exact path, and by the fixed start of a path."""

    exact: Mapping[tuple[str, str], PlainlyHandled] = field(default_factory=dict)
    # method -> ((fixed start, route), ...)
    by_start: Mapping[str, tuple[tuple[str, Any], ...]] = field(default_factory=dict)

    def find(self, method: str, path: str) -> tuple[PlainlyHandled, dict[str, Any]] | None:
        """The route for this request and its path parameters, or None: the router's."""
        route = self.exact.get((method, path))
        if route is not None:
            return route, {}
        for start, candidate in self.by_start.get(method, ()):
            if path.startswith(start):
                matched = candidate.path_regex.match(path)
                if matched is None:
                    return None
                convertors = candidate.param_convertors
                return candidate, {
                    name: convertors[name].convert(value)
                    for name, value in matched.groupdict().items()
                }
        return None


class HotRoutes:
    """The outermost layer: plain routes' requests down the lane, the rest down `app`."""

    def __init__(
        self,
        app: ASGIApp,
        routes: HotTable,
        lane_layers: Sequence[Middleware],
        last_resort: LastResort,
    ) -> None:
        self.app = app
        self.routes = routes
        self.last_resort = last_resort
        lane: ASGIApp = _answer_plainly
        for layer in reversed(lane_layers):
            lane = layer.cls(lane, *layer.args, **layer.kwargs)
        self.lane = lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Under a root path (a proxy's prefix) the router strips it first: left to it.
        if scope["type"] == "http" and not scope.get("root_path"):
            found = self.routes.find(scope["method"], scope["path"])
            if found is not None:
                scope["route"], scope["path_params"] = found
                try:
                    await self.lane(scope, receive, send)
                except Exception as exc:
                    # What Starlette's error layer does on the full stack: a 500 that says
                    # nothing (unless the answer had started), then on to the server's log.
                    with contextlib.suppress(Exception):
                        response = await self.last_resort(Request(scope), exc)
                        await response(scope, receive, send)
                    raise
                return
        await self.app(scope, receive, send)


async def _answer_plainly(scope: Scope, receive: Receive, send: Send) -> None:
    """The end of the lane: the route `HotRoutes` found, with its path parameters."""
    await scope["route"].handle_plainly(scope, receive, send, scope["path_params"])


def plain_routes(routes: Iterable[Any]) -> HotTable:
    """The table of the plain routes among `routes` (every route of the app, mounts too).

    A fixed path: the first declared wins, as in the router. A path with parameters: only
    when no other route taking one of its methods could match a path it matches.
    """
    every = list(routes)
    exact: dict[tuple[str, str], PlainlyHandled] = {}
    by_start: dict[str, list[tuple[str, Any]]] = {}
    for route in every:
        if not hasattr(route, "handle_plainly"):
            continue
        start = _fixed_start(route.path)
        for method in sorted(route.methods or ()):
            if start == route.path:
                exact.setdefault((method, route.path), route)
                continue
            others = (other for other in every if other is not route)
            if not any(_may_overlap(other, method, start) for other in others):
                by_start.setdefault(method, []).append((start, route))
    return HotTable(exact, {method: tuple(found) for method, found in by_start.items()})


def _fixed_start(path: str) -> str:
    """The text every matching path starts with: the path up to its first parameter."""
    return path.split("{", 1)[0]


def _may_overlap(other: Any, method: str, start: str) -> bool:
    """Whether `other` might match some `method` request whose path starts with `start`."""
    path = getattr(other, "path", None)
    if path is None:
        return True  # a route of unknown shape: assume the worst
    methods = getattr(other, "methods", None)
    if methods is not None and method not in methods:
        return False  # a mount (no methods) takes every method
    other_start = _fixed_start(path)
    return other_start.startswith(start) or start.startswith(other_start)
