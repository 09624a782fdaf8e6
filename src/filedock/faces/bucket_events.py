"""`POST /_hooks/bucket-events`: S3 event notifications, so uploads are noticed at once.

The body is the S3 event message (`{"Records": [{"eventName", "s3": {"bucket": {"name"},
"object": {"key"}}}]}`), as MinIO's webhook target and S3-compatible stores send it; the
object key arrives URL-encoded, spaces as `+`. The sender proves itself with
`Authorization: Bearer <FILEDOCK_BUCKET_NOTIFICATION_TOKEN>`. Without that setting the
endpoint does not exist (404). Notifications only hint: polling and the sweeper notice the
same uploads when none arrive.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from filedock.core.errors import InvalidInput
from filedock.core.uploads import BucketEvent
from filedock.faces import ops_openapi as doc
from filedock.faces.context import CoreServices, bounded_body, parse_json
from filedock.faces.errors import Failure, face_router
from filedock.faces.openapi import documented_as

MAX_BODY_BYTES = 1024 * 1024


def render_error(request: Request, failure: Failure) -> Response:
    return JSONResponse({"error": failure.message}, failure.status, headers=failure.headers)


router = face_router(render_error, prefix="/_hooks", tags=["operations"], **documented_as("hooks"))


@router.post(
    "/bucket-events",
    summary="Receive S3 bucket notifications",
    responses=doc.BUCKET_EVENTS,
    openapi_extra=doc.BUCKET_EVENTS_EXTRA,
)
async def bucket_events(request: Request, core: CoreServices) -> JSONResponse:
    core.bucket_notifications.check(request.headers.get("authorization"))
    events = parse_events(await _json_body(request))
    noticed = await core.uploads.notice_bucket_events(events)
    return JSONResponse({"received": len(events), "noticed": noticed})


def parse_events(body: Any) -> list[BucketEvent]:
    """The created/removed records of an S3 event message; other event kinds are skipped."""
    records = body.get("Records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise InvalidInput.one("Records", "the body must be an S3 event message with Records")
    events = []
    for record in records:
        try:
            name = str(record["eventName"]).removeprefix("s3:")
            bucket = str(record["s3"]["bucket"]["name"])
            object_name = unquote_plus(str(record["s3"]["object"]["key"]))
        except (KeyError, TypeError):
            raise InvalidInput.one("Records", "a record lacks eventName, bucket or key") from None
        if name.startswith(("ObjectCreated:", "ObjectRemoved:")):
            events.append(BucketEvent(name.startswith("ObjectCreated:"), bucket, object_name))
    return events


async def _json_body(request: Request) -> Any:
    return parse_json(await bounded_body(request, MAX_BODY_BYTES))
