"""The s3-command face (seed 002): `POST /api/v2/s3/create_signed_url`.

A command envelope `{"uuid", "command": "CreateSignedS3FormData", "data", "async"}` answers
202 with the fields and URL of a browser form upload. The client's `uuid` makes the command
idempotent. Refusals are `{"status": "rejected", "uuid", "errors": {field: [messages]}}`.
Auth is a Bearer token, as on the hasura face.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from filedock.core.errors import InvalidInput
from filedock.faces import s3_command_openapi as doc
from filedock.faces.context import (
    BearerPrincipal,
    BodyNotJson,
    CoreServices,
    bounded_body,
    parse_json,
)
from filedock.faces.errors import Failure, face_router
from filedock.faces.openapi import documented_as

COMMAND = "CreateSignedS3FormData"
# The seed's answer headers, as its Rails app sent them.
SEED_JSON = "application/json; charset=utf-8"
SEED_HEADERS = {"Cache-Control": "no-cache"}
MAX_ENVELOPE_BYTES = 64 * 1024
_ENVELOPE_FIELDS = frozenset({"uuid", "command", "data", "async"})


def render_error(request: Request, failure: Failure) -> Response:
    error = failure.error
    if isinstance(error, InvalidInput):
        errors = error.fields
    elif failure.status == 401:
        errors = {"authorization": [failure.message]}
    else:
        errors = {failure.field or "command": [failure.message]}
    body = {"status": "rejected", "uuid": _command_uuid(request), "errors": errors}
    return JSONResponse(
        body, failure.status, headers={**failure.headers, **SEED_HEADERS}, media_type=SEED_JSON
    )


router = face_router(
    render_error,
    prefix="/api/v2/s3",
    tags=["s3-command: direct uploads"],
    **documented_as("s3_command"),
)

_ENVELOPE_BODY: dict[str, Any] = {
    **doc.SECURITY,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["uuid", "command"],
                    "additionalProperties": False,
                    "properties": {
                        "uuid": {"type": "string", "format": "uuid"},
                        "command": {"type": "string", "enum": [COMMAND]},
                        "data": {"type": "null"},
                        # The command runs at once: `true` is refused.
                        "async": {"type": "boolean", "enum": [False]},
                    },
                }
            }
        },
    }
}


@router.post(
    "/create_signed_url",
    status_code=202,
    responses=doc.CREATE_SIGNED_URL,
    openapi_extra=_ENVELOPE_BODY,
    summary="Create signed form data for a direct upload",
)
async def create_signed_url(
    request: Request, principal: BearerPrincipal, core: CoreServices
) -> JSONResponse:
    command_id = parse_envelope(await _body(request))
    ticket = await core.uploads.issue_command_upload(
        principal, command_id, core.uploads.policy("s3-command")
    )
    data = {"fields": ticket.request.fields, "url": ticket.request.url}
    body = {"status": "accepted", "meta": {}, "uuid": command_id, "data": data}
    return JSONResponse(body, 202, headers=SEED_HEADERS, media_type=SEED_JSON)


def parse_envelope(raw: bytes) -> str:
    """The command's uuid (canonical form) once the envelope is one we carry out."""
    envelope = parse_json(raw)
    if not isinstance(envelope, dict):
        raise InvalidInput.one("body", "must be a JSON object")
    problems: dict[str, list[str]] = {}
    command_id = envelope.get("uuid")
    if not isinstance(command_id, str) or not _is_uuid(command_id):
        problems["uuid"] = ["must be a UUID"]
    command = envelope.get("command")
    if command != COMMAND:
        problems["command"] = [f"unknown command {command!r}; the one command is {COMMAND}"]
    if envelope.get("data") is not None:
        problems["data"] = ["must be null: this command takes no data"]
    if envelope.get("async", False) is not False:
        problems["async"] = ["must be false: this command runs at once"]
    for extra in sorted(set(envelope) - _ENVELOPE_FIELDS):
        problems[extra] = ["is not a field of a command"]
    if problems:
        raise InvalidInput(problems)
    return str(uuid.UUID(str(command_id)))


async def _body(request: Request) -> bytes:
    body = await bounded_body(request, MAX_ENVELOPE_BYTES)
    # Kept for the error renderer, which echoes the command's uuid.
    request.state.command_body = body
    return body


def _command_uuid(request: Request) -> str | None:
    raw = getattr(request.state, "command_body", None)
    try:
        envelope = parse_json(raw) if raw else None
    except BodyNotJson:
        return None
    value = envelope.get("uuid") if isinstance(envelope, dict) else None
    return value if isinstance(value, str) and len(value) <= 100 else None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
