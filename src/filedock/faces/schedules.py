"""The schedules face (seed 000): presigned document URLs and a schedule's documents.

`GET /api/v1/presigned-urls/?method_name=…` hands out a POST form for a new document
(`post_s3_object`), or a short-lived signed GET or DELETE of one (`get_s3_object`,
`delete_s3_object`). Callers authenticate with Cognito's `ACCESSTOKEN` and `IDTOKEN`
headers. Bodies and errors are JSON:API (`application/vnd.api+json`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from filedock.core.errors import InvalidInput
from filedock.core.model import File
from filedock.core.principal import Principal
from filedock.faces import schedules_openapi as doc
from filedock.faces.context import CoreServices, services
from filedock.faces.errors import Failure, face_router
from filedock.faces.openapi import documented_as

JSON_API = "application/vnd.api+json"
# The seed answers a store outage with 410 and this body, its "status" "404" included.
UNAVAILABLE = "Our file upload service is currently unavailable, please try again later"
METHODS = ("post_s3_object", "get_s3_object", "delete_s3_object")
# What the seed's server (Django REST framework) sends with every answer, errors included.
SEED_HEADERS = {"Vary": "Accept, Cookie, Origin", "X-Frame-Options": "SAMEORIGIN"}
ALLOW_PRESIGNED_URLS = "GET, HEAD, OPTIONS"
# The seed's DELETE answers "DELETE, OPTIONS"; here the same path also lists documents.
ALLOW_DOCUMENTS = "GET, DELETE, HEAD, OPTIONS"


def render_error(request: Request, failure: Failure) -> Response:
    status, detail, pointer = failure.status, failure.message, "/data"
    body_status = str(status)
    if status == 503:
        status, detail, body_status = 410, UNAVAILABLE, "404"
        pointer = "/data/attributes/detail"
    elif status == 404:
        detail, pointer = "Not found.", "/data/attributes/detail"
    elif status == 403:
        detail = "You do not have permission to perform this action."
    elif status >= 500:
        request_id = getattr(request.state, "request_id", "-")
        detail = f"A server error occurred (request id {request_id})."
    error = {"detail": detail, "source": {"pointer": pointer}, "status": body_status}
    body = {"errors": [error]}
    return seed_response(
        request, JSONResponse(body, status, headers=failure.headers, media_type=JSON_API)
    )


def seed_response(request: Request, response: Response) -> Response:
    """`response` with the seed's headers; to a HEAD, without its body (its length kept)."""
    response.headers.update(SEED_HEADERS)
    path = request.url.path
    if path == "/api/v1/presigned-urls/":
        response.headers["Allow"] = ALLOW_PRESIGNED_URLS
    elif path.startswith("/api/v1/schedules/") and path.endswith("/documents/"):
        response.headers["Allow"] = ALLOW_DOCUMENTS
    if request.method == "HEAD":
        response.body = b""
    return response


def cognito_principal(request: Request) -> Principal:
    """The caller both Cognito tokens name; a plain `def`: a JWKS URL may be fetched."""
    return services(request).cognito.verify(
        request.headers.get("accesstoken"), request.headers.get("idtoken")
    )


# Documented as security schemes (`ACCESSTOKEN`, `IDTOKEN`); checked by `cognito_principal`.
_TOKENS = doc.COGNITO
_PRESIGNED_QUERY: dict[str, Any] = {
    **_TOKENS,
    "parameters": [
        {
            "name": "method_name",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "enum": list(METHODS)},
        },
        *(
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in ("schedule", "filename", "document")
        ),
    ]
}

CognitoPrincipal = Annotated[Principal, Depends(cognito_principal)]
router = face_router(
    render_error, prefix="/api/v1", tags=["schedules: documents"], **documented_as("schedules")
)


@router.head(
    "/presigned-urls/",
    summary="Presigned URLs: headers only",
    responses=doc.PRESIGNED_URLS_HEAD,
    openapi_extra=_PRESIGNED_QUERY,
)
@router.get(
    "/presigned-urls/",
    summary="Presigned URLs",
    responses=doc.PRESIGNED_URLS,
    openapi_extra=_PRESIGNED_QUERY,
)
async def presigned_urls(
    request: Request, principal: CognitoPrincipal, core: CoreServices
) -> Response:
    query = request.query_params
    method = _required(query, "method_name")
    if method == "post_s3_object":
        if request.method == "HEAD":
            # A HEAD changes nothing; attaching records a document and claims its name.
            raise InvalidInput.one("method_name", "HEAD does not attach a document: use GET")
        attached = await core.schedules.attach(
            principal, _required(query, "schedule"), _required(query, "filename")
        )
        form = attached.form
        data: dict[str, Any] = {
            "id": attached.file.id,
            "slug": attached.file.filename,
            "delete": True,
            "presigned_data": {"url": form.url, "fields": form.fields},
        }
    elif method == "get_s3_object":
        data = {"url": (await core.schedules.read_url(principal, _required(query, "document"))).url}
    elif method == "delete_s3_object":
        signed = await core.schedules.delete_url(principal, _required(query, "document"))
        data = {"url": signed.url}
    else:
        raise InvalidInput.one("method_name", f"Unrecognized method: {method}")
    return seed_response(request, JSONResponse({"data": data}, media_type=JSON_API))


@router.head(
    "/schedules/{schedule}/documents/",
    summary="List documents: headers only",
    responses=doc.LIST_DOCUMENTS_HEAD,
    openapi_extra=_TOKENS,
)
@router.get(
    "/schedules/{schedule}/documents/",
    summary="List documents",
    responses=doc.LIST_DOCUMENTS,
    openapi_extra=_TOKENS,
)
async def list_documents(
    schedule: str, request: Request, principal: CognitoPrincipal, core: CoreServices
) -> Response:
    documents = await core.schedules.documents(principal, schedule)
    body = {"data": [render_document(d) for d in documents]}
    return seed_response(request, JSONResponse(body, media_type=JSON_API))


@router.delete(
    "/schedules/{schedule}/documents/",
    status_code=204,
    summary="Remove",
    responses=doc.REMOVE_DOCUMENT,
    openapi_extra=_TOKENS,
)
async def remove_document(
    schedule: str, request: Request, principal: CognitoPrincipal, core: CoreServices
) -> Response:
    document = _required(request.query_params, "document")
    await core.schedules.remove(principal, schedule, document)
    return seed_response(request, Response(status_code=204, media_type=JSON_API))


@router.options("/presigned-urls/", include_in_schema=False)
@router.options("/schedules/{schedule}/documents/", include_in_schema=False)
async def allowed_methods(request: Request) -> Response:
    # The seed's `Allow` names OPTIONS; a browser's preflight is answered before routing.
    return seed_response(request, Response(status_code=200, media_type=JSON_API))


def render_document(file: File) -> dict[str, Any]:
    return {
        "id": file.id,
        "slug": file.filename,
        "status": file.status.value,
        "content_type": file.content_type,
        "size": file.size,
        "created_at": file.created_at.isoformat(),
    }


def _required(query: QueryParams, name: str) -> str:
    value = query.get(name)
    if not value:
        raise InvalidInput.one(name, f"The '{name}' parameter is required")
    return value
