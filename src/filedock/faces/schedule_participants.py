"""The schedules face's back-end endpoint (beyond seed 000): who takes part in a schedule.

`PUT /api/v1/schedules/{schedule}/participants/` with `{"participants": ["<cognito sub>", …]}`
replaces the schedule's participants; `GET` answers the current list. The caller is a trusted
back-end with its `api-key` (the signed-url face's keys) and names no end user: the key itself
vouches for the list. Bodies and errors are the schedules face's JSON:API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse

from filedock.core.account_model import ApiKey
from filedock.core.errors import InvalidInput
from filedock.core.schedules import MAX_PARTICIPANTS, MAX_SUBJECT_LENGTH, DeclaredParticipants
from filedock.faces import schedules
from filedock.faces import schedules_openapi as doc
from filedock.faces.context import CoreServices, bounded_body, parse_json, services
from filedock.faces.errors import Failure, face_router
from filedock.faces.openapi import documented_as
from filedock.faces.schedules import JSON_API

# 20 ids of 256 characters, each as `\uXXXX` escapes at worst, and room to spare.
MAX_BODY_BYTES = 64 * 1024
BODY_FIELDS = frozenset({"participants"})
ALLOW = "GET, PUT"


def render_error(request: Request, failure: Failure) -> Response:
    """The schedules face's error, naming the methods of this path rather than the seed's."""
    response = schedules.render_error(request, failure)
    response.headers["Allow"] = ALLOW
    return response


async def back_end(request: Request) -> ApiKey:
    """The back-end whose `api-key` this is; `Unauthenticated` without a live one."""
    return await services(request).api_users.back_end(request.headers.get("api-key"))


BackEnd = Annotated[ApiKey, Depends(back_end)]
# Documented as a security scheme (`api-key`); checked by `back_end`.
_API_KEY = doc.BACK_END
_PARTICIPANTS_BODY: dict[str, Any] = {
    **_API_KEY,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["participants"],
                    "additionalProperties": False,
                    "properties": {
                        "participants": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_PARTICIPANTS,
                            "items": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_SUBJECT_LENGTH,
                            },
                            "description": "Cognito subjects (`sub`) who may use the schedule.",
                        }
                    },
                }
            }
        },
    },
}

router = face_router(
    render_error, prefix="/api/v1", tags=["schedules: participants"], **documented_as("schedules")
)


@router.put(
    "/schedules/{schedule}/participants/",
    summary="Declare a schedule's participants",
    responses=doc.DECLARE_PARTICIPANTS,
    openapi_extra=_PARTICIPANTS_BODY,
)
async def declare_participants(
    schedule: str, request: Request, key: BackEnd, core: CoreServices
) -> JSONResponse:
    body = await _json_object(request)
    declared = await core.schedules.declare_participants(key, schedule, body.get("participants"))
    return JSONResponse(render_participants(declared), media_type=JSON_API)


@router.get(
    "/schedules/{schedule}/participants/",
    summary="A schedule's participants",
    responses=doc.LIST_PARTICIPANTS,
    openapi_extra=_API_KEY,
)
async def list_participants(schedule: str, key: BackEnd, core: CoreServices) -> JSONResponse:
    declared = await core.schedules.declared_participants(key, schedule)
    return JSONResponse(render_participants(declared), media_type=JSON_API)


def render_participants(declared: DeclaredParticipants) -> dict[str, Any]:
    return {"data": {"schedule": declared.schedule_id, "participants": list(declared.subjects)}}


async def _json_object(request: Request) -> dict[str, Any]:
    body = parse_json(await bounded_body(request, MAX_BODY_BYTES))
    if not isinstance(body, dict):
        raise InvalidInput.one("body", 'The body must be a JSON object: {"participants": [...]}')
    unknown = sorted(set(body) - BODY_FIELDS)
    if unknown:
        raise InvalidInput.one("body", f"Unknown field: {unknown[0]}")
    return body
