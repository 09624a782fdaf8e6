"""`/_blobs/`: the local store's answer to S3's signed URLs (GET, HEAD, PUT, DELETE, form POST).

Only requests signed by this app's `BlobSigner` get through; the signature binds the method,
the key, the expiry and, for uploads, the size (a form's also a type, and the status its
success answers; a PUT takes any Content-Type). Refusals come before any byte is stored: the
signature (and a form's type) are checked first, the size while the body streams. Errors
are S3's XML `<Error>` documents, so S3 client code reads them unchanged. Served only when
the object store is the local folder; with S3, clients talk to S3 itself.
"""

from __future__ import annotations

from functools import partial
from html import escape as _html_escape

from fastapi import Request, Response

from filedock.core.model import File
from filedock.core.signing import CheckedUpload
from filedock.faces import blobs_openapi as doc
from filedock.faces.context import CoreServices
from filedock.faces.downloads import SAFE_HEADERS, render_download
from filedock.faces.errors import Failure, face_router
from filedock.faces.form_upload import FormUpload
from filedock.faces.openapi import documented_as
from filedock.ports.presign import BLOBS_PATH, attachment_disposition

# XML text: `&`, `<` and `>` escaped (what `xml.sax.saxutils.escape` does), through `html`,
# which the app has loaded anyway: `xml.sax` cost the served process 0.2 MB of RSS for this.
escape = partial(_html_escape, quote=False)
# S3's error codes, by the status this face answers with.
_S3_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    409: "OperationAborted",
    416: "InvalidRange",
    503: "ServiceUnavailable",
}


def render_error(request: Request, failure: Failure) -> Response:
    status, code = failure.status, _S3_CODES.get(failure.status, "InternalError")
    # Over the size or not the signed type: the signature does not allow it, as with S3.
    if status in (413, 415):
        status, code = 403, "EntityTooLarge" if status == 413 else "AccessDenied"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(failure.message)}</Message>"
        f"<RequestId>{escape(str(getattr(request.state, 'request_id', '-')))}</RequestId>"
        "</Error>"
    )
    headers = {**SAFE_HEADERS, **failure.headers, "Content-Type": "application/xml"}
    return Response(body, status, headers=headers)


router = face_router(
    render_error,
    prefix=BLOBS_PATH.rstrip("/"),
    tags=["blobs: the local store's signed URLs"],
    **documented_as("blobs"),
)


@router.head(
    "/{key:path}",
    summary="A signed GET's headers",
    responses=doc.GET_OBJECT_HEAD,
    openapi_extra=doc.GET_EXTRA,
)
@router.get(
    "/{key:path}",
    summary="Download by a signed URL",
    responses=doc.GET_OBJECT,
    openapi_extra=doc.GET_EXTRA,
)
async def get_object(key: str, request: Request, core: CoreServices) -> Response:
    grant = core.grants.check_url("GET", key, request.query_params)
    download = await core.files.open_by_key(grant.key)
    response = await render_download(request, download, filename=download.file.filename or "file")
    if grant.download_name is not None:
        response.headers["Content-Disposition"] = attachment_disposition(grant.download_name)
    return response


@router.put(
    "/{key:path}",
    summary="Upload by a signed URL",
    responses=doc.PUT_OBJECT,
    openapi_extra=doc.PUT_EXTRA,
)
async def put_object(key: str, request: Request, core: CoreServices) -> Response:
    upload = core.grants.check_put(
        key,
        request.query_params,
        request.headers.get("content-type"),
        request.headers.get("content-length"),
    )
    await core.uploads.receive(upload.key, request.stream(), max_bytes=upload.max_bytes)
    return Response(status_code=200, headers=SAFE_HEADERS)


@router.delete(
    "/{key:path}",
    status_code=204,
    summary="Delete by a signed URL",
    responses=doc.DELETE_OBJECT,
    openapi_extra=doc.DELETE_EXTRA,
)
async def delete_object(key: str, request: Request, core: CoreServices) -> Response:
    grant = core.grants.check_url("DELETE", key, request.query_params)
    await core.uploads.remove_object(grant.key)
    return Response(status_code=204, headers=SAFE_HEADERS)


@router.post(
    "/",
    status_code=204,
    summary="Upload by a signed form",
    responses=doc.POST_FORM,
    openapi_extra=doc.FORM_EXTRA,
)
async def post_form(request: Request, core: CoreServices) -> Response:
    form = await FormUpload.open(request.headers.get("content-type"), request.stream())
    upload = core.grants.check_form(form.fields)
    file = await core.uploads.receive(upload.key, form.file_chunks(), max_bytes=upload.max_bytes)
    return render_form_success(upload, file)


def render_form_success(upload: CheckedUpload, file: File) -> Response:
    """S3's answer to a form post: its signed `success_action_status`, else 204 and no body;
    201 carries S3's `PostResponse` document. The bucket of `/_blobs/<key>` is `_blobs`."""
    location, etag = upload.location or "", f'"{file.sha256}"'
    headers = {**SAFE_HEADERS, "ETag": etag, "Location": location}
    if upload.success_status != "201":
        return Response(status_code=int(upload.success_status or 204), headers=headers)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<PostResponse><Location>{escape(location)}</Location>"
        f"<Bucket>{BLOBS_PATH.strip('/')}</Bucket><Key>{escape(upload.key)}</Key>"
        f"<ETag>{escape(etag)}</ETag></PostResponse>"
    )
    return Response(body, 201, headers={**headers, "Content-Type": "application/xml"})
