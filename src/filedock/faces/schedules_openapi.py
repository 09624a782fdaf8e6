"""What the schedules face (seed 000, `/api/v1/`) answers, for the OpenAPI document.

Bodies and errors are JSON:API, `application/vnd.api+json`: errors are `{"errors": [{"detail",
"source": {"pointer"}, "status"}]}` (`schedules.render_error`), and a store outage is the seed's
410 whose body says "404".
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from filedock.core.model import FileStatus
from filedock.faces.openapi import Answers, ErrorEnvelope, answer, head_of, ref, secured

JSON_API = "application/vnd.api+json"


class PresignedForm(BaseModel):
    url: str
    fields: dict[str, str] = Field(description="Post these, then the file as `file`.")


class AttachedDocument(BaseModel):
    """`post_s3_object`: the new document and the form that uploads it."""

    id: str
    slug: str = Field(description="The filename.")
    delete: Literal[True]
    presigned_data: PresignedForm


class SignedDocumentUrl(BaseModel):
    """`get_s3_object` / `delete_s3_object`: a short-lived signed GET or DELETE."""

    url: str


class PresignedUrl(BaseModel):
    data: AttachedDocument | SignedDocumentUrl


class ScheduleDocument(BaseModel):
    id: str
    slug: str | None = Field(description="The filename.")
    status: FileStatus
    content_type: str
    size: int | None
    created_at: datetime


class ScheduleDocuments(BaseModel):
    data: list[ScheduleDocument]


class DeclaredParticipants(BaseModel):
    schedule: str
    participants: list[str] = Field(description="Cognito subjects, sorted.")


class ScheduleParticipants(BaseModel):
    data: DeclaredParticipants


class JsonApiErrorSource(BaseModel):
    pointer: str


class JsonApiError(BaseModel):
    detail: str
    source: JsonApiErrorSource
    status: str = Field(description="The HTTP status as text; `404` in the seed's 410.")


class JsonApiErrors(BaseModel):
    errors: list[JsonApiError]


ERRORS = ErrorEnvelope(
    JSON_API,
    lambda _: ref(JsonApiErrors),
    {
        400: "A missing or malformed parameter, an unsupported or duplicate filename, too many "
        "documents, or a bad participants body.",
        401: "Missing or invalid tokens.",
        403: "You do not have permission to perform this action.",
        404: "Not found. Also a schedule id no route takes (a `/` or a line break in it).",
        408: "The body stopped arriving (FILEDOCK_BODY_IDLE_SECONDS).",
        409: "The document is not ready after the read wait, or processing refused it.",
        410: "The object store or the database is unreachable (the seed's 410, `status` "
        "`404` in the body); try again later.",
        429: "More requests for this key than FILEDOCK_RATE_LIMIT_PER_SECOND allows.",
        500: "An unexpected error; the request id is in `detail` and the log.",
    },
)
# Cognito's two tokens of one user, as the seed's clients send them.
COGNITO = secured(["cognitoAccessToken", "cognitoIdToken"])
# A trusted back-end's key alone: it vouches for the list of participants.
BACK_END = secured(["apiKey"])

PRESIGNED_URLS: Answers = {
    200: answer("A form for a new document, or a signed URL of one.", ref(PresignedUrl), JSON_API),
    **ERRORS(400, 401, 403, 404, 409, 410, 500),
}
PRESIGNED_URLS_HEAD = head_of(PRESIGNED_URLS)
LIST_DOCUMENTS: Answers = {
    200: answer("The schedule's documents.", ref(ScheduleDocuments), JSON_API),
    **ERRORS(400, 401, 403, 404, 410, 500),
}
LIST_DOCUMENTS_HEAD = head_of(LIST_DOCUMENTS)
REMOVE_DOCUMENT: Answers = {
    204: answer("Removed: the record and the object are gone."),
    **ERRORS(400, 401, 403, 404, 410, 500),
}
DECLARE_PARTICIPANTS: Answers = {
    200: answer("The list now declared.", ref(ScheduleParticipants), JSON_API),
    **ERRORS(400, 401, 404, 408, 410, 429, 500),
}
LIST_PARTICIPANTS: Answers = {
    200: answer("The declared list (empty if none).", ref(ScheduleParticipants), JSON_API),
    **ERRORS(400, 401, 404, 410, 429, 500),
}
