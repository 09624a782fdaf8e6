"""Operations: liveness, readiness (database, store and clamd answer) and Prometheus metrics."""

from __future__ import annotations

import contextlib

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from filedock.faces import ops_openapi as doc
from filedock.faces.context import CoreServices
from filedock.faces.errors import Failure, face_router
from filedock.metrics import record_counts
from filedock.observability import metrics_text


def render_error(request: Request, failure: Failure) -> Response:
    return JSONResponse({"error": failure.message}, failure.status, headers=failure.headers)


router = face_router(render_error, tags=["operations"])

@router.get(
    "/healthz",
    summary="The process is alive",
    operation_id="ops_healthz",
    response_model=None,
    responses=doc.HEALTHZ,
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


# Load balancers and uptime checkers probe with HEAD as often as with GET; FastAPI answers
# HEAD only where it is routed. Left out of the document: the GET operations describe them.
@router.head("/healthz", include_in_schema=False)
async def healthz_head() -> Response:
    return Response(status_code=200)


@router.get(
    "/readyz",
    summary="The database, the object store and clamd (if set) answer",
    operation_id="ops_readyz",
    response_class=Response,
    responses=doc.READYZ,
)
async def readyz(core: CoreServices) -> JSONResponse:
    checks = await core.operations.readiness()
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )


@router.head("/readyz", include_in_schema=False)
async def readyz_head(core: CoreServices) -> Response:
    response = await readyz(core)
    return Response(status_code=response.status_code)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="ops_metrics",
    response_class=Response,
    responses=doc.METRICS,
    openapi_extra=doc.METRICS_SECURITY,
)
async def metrics(request: Request, core: CoreServices) -> Response:
    core.metrics_access.check(request.headers.get("authorization"))
    operations = core.operations
    # With the database down, the metrics the processes hold are still worth serving.
    with contextlib.suppress(Exception):
        record_counts(
            await operations.file_counts(),
            await operations.job_counts(),
            await operations.queue_depth(),
        )
    return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)
