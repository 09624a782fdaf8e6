"""What the s3-command face (seed 002, `/api/v2/s3/create_signed_url`) answers, for the
OpenAPI document. Refusals are `{"status": "rejected", "uuid", "errors"}`
(`s3_command.render_error`); every answer is `application/json; charset=utf-8`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from filedock.faces.openapi import Answers, ErrorEnvelope, answer, ref, secured


class SignedForm(BaseModel):
    fields: dict[str, str] = Field(
        description="Form fields to post before the file: `key` (`direct_uploads/<uuid>`), "
        "`success_action_status` (`201`), the policy and its signature."
    )
    url: str = Field(description="Where to post the form.")


class CommandAccepted(BaseModel):
    status: Literal["accepted"]
    meta: dict[str, str] = Field(description="Always empty.")
    uuid: str = Field(description="The command's uuid.")
    data: SignedForm


class CommandRejected(BaseModel):
    status: Literal["rejected"]
    uuid: str | None = Field(description="The command's uuid, when the body had a readable one.")
    errors: dict[str, list[str]] = Field(description="Messages by the field they are about.")


ERRORS = ErrorEnvelope(
    "application/json",
    lambda _: ref(CommandRejected),
    {
        400: "A body that is not a command envelope we carry out (each bad field named).",
        401: "No valid Bearer token (`errors.authorization`).",
        403: "The uuid is another user's command (`errors.command`).",
        408: "The body stopped arriving (FILEDOCK_BODY_IDLE_SECONDS).",
        500: "An unexpected error.",
        503: "The object store or the database is unreachable; try again later.",
    },
)
SECURITY = secured(["bearer"])

CREATE_SIGNED_URL: Answers = {
    202: answer(
        "The form for a direct upload; the same uuid answers the same.", ref(CommandAccepted)
    ),
    **ERRORS(400, 401, 403, 408, 500, 503),
}
