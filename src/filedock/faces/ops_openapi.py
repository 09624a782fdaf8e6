"""What the operations endpoints (`/healthz`, `/readyz`, `/metrics`) and the bucket hook
(`/_hooks/bucket-events`) answer and take, for the OpenAPI document. Their errors are
`{"error"}` (`ops.render_error`, `bucket_events.render_error`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from filedock.faces.openapi import Answers, ErrorEnvelope, Schema, answer, content, ref, secured


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]] = Field(
        description="By dependency: `database`, `storage`, and `scanner` when clamd is set."
    )


class OperationsError(BaseModel):
    error: str


class NoticedEvents(BaseModel):
    received: int = Field(description="Created and removed records in the message.")
    noticed: int = Field(description="Those that concerned an upload filedock waits for.")


class BucketName(BaseModel):
    name: str


class ObjectKey(BaseModel):
    key: str = Field(description="URL-encoded, spaces as `+`, as S3 sends it.")


class S3Entity(BaseModel):
    bucket: BucketName
    object: ObjectKey


class BucketRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    # S3's own field names, hence the case.
    eventName: str = Field(
        description="`s3:ObjectCreated:*` and `s3:ObjectRemoved:*` count; others are skipped."
    )
    s3: S3Entity


class BucketEventMessage(BaseModel):
    """An S3 event notification, as S3, MinIO and other S3-compatible stores send it."""

    model_config = ConfigDict(extra="allow")
    Records: list[BucketRecord]


ERRORS = ErrorEnvelope(
    "application/json",
    lambda _: ref(OperationsError),
    {
        400: "Not an S3 event message with Records.",
        401: "The Bearer token is not the configured one.",
        404: "Not enabled on this server: no token is configured.",
        408: "The body stopped arriving (FILEDOCK_BODY_IDLE_SECONDS).",
        500: "An unexpected error.",
        503: "The database or the object store is unreachable; the sender should retry.",
    },
)

HEALTHZ: Answers = {200: answer("The process is alive.", ref(Health))}
READYZ: Answers = {
    200: answer("Every dependency answers.", ref(Readiness)),
    503: answer("Some dependency does not answer (named in `checks`).", ref(Readiness)),
}
# A scraper's token; none if FILEDOCK_METRICS_PUBLIC is set.
METRICS_SECURITY = secured(["metricsToken"], [])
METRICS: Answers = {
    200: answer("Prometheus' text exposition format.", {"type": "string"}, "text/plain"),
    **ERRORS(401, 500),
    404: answer(
        "Metrics are not enabled: neither FILEDOCK_METRICS_TOKEN nor FILEDOCK_METRICS_PUBLIC.",
        ref(OperationsError),
    ),
}
_BUCKET_EVENTS_BODY: Schema = {"required": True, **content(ref(BucketEventMessage, "validation"))}
BUCKET_EVENTS_EXTRA: Schema = {
    **secured(["bucketNotificationToken"]),
    "requestBody": _BUCKET_EVENTS_BODY,
}
BUCKET_EVENTS: Answers = {
    200: answer("The message was read; noticed uploads are processed.", ref(NoticedEvents)),
    **ERRORS(400, 401, 404, 408, 500, 503),
}
