"""`/_blobs/`: the local store's answer to S3's signed URLs (GET, HEAD, PUT, DELETE, form POST).

Only requests signed by this app's `BlobSigner` get through; the signature binds the method,
the key, the expiry and, for uploads, the size and type. Refusals come before any byte is
stored: the signature and type are checked first, the size while the body streams. Errors
are S3's XML `<Error>` documents, so S3 client code reads them unchanged. Served only when
the object store is the local folder; with S3, clients talk to S3 itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from xml.sax.saxutils import escape

from fastapi import Request, Response

from filedock.core.errors import Forbidden, InvalidInput, NotFound, TooLarge
from filedock.faces.context import CurrentRuntime
from filedock.faces.downloads import SAFE_HEADERS, render_download
from filedock.faces.errors import Failure, face_router
from filedock.faces.form_upload import FormUpload
from filedock.ports.blob_signing import (
    BLOBS_PATH,
    BlobGrant,
    BlobSigner,
    MalformedSignedRequest,
    SignatureExpired,
    SignedRequestRefused,
)
from filedock.ports.presign import attachment_disposition
from filedock.runtime import Runtime

# S3's error codes, by the status this face answers with.
_S3_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "OperationAborted",
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


router = face_router(render_error, prefix=BLOBS_PATH.rstrip("/"), include_in_schema=False)


@router.api_route("/{key:path}", methods=["GET", "HEAD"])
async def get_object(key: str, request: Request, rt: CurrentRuntime) -> Response:
    grant = _verified(rt, "GET", key, request.query_params)
    download = await rt.files.open_by_key(grant.key)
    response = render_download(request, download, filename=download.file.filename or "file")
    if grant.download_name is not None:
        response.headers["Content-Disposition"] = attachment_disposition(grant.download_name)
    return response


@router.put("/{key:path}")
async def put_object(key: str, request: Request, rt: CurrentRuntime) -> Response:
    grant = _verified(rt, "PUT", key, request.query_params)
    _check_type(grant, request.headers.get("content-type"))
    max_bytes = _size_limit(grant)
    _check_declared_length(request, max_bytes)
    await rt.uploads.receive(grant.key, request.stream(), max_bytes=max_bytes)
    return Response(status_code=200, headers=SAFE_HEADERS)


@router.delete("/{key:path}")
async def delete_object(key: str, request: Request, rt: CurrentRuntime) -> Response:
    grant = _verified(rt, "DELETE", key, request.query_params)
    await rt.uploads.remove_object(grant.key)
    return Response(status_code=204, headers=SAFE_HEADERS)


@router.post("/")
async def post_form(request: Request, rt: CurrentRuntime) -> Response:
    signer = _signer(rt)
    form = await FormUpload.open(request.headers.get("content-type"), request.stream())
    grant = _checked(lambda: signer.verify_post(form.fields))
    await rt.uploads.receive(grant.key, form.file_chunks(), max_bytes=_size_limit(grant))
    return Response(status_code=201, headers=SAFE_HEADERS)


def _verified(rt: Runtime, method: str, key: str, query: Mapping[str, str]) -> BlobGrant:
    signer = _signer(rt)
    return _checked(lambda: signer.verify(method, key, query))


def _signer(rt: Runtime) -> BlobSigner:
    if rt.blob_signer is None:
        raise NotFound("this server's objects are not served here")
    return rt.blob_signer


def _checked(verify: Callable[[], BlobGrant]) -> BlobGrant:
    """Run a signature check, turning its refusal into the domain error the renderer knows."""
    try:
        return verify()
    except MalformedSignedRequest as exc:
        raise InvalidInput.one("signature", str(exc)) from None
    except SignatureExpired:
        raise Forbidden("Request has expired") from None
    except SignedRequestRefused:
        raise Forbidden("The request signature does not match this request") from None


def _check_type(grant: BlobGrant, content_type: str | None) -> None:
    if grant.content_type is not None and (content_type or "").strip() != grant.content_type:
        raise Forbidden(f"this URL only accepts Content-Type: {grant.content_type}")


def _size_limit(grant: BlobGrant) -> int:
    if grant.max_bytes is None:
        # Every upload URL we sign carries a limit; one without is not an upload URL.
        raise Forbidden("this signature does not allow an upload")
    return grant.max_bytes


def _check_declared_length(request: Request, max_bytes: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > max_bytes:
        raise TooLarge(max_bytes)
