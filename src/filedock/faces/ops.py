"""Operations: liveness, readiness (database and store answer) and Prometheus metrics."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from filedock.faces.context import CoreServices
from filedock.faces.errors import Failure, face_router
from filedock.observability import FILES, JOBS


def render_error(request: Request, failure: Failure) -> Response:
    return JSONResponse({"error": failure.message}, failure.status, headers=failure.headers)


router = face_router(render_error, tags=["operations"])

@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database and the object store answer")
async def readyz(core: CoreServices) -> JSONResponse:
    checks = await core.operations.readiness()
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request, core: CoreServices) -> Response:
    core.metrics_access.check(request.headers.get("authorization"))
    try:
        for status, count in (await core.operations.file_counts()).items():
            FILES.labels(status).set(count)
        for status, count in (await core.operations.job_counts()).items():
            JOBS.labels(status).set(count)
    except Exception:  # metrics from the process itself are still worth serving
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
