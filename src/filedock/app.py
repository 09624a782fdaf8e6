"""The ASGI application: every face mounted on one runtime."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from filedock.body_guard import body_guard_layer
from filedock.config import Settings, load_settings
from filedock.faces import (
    api_docs,
    blobs,
    bucket_events,
    hasura,
    landing,
    openapi,
    ops,
    s3_command,
    schedule_participants,
    schedules,
    signed_url,
    unrouted,
    web_ui,
    web_ui_api,
)
from filedock.faces.cors import cross_origin_layers
from filedock.faces.cosphere import accounts as cosphere_accounts
from filedock.faces.cosphere import catalogue as cosphere_catalogue
from filedock.faces.cosphere import downloads as cosphere_downloads
from filedock.hot_routes import HotRoutes, HotTable, plain_routes
from filedock.observability import RequestContext, configure_logging
from filedock.public_redirects import PublicRedirects
from filedock.runtime import build_runtime

log = logging.getLogger("filedock.app")


def create_app(
    settings: Settings | None = None, *, migrate: bool = True, freeze_start_up: bool = False
) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            # Imported here: a served worker never migrates (`serve` did), so it need not
            # carry Alembic and Mako.
            from filedock.db.migrate import upgrade

            await asyncio.to_thread(upgrade, settings.resolved_database_url)
        runtime = build_runtime(settings)
        app.state.runtime = runtime
        # What the faces see: the core's services, never the runtime or its backends.
        app.state.services = runtime.services
        await runtime.clean_after_crash()
        if settings.worker:
            runtime.start_worker()
        if freeze_start_up:
            # What start-up made (modules, the runtime) lives as long as the process; frozen,
            # the cyclic collector stops walking it at every full collection: about 8 µs of
            # a signed-URL request's 80 (docs/benchmarks.md). The serving process only: a
            # test process building many apps would keep each one for good.
            gc.collect()
            gc.freeze()
        log.info("filedock started", extra={"storage": runtime.store.__class__.__name__})
        try:
            yield
        finally:
            await runtime.close()

    app = _Filedock(
        title="filedock",
        # The installed version, set when the document is first built (faces/openapi.py).
        version="0",
        description="Self-hosted file service speaking five existing file APIs on one core.",
        lifespan=lifespan,
        # filedock exports Prometheus metrics and JSON logs; FastAPI's OpenTelemetry hooks
        # would otherwise look up the global providers on every request (6 % of a signed-URL
        # request's CPU, measured).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # FastAPI's pages load their scripts from CDNs; faces/api_docs.py serves its own.
        docs_url=None,
        redoc_url=None,
    )
    # Routes match in this order: the busiest paths first.
    face_routers = (
        signed_url.router,
        blobs.router,
        hasura.router,
        s3_command.router,
        schedules.router,
        schedule_participants.router,
        cosphere_accounts.router,
        cosphere_catalogue.router,
        cosphere_downloads.router,
        ops.router,
        bucket_events.router,
        landing.router,
        web_ui_api.router,
        web_ui.router,
        api_docs.router,
    )
    for router in face_routers:
        app.include_router(router)
    api_docs.mount_assets(app)
    openapi.install(app)
    # Paths and methods no route serves answer in the envelope of the face they are under.
    app.add_exception_handler(StarletteHTTPException, unrouted.render_unrouted)
    app.add_exception_handler(Exception, _last_resort)
    # filedock's own layers, outermost first. RequestContext outside everything, so every
    # answer is logged and carries a request id; behind a proxy the server sees neither the
    # client's scheme nor its port (PublicRedirects); CORS inside them, so preflights are
    # logged; the body guard innermost, so its 408 and 503 are readable by browsers.
    redirects = Middleware(PublicRedirects, public_url=settings.public_url)
    layers = [
        Middleware(RequestContext),
        redirects,
        *cross_origin_layers(settings.cors_origin_list()),
        body_guard_layer(
            settings.body_idle_seconds,
            settings.max_concurrent_uploads,
            refusal=unrouted.render_refusal,
        ),
    ]
    for layer in reversed(layers):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    # Plain routes skip the rest (hot_routes.py): the same layers but PublicRedirects.
    app.hot_table = plain_routes(_routes_in_order(app))
    app.lane_layers = [layer for layer in layers if layer is not redirects]
    return app


class _Filedock(FastAPI):
    """FastAPI with hot_routes.py's `HotRoutes` in front of its whole stack."""

    hot_table = HotTable()
    lane_layers: Sequence[Middleware] = ()

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return HotRoutes(stack, self.hot_table, self.lane_layers, _last_resort)


def asgi() -> FastAPI:
    """Factory for ASGI servers (`granian --factory filedock.app:asgi`)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, migrate=False, freeze_start_up=True)


def _routes_in_order(app: FastAPI) -> list[Any]:
    """Every route, in the order the router tries them: included routers' routes in place
    (the faces' routers carry their prefix in each route's path), mounts and the app's own."""
    routes: list[Any] = []
    for route in app.router.routes:
        included = getattr(route, "original_router", None)
        routes.extend(included.routes if included is not None else [route])
    return routes


async def _last_resort(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    log.error("unhandled error outside a face", exc_info=exc)
    return JSONResponse({"error": f"internal server error (request id {request_id})"}, 500)
