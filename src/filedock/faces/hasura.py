"""The Hasura-style file face (seed 004): `POST`, `GET` and `DELETE /v1/file/<file_id>`.

Errors: 400 `{"path", "error"}`; every other status `{"error"}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse

from filedock.core.errors import InvalidInput
from filedock.core.model import File, FileStatus
from filedock.core.principal import Principal
from filedock.faces import hasura_openapi as doc
from filedock.faces.answers import JSONAnswer
from filedock.faces.context import CoreServices, services
from filedock.faces.downloads import render_download
from filedock.faces.errors import Failure, face_router, plain_route
from filedock.faces.openapi import documented_as


def render_error(request: Request, failure: Failure) -> Response:
    body: dict[str, Any] = {"error": failure.message}
    if failure.status == 400:
        body = {"path": f"$.{failure.field or 'request'}", "error": failure.message}
    return JSONResponse(body, failure.status, headers=failure.headers)


router = face_router(
    render_error, prefix="/v1/file", tags=["hasura: files"], **documented_as("hasura")
)


async def hasura_principal(request: Request) -> Principal:
    """The caller: a Bearer token, or a trusted gateway's `X-Hasura-*` headers."""
    # async on purpose: FastAPI runs a plain `def` dependency in a thread, a hop per request
    # (on a busy machine, a wait for a core); checking an HS256 token takes microseconds.
    return services(request).hasura_callers.authenticate(request.headers)


HasuraPrincipal = Annotated[Principal, Depends(hasura_principal)]

# What FastAPI documents for a `file_id: str` path parameter (a plain route declares none).
_FILE_ID_PARAMETER: dict[str, Any] = {
    "name": "file_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "title": "File Id"},
}
_FILE_BODY: dict[str, Any] = {
    **doc.SECURITY,
    "requestBody": {
        "required": True,
        "description": "The file's bytes; Content-Type is the file's MIME type.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
}


async def upload_file(request: Request) -> Response:
    # Every small attachment comes here, so it skips FastAPI's parameter machinery
    # (`plain_route`): it reads its caller and path itself.
    principal = await hasura_principal(request)
    file = await services(request).files.upload(
        principal,
        request.path_params["file_id"],
        request.headers.get("content-type"),
        request.stream(),
        declared_length=_content_length(request),
    )
    # Seed 004 answers an upload `uploaded`; a small file may be `ready` already (decided on
    # arrival), which the delete's answer shows.
    return JSONAnswer(render_file(file, status=FileStatus.UPLOADED))


router.add_api_route(
    "/{file_id:path}",
    upload_file,
    methods=["POST"],
    summary="Upload a file",
    route_class_override=plain_route(render_error),
    responses=doc.UPLOAD_FILE,
    openapi_extra={**_FILE_BODY, "parameters": [_FILE_ID_PARAMETER]},
)


@router.head(
    "/{file_id:path}",
    summary="A file's headers",
    responses=doc.DOWNLOAD_FILE_HEAD,
    openapi_extra=doc.DOWNLOAD_EXTRA,
)
@router.get(
    "/{file_id:path}",
    summary="Download a file",
    responses=doc.DOWNLOAD_FILE,
    openapi_extra=doc.DOWNLOAD_EXTRA,
)
async def download_file(
    file_id: str, request: Request, principal: HasuraPrincipal, core: CoreServices
) -> Response:
    download = await core.files.open_download(principal, file_id)
    return await render_download(request, download, filename=download.file.id)


@router.delete(
    "/{file_id:path}",
    summary="Delete a file",
    responses=doc.DELETE_FILE,
    openapi_extra=doc.SECURITY,
)
async def delete_file(file_id: str, principal: HasuraPrincipal, core: CoreServices) -> JSONResponse:
    file = await core.files.delete(principal, file_id)
    return JSONResponse(render_file(file))


def render_file(file: File, status: FileStatus | None = None) -> dict[str, Any]:
    return {
        "file_id": file.id,
        "content_type": file.content_type,
        "file_status": (status or file.status).value,
        "file_size": file.size,
        # Hasura's user ids are integers; ours are strings, numeric ones are sent as numbers.
        # The seed's ids are numbers; ours are strings: a plain decimal id keeps the seed's type.
        "user_id": int(file.owner_id) if _is_small_number(file.owner_id) else file.owner_id,
        "user_role": file.owner_role,
        "created_at": file.created_at.isoformat(),
    }


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdecimal():
        raise InvalidInput.one("content-length", "Content-Length must be a whole number")
    return int(raw)


def _is_small_number(text: str) -> bool:
    return text.isascii() and text.isdecimal() and len(text) <= 18
