"""The cosphere face's account endpoints (seed 003, "Account & Auth Management").

- `POST /accounts/auth_requests/`: start a sign-in; answers the page to send the person to.
- `GET /accounts/auth_requests/{uuid}/authenticate/ui/`: that page (HTML).
- `POST /accounts/auth_requests/attach_account/`: the page posts the provider's ID token.
- `POST /accounts/auth_tokens/`: the client exchanges the request for a Bearer token, once.
- `GET /accounts/me/`: the caller's account (beyond the seed: shows a token works).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from filedock.core.account_model import AuthRequest
from filedock.core.accounts import EMAIL_MESSAGE, is_valid_email
from filedock.core.errors import InvalidInput
from filedock.faces.context import CoreServices, client_of
from filedock.faces.cosphere import openapi as doc
from filedock.faces.cosphere.auth import CosphereAccount
from filedock.faces.cosphere.envelope import (
    HTML_STATE,
    json_body,
    page_headers,
    render,
    render_account,
    render_error,
)
from filedock.faces.errors import face_router
from filedock.faces.openapi import documented_as

REQUIRED = "This field is required."
# Google Identity Services: its script, its button's frame and styles, its calls home.
GOOGLE_SCRIPT = "https://accounts.google.com/gsi/client"
GOOGLE_GSI = "https://accounts.google.com/gsi/"
_ECHO_LIMIT = 100

router = face_router(
    render_error, prefix="/accounts", tags=["cosphere: accounts"], **documented_as("cosphere")
)


def _json_body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_UUID = {"type": "string", "format": "uuid"}
_ATTACH_BODY = _json_body(
    ["code", "email", "request_uuid"],
    {"code": {"type": "string"}, "email": {"type": "string"}, "request_uuid": _UUID},
)
_TOKEN_BODY = _json_body(["request_uuid"], {"request_uuid": _UUID})


@router.post(
    "/auth_requests/",
    status_code=201,
    summary="Create an auth request",
    responses=doc.CREATE_AUTH_REQUEST,
)
async def create_auth_request(request: Request, core: CoreServices) -> JSONResponse:
    auth_request = await core.auth_requests.create(client_of(request))
    return render(
        "AUTH_REQUEST_CREATED",
        "auth_request",
        201,
        authenticate_ui_uri=_ui_path(request, auth_request.uuid),
        request_uuid=auth_request.uuid,
    )


@router.get(
    "/auth_requests/{request_uuid}/authenticate/ui/",
    response_class=HTMLResponse,
    summary="Render the sign-in page of an auth request",
    responses=doc.AUTHENTICATE_UI,
)
async def render_authenticate_ui(
    request_uuid: str, request: Request, core: CoreServices
) -> HTMLResponse:
    setattr(request.state, HTML_STATE, True)
    auth_request = await core.auth_requests.pending(request_uuid)
    return signin_page(request, auth_request, core.oidc_client_id)


@router.post(
    "/auth_requests/attach_account/",
    summary="Attach the signed-in account to an auth request",
    responses=doc.ATTACH_ACCOUNT,
    openapi_extra=_ATTACH_BODY,
)
async def attach_account(request: Request, core: CoreServices) -> JSONResponse:
    code, email, request_uuid = parse_attach(await json_body(request))
    await core.auth_requests.attach(code, email, request_uuid)
    return render("ACCOUNT_TO_AUTH_REQUEST_ATTACHED", "empty")


@router.post(
    "/auth_tokens/",
    status_code=201,
    summary="Create an auth token",
    responses=doc.CREATE_AUTH_TOKEN,
    openapi_extra=_TOKEN_BODY,
)
async def create_auth_token(request: Request, core: CoreServices) -> JSONResponse:
    request_uuid = parse_token_request(await json_body(request))
    issued = await core.auth_requests.exchange(request_uuid)
    # A Bearer token: no cache between here and the client may keep it.
    headers = {"Cache-Control": "no-store"}
    return render("AUTH_TOKEN_CREATED", "auth_token", 201, headers=headers, token=issued.token)


@router.get(
    "/me/", summary="Read the caller's account", responses=doc.READ_ME, openapi_extra=doc.ACCOUNT
)
async def read_me(account: CosphereAccount) -> JSONResponse:
    fields = render_account(account)
    del fields["@type"]
    return render("ACCOUNT_READ", "account", **fields)


def parse_attach(body: dict[str, Any]) -> tuple[str, str, str]:
    """`code`, `email`, `request_uuid`, each checked, every problem named at once."""
    problems: dict[str, list[str]] = {}
    code = _text(body, "code", problems)
    email = _text(body, "email", problems)
    if email is not None and not is_valid_email(email.strip().lower()):
        problems["email"] = [EMAIL_MESSAGE]
    request_uuid = _uuid(body, "request_uuid", problems)
    if problems:
        raise InvalidInput(problems)
    assert code is not None and email is not None and request_uuid is not None
    return code, email, request_uuid


def parse_token_request(body: dict[str, Any]) -> str:
    problems: dict[str, list[str]] = {}
    request_uuid = _uuid(body, "request_uuid", problems)
    if request_uuid is None:
        raise InvalidInput(problems)
    return request_uuid


def signin_page(request: Request, auth_request: AuthRequest, client_id: str | None) -> HTMLResponse:
    """The sign-in page of `auth_request`, with a fresh nonce for its inline style and script."""
    nonce = secrets.token_urlsafe(18)
    config = {
        "requestUuid": auth_request.uuid,
        "clientId": client_id or "",
        "attachUrl": _root(request) + router.url_path_for("attach_account"),
    }
    page = _template().replace("{{nonce}}", nonce).replace("{{config}}", _script_json(config))
    headers = page_headers(
        f"script-src 'nonce-{nonce}' {GOOGLE_SCRIPT}",
        f"style-src 'nonce-{nonce}' {GOOGLE_GSI}style",
        f"frame-src {GOOGLE_GSI}",
        f"connect-src 'self' {GOOGLE_GSI}",
    )
    return HTMLResponse(page, headers=headers)


@cache
def _template() -> str:
    return resources.files("filedock.web").joinpath("signin.html").read_text(encoding="utf-8")


def _script_json(value: dict[str, str]) -> str:
    # JSON inside <script>: escaping <, > and & keeps `</script>` or `<!--` in a value from
    # ending the element early; JSON.parse reads the escapes back.
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _ui_path(request: Request, request_uuid: str) -> str:
    path = router.url_path_for("render_authenticate_ui", request_uuid=request_uuid)
    return _root(request) + path


def _root(request: Request) -> str:
    # A proxy mounting filedock under a path sets root_path; links must keep it.
    return str(request.scope.get("root_path", "")).rstrip("/")


def _text(body: dict[str, Any], name: str, problems: dict[str, list[str]]) -> str | None:
    # Django REST framework's CharField messages, which the seed shows.
    if name not in body:
        problems[name] = [REQUIRED]
        return None
    value = body[name]
    if value is None:
        problems[name] = ["This field may not be null."]
    elif not isinstance(value, str):
        problems[name] = ["Not a valid string."]
    elif not value.strip():
        problems[name] = ["This field may not be blank."]
    else:
        return value
    return None


def _uuid(body: dict[str, Any], name: str, problems: dict[str, list[str]]) -> str | None:
    if name not in body:
        problems[name] = [REQUIRED]
        return None
    value = body[name]
    if value is None:
        problems[name] = ["This field may not be null."]
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return str(uuid.UUID(value))
    text = value if isinstance(value, str) else json.dumps(value)
    shown = text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "…"
    problems[name] = [f'"{shown}" is not a valid UUID.']
    return None
