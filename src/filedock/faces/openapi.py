"""The OpenAPI document beyond what FastAPI infers: answers, security schemes, operation ids.

Faces build their answers by hand (each in its seed's envelope), so FastAPI can infer none of
them. Each face declares its operations' answers in a module beside it (`hasura_openapi.py`,
`cosphere/openapi.py`, …) with the builders here, and its routes name those declarations, so
the face modules keep reading like their seeds. `install` then finishes the document: the
security schemes, the models the declarations refer to, and no trace of FastAPI's 422
(every face answers bad input with its own 400).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

Schema = dict[str, Any]
Answers = dict[int | str, dict[str, Any]]

# Who may call, per face; an operation names the ones it takes in its `security`.
SECURITY_SCHEMES: dict[str, Schema] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT of this installation's secret (HS256) or of the configured JWKS "
        "(RS256); Hasura's claims namespace is understood. Hasura and s3-command faces.",
    },
    "hasuraGateway": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Filedock-Gateway-Secret",
        "description": "A trusted gateway's secret (FILEDOCK_HASURA_GATEWAY_SECRET); the "
        "gateway names the caller in `X-Hasura-User-Id` and `X-Hasura-Role`.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
        "description": "A back-end's key (`filedock apikey create`). Signed-url face; alone, "
        "the schedules face's participants.",
    },
    "userId": {
        "type": "apiKey",
        "in": "header",
        "name": "user-id",
        "description": "The end user (a UUID) on whose behalf the `api-key` holder calls.",
    },
    "cognitoAccessToken": {
        "type": "apiKey",
        "in": "header",
        "name": "ACCESSTOKEN",
        "description": "The Cognito pool's access token. Schedules face, with `IDTOKEN`.",
    },
    "cognitoIdToken": {
        "type": "apiKey",
        "in": "header",
        "name": "IDTOKEN",
        "description": "The Cognito pool's ID token of the same user.",
    },
    "cosphereToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A cosphere account token, from `POST /accounts/auth_tokens/`.",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "FILEDOCK_METRICS_TOKEN.",
    },
    "bucketNotificationToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "FILEDOCK_BUCKET_NOTIFICATION_TOKEN.",
    },
}


# The faces in the order the docs show them, each with a line on its API.
TAGS: tuple[tuple[str, str], ...] = (
    ("hasura: files", "Seed 004, Hasura's file service: upload, download, delete by id."),
    ("signed-url: files", "Seed 001: signed upload URLs for a back-end's end users."),
    ("s3-command: direct uploads", "Seed 002: signed browser form uploads by command."),
    ("schedules: documents", "Seed 000: a schedule's documents, Cognito tokens, JSON:API."),
    ("schedules: participants", "Who takes part in a schedule, declared by a back-end."),
    ("cosphere: accounts", "Seed 003: sign-in through auth requests; account tokens."),
    ("cosphere: catalogue", "Seed 003: the data catalogue."),
    ("cosphere: downloader", "Seed 003: extracts of catalogue items."),
    ("blobs: the local store's signed URLs", "Where the URLs and forms above point locally."),
    ("operations", "Health, readiness, metrics, bucket notifications."),
)


def secured(*alternatives: Iterable[str]) -> Schema:
    """An operation's `security`: any one of `alternatives`, each all of its schemes."""
    for schemes in alternatives:
        if unknown := set(schemes) - set(SECURITY_SCHEMES):
            raise ValueError(f"no security scheme is named {sorted(unknown)}")
    return {"security": [{name: [] for name in schemes} for schemes in alternatives]}


def documented_as(face: str) -> dict[str, Any]:
    """A face router's OpenAPI settings: operation ids `<face>_<endpoint>` (a HEAD route's
    with `_head`), and no content FastAPI would guess (endpoints build their responses)."""

    def operation_id(route: APIRoute) -> str:
        suffix = "_head" if route.methods == {"HEAD"} else ""
        return f"{face}_{route.name}{suffix}"

    return {"generate_unique_id_function": operation_id, "default_response_class": Response}


Mode = Literal["validation", "serialization"]
# Models the declarations refer to, by name, and the mode each is rendered in: requests are
# validated, answers serialized.
_MODELS: dict[str, tuple[type[BaseModel], Mode]] = {}


def ref(model: type[BaseModel], mode: Mode = "serialization") -> Schema:
    """A reference to `model`'s schema, which `install` adds to the document's components."""
    known = _MODELS.setdefault(model.__name__, (model, mode))
    if known != (model, mode):
        raise ValueError(f"{model.__name__} names two schemas: models or modes differ")
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def content(schema: Schema, media_type: str = "application/json") -> Schema:
    return {"content": {media_type: {"schema": schema}}}


def answer(
    description: str,
    schema: Schema | None = None,
    media_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One documented answer: its meaning, its body's schema (None: no body), and the
    headers it carries with what each says."""
    documented: dict[str, Any] = {"description": description}
    if schema is not None:
        documented.update(content(schema, media_type))
    if headers:
        documented["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return documented


# Headers some failures carry, whatever the face (faces/errors.py `describe_failure`).
_ERROR_HEADERS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": "`Bearer`"},
    416: {"Content-Range": "`bytes */<size>`: the file's size."},
    429: {"Retry-After": "Seconds until a request is taken again."},
}


@dataclass(frozen=True)
class ErrorEnvelope:
    """A face's error answers: the media type, the body's schema by status, and what each
    status means on this face (`when`)."""

    media_type: str
    schema: Callable[[int], Schema]
    when: Mapping[int, str]

    def __call__(self, *statuses: int) -> Answers:
        """The answers for `statuses`, in this face's envelope."""
        return {
            status: answer(
                self.when[status],
                self.schema(status),
                self.media_type,
                _ERROR_HEADERS.get(status),
            )
            for status in statuses
        }


# What a download takes beyond its address, on every face that serves bytes.
CONDITIONAL_RANGE: list[Schema] = [
    {
        "name": "Range",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "One range, `bytes=<first>-<last>` or `bytes=-<suffix>` (206); several, "
        "or one that cannot be read, get the whole file.",
    },
    {
        "name": "If-Range",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "The ETag the range is of; another one gets the whole file.",
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "ETags the client holds: 304 when the file still has one of them.",
    },
]


def head_of(answers: Answers) -> Answers:
    """The same answers to a HEAD: no body, the headers kept."""
    return {
        status: {key: value for key, value in documented.items() if key != "content"}
        for status, documented in answers.items()
    }


def install(app: FastAPI) -> None:
    """Finish the app's document once, when it is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # Read here, not when the app is built: every worker process would pay
            # importlib.metadata's import (about 70 ms here) for a document it may never serve.
            from filedock import __version__

            app.version = __version__
            _finish(build())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _finish(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            # FastAPI's own 422 for parameters it validates: each face answers those with 400.
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(_model_schemas())
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    document["tags"] = [{"name": name, "description": text} for name, text in TAGS]


def _model_schemas() -> dict[str, Schema]:
    if not _MODELS:
        return {}
    _, top = models_json_schema(
        list(_MODELS.values()), ref_template="#/components/schemas/{model}"
    )
    defined: dict[str, Schema] = top.get("$defs", {})
    return defined
