"""What the signed-url face (seed 001, `/v1/files`) answers, for the OpenAPI document.

Errors are `{"error_code", "detail"}` with the seed's codes (`signed_url.render_error`); a rate
limit is `{"message": "Rate limit exceeded!"}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from filedock.core.model import FileStatus
from filedock.faces.openapi import Answers, ErrorEnvelope, Schema, answer, ref, secured

# The seed's codes: `signed_url._ERRORS` answers with these (a unit test holds them equal).
ErrorCode = Literal[
    "attachment_url_invalid",
    "unauthorized",
    "attachment_access_forbidden",
    "attachment_document_does_not_exist",
    "method_not_allowed",
    "request_timeout",
    "conflict",
    "attachment_document_raised_an_error",
    "attachment_document_not_reachable",
    "internal_server_error",
]


class FileLimits(BaseModel):
    allowed_types: list[str]
    max_size: int


class UploadTicket(BaseModel):
    """The seed's answer, and beyond it how to send the bytes."""

    expires_in: int = Field(description="Seconds the URL lives.")
    file_id: str = Field(description="A UUID.")
    file_limits: FileLimits
    file_url: str = Field(description="Send the file's bytes to this URL.")
    upload_method: str = Field(description="`PUT`")
    upload_headers: dict[str, str] = Field(description="Headers the URL requires: none.")


class UploadStatus(BaseModel):
    file_id: str
    status: FileStatus
    reason: str | None = Field(description="Why processing refused the file, once it has.")


class SignedUrlFile(BaseModel):
    file_id: str
    filename: str | None
    content_type: str
    detected_type: str | None
    size: int | None
    sha256: str | None
    status: FileStatus
    reason: str | None
    persist: bool
    created_at: datetime
    expires_at: datetime | None = Field(description="When a `persist=false` file goes.")


class FilePage(BaseModel):
    files: list[SignedUrlFile]
    next: str | None = Field(description="`after` for the next page; null on the last.")


class DownloadLink(BaseModel):
    file_id: str
    url: str = Field(description="A signed GET of the file, saved under its filename.")
    expires_in: int = Field(description="Seconds the link lives, as granted.")


class SignedUrlError(BaseModel):
    error_code: ErrorCode
    detail: str


class RateLimitExceeded(BaseModel):
    message: Literal["Rate limit exceeded!"]


def _error_schema(status: int) -> Schema:
    return ref(RateLimitExceeded if status == 429 else SignedUrlError)


ERRORS = ErrorEnvelope(
    "application/json",
    _error_schema,
    {
        400: "`attachment_url_invalid`: a bad query parameter, header or path (named in "
        "`detail`).",
        401: "`unauthorized`: `api-key` missing, unknown or revoked.",
        403: "`attachment_access_forbidden`: another user's file.",
        404: "`attachment_document_does_not_exist`: no such file (or deleted).",
        409: "`conflict`: the file is infected, has no bytes yet, or is still processing "
        "after the read wait.",
        422: "`attachment_document_raised_an_error`: processing refused the file (the reason "
        "is in `detail`); retrying will not help.",
        429: "More requests for this key and user than FILEDOCK_RATE_LIMIT_PER_SECOND allows.",
        500: "`internal_server_error`; the traceback is in the log with the request id.",
        503: "`attachment_document_not_reachable`: the object store or database is down.",
    },
)
# A back-end's key, and the end user it speaks for.
SECURITY = secured(["apiKey", "userId"])

REQUEST_UPLOAD_URL: Answers = {
    200: answer("A URL to send the file's bytes to, and its limits.", ref(UploadTicket)),
    **ERRORS(400, 401, 429, 500, 503),
}
FILE_STATUS: Answers = {
    200: answer("Where processing is: poll until `ready` or a refusal.", ref(UploadStatus)),
    **ERRORS(400, 401, 403, 404, 429, 500, 503),
}
FILE_METADATA: Answers = {
    200: answer("The file's record.", ref(SignedUrlFile)),
    **ERRORS(400, 401, 403, 404, 429, 500, 503),
}
DOWNLOAD_URL: Answers = {
    200: answer("A signed link to the ready file.", ref(DownloadLink)),
    **ERRORS(400, 401, 403, 404, 409, 422, 429, 500, 503),
}
LIST_FILES: Answers = {
    200: answer("A page of the caller's files, by id.", ref(FilePage)),
    **ERRORS(400, 401, 429, 500, 503),
}
DELETE_FILE: Answers = {
    204: answer("Deleted: the record and the object are gone."),
    **ERRORS(400, 401, 403, 404, 429, 500, 503),
}
