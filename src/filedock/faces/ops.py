"""Operations: liveness, readiness (database and store answer) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from filedock.faces.context import CurrentRuntime
from filedock.observability import FILES, JOBS

router = APIRouter(tags=["operations"])

_CHECK_TIMEOUT_SECONDS = 5.0


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database and the object store answer")
async def readyz(rt: CurrentRuntime) -> JSONResponse:
    checks: dict[str, Any] = {
        "database": await _probe(rt.records.check()),
        "storage": await _probe(rt.store.check()),
    }
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(rt: CurrentRuntime) -> Response:
    try:
        for status, count in (await rt.records.count_by_status()).items():
            FILES.labels(status).set(count)
        for status, count in (await rt.jobs.counts()).items():
            JOBS.labels(status).set(count)
    except Exception:  # metrics from the process itself are still worth serving
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _probe(check: Any) -> str:
    try:
        await asyncio.wait_for(check, _CHECK_TIMEOUT_SECONDS)
    except Exception:
        return "unavailable"
    return "ok"
