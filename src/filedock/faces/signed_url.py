"""The signed-url face (seed 001): upload straight to storage, poll, then use the file.

A trusted back-end calls with its `api-key` and names its end user in `user-id` (a UUID);
that user sees only their own files. Errors are `{"error_code", "detail"}` with the seed's
codes and details; rate limiting answers `{"message": "Rate limit exceeded!"}`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from filedock.core.errors import InvalidInput, ProcessingRefused
from filedock.core.files import DEFAULT_PAGE
from filedock.core.model import File
from filedock.core.principal import Principal
from filedock.core.services import Services
from filedock.faces import signed_url_openapi as doc
from filedock.faces.answers import JSONAnswer
from filedock.faces.context import CoreServices, header, query_values, services
from filedock.faces.errors import Failure, face_router, plain_route
from filedock.faces.openapi import documented_as

# The seed's codes and details, by the status this face answers with.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("attachment_url_invalid", "The provided base_url is not valid."),
    401: ("unauthorized", "Missing or invalid API key"),
    403: ("attachment_access_forbidden", "You do not have permission to access this attachment."),
    404: (
        "attachment_document_does_not_exist",
        "Document with `file_id` is not available for the user with `user_id` on the document"
        " server.",
    ),
    405: ("method_not_allowed", "This method is not allowed on this path."),
    408: ("request_timeout", "The request body stopped arriving; send it again."),
    409: ("conflict", "Conflict - File is infected with a virus or it's still being processed"),
    422: (
        "attachment_document_raised_an_error",
        "The file attachment service has raised an error. Please try again later",
    ),
    503: (
        "attachment_document_not_reachable",
        "The file attachment service does not respond as expected. Please try again later.",
    ),
    500: ("internal_server_error", "Internal Server Error"),
}
USER_ID_HEADER = b"user-id"


def render_error(request: Request, failure: Failure) -> Response:
    if failure.status == 429:
        return JSONResponse({"message": "Rate limit exceeded!"}, 429, headers=failure.headers)
    status = failure.status
    if isinstance(failure.error, ProcessingRefused):
        status = 422  # refused by processing: waiting will not help, unlike a 409
    elif status in (413, 415):
        status = 400  # a filename whose type this upload path does not take
    elif status not in _ERRORS:
        status = 500
    code, detail = _ERRORS[status]
    # Bad input says what was wrong (the seed's one line does not); a 500 says nothing more.
    if status == 400:
        detail = f"{detail} {failure.message}"
    elif status == 422:
        detail = f"{detail}: {failure.message}"
    return JSONResponse({"error_code": code, "detail": detail}, status, headers=failure.headers)


async def end_user(request: Request) -> Principal:
    """The end user named by `user-id`, on behalf of the back-end holding `api-key`."""
    return await _authenticated(request, services(request))


async def _authenticated(request: Request, core: Services) -> Principal:
    return await core.api_users.authenticate(
        header(request, b"api-key"), header(request, USER_ID_HEADER)
    )


EndUser = Annotated[Principal, Depends(end_user)]
# Documented as security schemes (`api-key`, `user-id`); read and checked by `end_user`.
_AUTH_HEADERS = doc.SECURITY

_UPLOAD_URL_QUERY: list[dict[str, Any]] = [
    {
        "name": "filename",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 1024},
        "description": "File name including its extension (e.g. report.pdf).",
    },
    {
        "name": "persist",
        "in": "query",
        "required": False,
        "schema": {"type": "boolean", "default": True},
        "description": "If true (default), the file is kept; if false, removed after 24 h.",
    },
]
# What FastAPI accepts as a boolean query value, so `persist` reads as it did before.
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})

router = face_router(
    render_error, prefix="/v1/files", tags=["signed-url: files"], **documented_as("signed_url")
)


async def request_upload_url(request: Request) -> Response:
    # Every upload starts here, so it skips FastAPI's parameter machinery (`plain_route`).
    core = services(request)
    user = await _authenticated(request, core)
    filename, persist = _upload_url_query(query_values(request))
    ticket = await core.uploads.issue_upload_url(
        user, filename, persist, core.uploads.policy("signed-url")
    )
    return JSONAnswer(
        {
            "expires_in": ticket.expires_in,
            "file_id": ticket.file_id,
            "file_limits": {
                "allowed_types": list(ticket.policy.allowed_types),
                "max_size": ticket.policy.max_bytes,
            },
            "file_url": ticket.request.url,
            # Beyond the seed: the headers the URL requires (none: any Content-Type is taken).
            "upload_method": ticket.request.method,
            "upload_headers": ticket.request.headers,
        }
    )


router.add_api_route(
    "/signed-url",
    request_upload_url,
    methods=["GET"],
    summary="Request an upload URL",
    route_class_override=plain_route(render_error),
    responses=doc.REQUEST_UPLOAD_URL,
    openapi_extra={**_AUTH_HEADERS, "parameters": _UPLOAD_URL_QUERY},
)


@router.get(
    "/{file_id}/status",
    summary="Processing status",
    responses=doc.FILE_STATUS,
    openapi_extra=_AUTH_HEADERS,
)
async def file_status(file_id: uuid.UUID, user: EndUser, core: CoreServices) -> JSONResponse:
    file = await core.uploads.status(user, str(file_id))
    return JSONResponse({"file_id": file.id, "status": file.status.value, "reason": _reason(file)})


@router.get(
    "/{file_id}", summary="File metadata", responses=doc.FILE_METADATA, openapi_extra=_AUTH_HEADERS
)
async def file_metadata(file_id: uuid.UUID, user: EndUser, core: CoreServices) -> JSONResponse:
    file = await core.uploads.status(user, str(file_id))
    return JSONResponse(render_file(file))


@router.get(
    "/{file_id}/download-url",
    summary="Download URL",
    responses=doc.DOWNLOAD_URL,
    openapi_extra=_AUTH_HEADERS,
)
async def download_url(
    file_id: uuid.UUID,
    user: EndUser,
    core: CoreServices,
    expires_in: Annotated[
        int | None,
        Query(description="Seconds the link lives: 1 to 604800 (7 days); default 300."),
    ] = None,
) -> JSONResponse:
    link = await core.files.issue_download_url(user, str(file_id), expires_in=expires_in)
    return JSONResponse({"file_id": str(file_id), "url": link.url, "expires_in": link.expires_in})


@router.get(
    "/",
    summary="The caller's files, by id",
    responses=doc.LIST_FILES,
    openapi_extra=_AUTH_HEADERS,
)
async def list_files(
    user: EndUser,
    core: CoreServices,
    limit: Annotated[int, Query(description="Files per page: 1 to 200.")] = DEFAULT_PAGE,
    after: Annotated[
        str | None, Query(description="The `next` of the previous page: files after this id.")
    ] = None,
) -> JSONResponse:
    page = await core.files.list_files(user, after=after, limit=limit)
    return JSONResponse({"files": [render_file(file) for file in page.files], "next": page.next})


@router.delete(
    "/{file_id}",
    status_code=204,
    summary="Delete a file",
    responses=doc.DELETE_FILE,
    openapi_extra=_AUTH_HEADERS,
)
async def delete_file(file_id: uuid.UUID, user: EndUser, core: CoreServices) -> Response:
    await core.files.delete(user, str(file_id))
    return Response(status_code=204)


def _upload_url_query(query: dict[str, str]) -> tuple[str, bool]:
    filename = query.get("filename")
    if not filename:
        raise InvalidInput.one("filename", "filename: the query parameter is required")
    if len(filename) > 1024:
        raise InvalidInput.one("filename", "filename: at most 1024 characters")
    persist = query.get("persist", "true").strip().lower()
    if persist not in _TRUE | _FALSE:
        raise InvalidInput.one("persist", "persist: must be a boolean (true or false)")
    return filename, persist in _TRUE


def render_file(file: File) -> dict[str, Any]:
    return {
        "file_id": file.id,
        "filename": file.filename,
        "content_type": file.content_type,
        "detected_type": file.detected_type,
        "size": file.size,
        "sha256": file.sha256,
        "status": file.status.value,
        "reason": _reason(file),
        "persist": file.persist,
        "created_at": file.created_at.isoformat(),
        "expires_at": file.expires_at.isoformat() if file.expires_at else None,
    }


def _reason(file: File) -> str | None:
    return file.status_reason if file.status.is_terminal else None
