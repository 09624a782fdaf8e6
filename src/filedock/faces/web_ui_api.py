"""What the `/ui/` page calls: `/ui/api/`, a small JSON API over the same core calls as the
other faces, for a person holding a Bearer token of this installation (`filedock ui-link`).

The files are the Bearer realm's, so the same person sees them through the hasura face with
the same token. Errors are `{"error": message, "field": name or null}`.

- `GET /ui/api/me`: who the token names, and the upload limit.
- `POST /ui/api/uploads` `{"filename"}`: a pending file and the signed request for its bytes.
- `GET /ui/api/files?after=`: my files, a page at a time.
- `GET /ui/api/files/{id}`: one file (its processing status).
- `POST /ui/api/files/{id}/link` `{"expires_in"}`: a signed download link (share or save).
- `DELETE /ui/api/files/{id}`: delete.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from filedock.core.errors import InvalidInput
from filedock.core.model import File
from filedock.core.upload_policy import BROWSER_UI_POLICY
from filedock.faces.context import BearerPrincipal, CoreServices, bounded_body, parse_json
from filedock.faces.errors import Failure, face_router

API_PATH = "/ui/api"
_MAX_BODY = 4096


def render_error(request: Request, failure: Failure) -> Response:
    body = {"error": failure.message, "field": failure.field}
    return JSONResponse(body, failure.status, headers=failure.headers)


router = face_router(render_error, prefix=API_PATH, include_in_schema=False)


@router.get("/me")
async def me(user: BearerPrincipal, core: CoreServices) -> JSONResponse:
    policy = core.uploads.policy(BROWSER_UI_POLICY.name)
    return JSONResponse({"user_id": user.user_id, "role": user.role, "max_size": policy.max_bytes})


@router.post("/uploads", status_code=201)
async def start_upload(request: Request, user: BearerPrincipal, core: CoreServices) -> JSONResponse:
    filename = _field(await _json_object(request), "filename", str)
    policy = core.uploads.policy(BROWSER_UI_POLICY.name)
    ticket = await core.uploads.issue_upload_url(user, filename, True, policy)
    upload = ticket.request
    return JSONResponse(
        {
            "file": render_file(ticket.file),
            "upload": {"method": upload.method, "url": upload.url, "headers": upload.headers},
            "max_size": policy.max_bytes,
            "expires_in": ticket.expires_in,
        },
        201,
    )


@router.get("/files")
async def list_files(request: Request, user: BearerPrincipal, core: CoreServices) -> JSONResponse:
    page = await core.files.list_files(user, after=request.query_params.get("after") or None)
    return JSONResponse({"files": [render_file(file) for file in page.files], "next": page.next})


@router.get("/files/{file_id}")
async def read_file(file_id: str, user: BearerPrincipal, core: CoreServices) -> JSONResponse:
    return JSONResponse(render_file(await core.uploads.status(user, file_id)))


@router.post("/files/{file_id}/link")
async def link(
    file_id: str, request: Request, user: BearerPrincipal, core: CoreServices
) -> JSONResponse:
    expires_in = _field(await _json_object(request), "expires_in", int)
    issued = await core.files.issue_download_url(user, file_id, expires_in=expires_in)
    return JSONResponse({"url": issued.url, "expires_in": issued.expires_in})


@router.delete("/files/{file_id}", status_code=204)
async def delete_file(file_id: str, user: BearerPrincipal, core: CoreServices) -> Response:
    await core.files.delete(user, file_id)
    return Response(status_code=204)


def render_file(file: File) -> dict[str, Any]:
    return {
        "file_id": file.id,
        "filename": file.filename,
        "content_type": file.content_type,
        "size": file.size,
        "status": file.status.value,
        "reason": file.status_reason if file.status.is_terminal else None,
        "created_at": file.created_at.isoformat(),
    }


async def _json_object(request: Request) -> dict[str, Any]:
    value = parse_json(await bounded_body(request, _MAX_BODY))
    if not isinstance(value, dict):
        raise InvalidInput.one("body", "the body must be a JSON object")
    return value


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    # bool is an int to Python, never to a person typing a lifetime.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidInput.one(name, f"{name}: required, a {kind.__name__}")
    return value
