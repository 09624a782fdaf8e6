"""What the hasura face (seed 004, `/v1/file/<file_id>`) answers, for the OpenAPI document.

Errors: 400 `{"path", "error"}`, every other status `{"error"}` (`hasura.render_error`).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from filedock.core.model import FileStatus
from filedock.faces.openapi import (
    CONDITIONAL_RANGE,
    Answers,
    ErrorEnvelope,
    Schema,
    answer,
    head_of,
    ref,
    secured,
)


class HasuraFile(BaseModel):
    """A file as the seed renders it after an upload or a delete."""

    file_id: str
    content_type: str
    file_status: FileStatus
    file_size: int | None
    user_id: int | str = Field(description="A number when the caller's id is decimal digits.")
    user_role: str
    created_at: datetime


class HasuraError(BaseModel):
    error: str


class HasuraBadRequest(BaseModel):
    path: str = Field(description="The refused part of the request: `$.file_id`, `$.body`, …")
    error: str


def _error_schema(status: int) -> Schema:
    return ref(HasuraBadRequest if status == 400 else HasuraError)


ERRORS = ErrorEnvelope(
    "application/json",
    _error_schema,
    {
        400: "A malformed file id, Content-Type or Content-Length, or an empty body.",
        401: "No valid Bearer token (or trusted gateway headers).",
        403: "Another user's file of the caller's realm.",
        404: "No such file (or another realm's); or an id no route takes (a line break in it).",
        408: "The body stopped arriving (FILEDOCK_BODY_IDLE_SECONDS).",
        409: "The id is taken; or the file is not ready after the read wait, or infected.",
        413: "The body is over FILEDOCK_MAX_UPLOAD_BYTES; nothing is kept.",
        416: "The Range starts past the end of the file.",
        500: "An unexpected error; the request id is in the message and the log.",
        503: "The object store or the database is unreachable, or too many uploads are read "
        "at once (with Retry-After); try again later.",
    },
)
# A Bearer token, or a trusted gateway naming the caller.
SECURITY = secured(["bearer"], ["hasuraGateway"])
DOWNLOAD_EXTRA: Schema = {**SECURITY, "parameters": CONDITIONAL_RANGE}

_FILE = ref(HasuraFile)
_BYTES: Schema = {"type": "string", "format": "binary"}
_DOWNLOAD_HEADERS = {
    "ETag": "The file's sha256, quoted.",
    "Last-Modified": "When the file last changed.",
    "Content-Disposition": "`inline` or `attachment` (HTML, SVG, XML, scripts), with the id.",
    "Accept-Ranges": "`bytes`",
}

UPLOAD_FILE: Answers = {
    200: answer("Stored; processing follows (`file_status` `uploaded`).", _FILE),
    **ERRORS(400, 401, 404, 408, 409, 413, 500, 503),
}
DOWNLOAD_FILE: Answers = {
    200: answer("The file's bytes, under its own Content-Type.", _BYTES, "*/*", _DOWNLOAD_HEADERS),
    206: answer(
        "The one byte range asked for.",
        _BYTES,
        "*/*",
        {**_DOWNLOAD_HEADERS, "Content-Range": "`bytes <first>-<last>/<size>`"},
    ),
    304: answer("The file still has the ETag in If-None-Match.", headers={"ETag": "As above."}),
    **ERRORS(400, 401, 403, 404, 409, 416, 500, 503),
}
DOWNLOAD_FILE_HEAD = head_of(DOWNLOAD_FILE)
DELETE_FILE: Answers = {
    200: answer("Deleted; the file as it was (its status before the delete).", _FILE),
    **ERRORS(400, 401, 403, 404, 500, 503),
}
