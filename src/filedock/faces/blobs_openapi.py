"""What `/_blobs/` (the local store's signed URLs) answers, for the OpenAPI document.

Clients do not build these requests: they follow URLs and forms the other faces hand out, whose
signature is their only credential. Errors are S3's XML `<Error><Code>…</Code><Message>…
</Message><RequestId>…</RequestId></Error>` (`blobs.render_error`), so S3 client code reads them.
"""

from __future__ import annotations

from typing import Any

from filedock.faces.openapi import (
    CONDITIONAL_RANGE,
    Answers,
    ErrorEnvelope,
    Schema,
    answer,
    head_of,
)

XML = "application/xml"
_S3_ERROR: Schema = {
    "type": "string",
    "description": "`<Error><Code>` InvalidRequest, AccessDenied, EntityTooLarge, NoSuchKey, "
    "RequestTimeout, OperationAborted, InvalidRange, ServiceUnavailable or InternalError "
    "`</Code><Message/><RequestId/></Error>`",
}
ERRORS = ErrorEnvelope(
    XML,
    lambda _: _S3_ERROR,
    {
        400: "`InvalidRequest`: a malformed URL or form, or an empty upload.",
        403: "`AccessDenied`: a wrong signature, an expired URL, another method or key; "
        "`EntityTooLarge`: a body over the signed size.",
        404: "`NoSuchKey`: no servable object at the key; or objects are not served here "
        "(an S3 store).",
        408: "`RequestTimeout`: the body stopped arriving.",
        409: "`OperationAborted`: the upload arrived already; or the object is not ready.",
        416: "`InvalidRange`: the Range starts past the end.",
        500: "`InternalError`",
        503: "`ServiceUnavailable`: the disk or the database is unavailable.",
    },
)


def _query(name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": {"type": "string"},
        "description": description,
    }


_EXPIRES = _query("expires", "Unix time the URL expires, as signed.")
_SIGNATURE = _query("signature", "HMAC-SHA256 of the method, key and the other parameters.")
_SIGNED_URL: Schema = {"parameters": [_EXPIRES, _SIGNATURE]}
GET_EXTRA: Schema = {
    "parameters": [
        _EXPIRES,
        _query("filename", "Save as this name (`attachment`).", required=False),
        _SIGNATURE,
        *CONDITIONAL_RANGE,
    ]
}
PUT_EXTRA: Schema = {
    "parameters": [
        _EXPIRES,
        _query("max_bytes", "The most bytes the upload may have."),
        _query("content_type", "The only Content-Type taken, if bound.", required=False),
        _SIGNATURE,
    ],
    "requestBody": {
        "required": True,
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
}
DELETE_EXTRA = _SIGNED_URL
FORM_EXTRA: Schema = {
    "requestBody": {
        "required": True,
        "description": "The fields of the form handed out (`key`, `policy`, "
        "`x-filedock-signature`, …), then the file, last.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["key", "policy", "x-filedock-signature", "file"],
                    "properties": {
                        "key": {"type": "string"},
                        "policy": {"type": "string"},
                        "x-filedock-signature": {"type": "string"},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    },
}

_BYTES: Schema = {"type": "string", "format": "binary"}
GET_OBJECT: Answers = {
    200: answer("The object's bytes, under its Content-Type.", _BYTES, "*/*"),
    206: answer("The one byte range asked for.", _BYTES, "*/*", {"Content-Range": "The range."}),
    304: answer("The object still has the ETag in If-None-Match."),
    **ERRORS(400, 403, 404, 409, 416, 500, 503),
}
GET_OBJECT_HEAD = head_of(GET_OBJECT)
PUT_OBJECT: Answers = {
    200: answer("Stored; processing follows."),
    **ERRORS(400, 403, 404, 408, 409, 500, 503),
}
DELETE_OBJECT: Answers = {
    204: answer("Removed."),
    **ERRORS(400, 403, 404, 500, 503),
}
POST_FORM: Answers = {
    201: answer(
        "`success_action_status` 201: S3's `<PostResponse>` (Location, Bucket, Key, ETag).",
        {"type": "string"},
        XML,
        {"Location": "The object's URL.", "ETag": "The quoted sha256 of the bytes."},
    ),
    200: answer("`success_action_status` 200: no body."),
    204: answer("Stored (S3's default answer): no body."),
    **ERRORS(400, 403, 404, 408, 409, 500, 503),
}
