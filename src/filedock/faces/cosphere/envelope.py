"""The cosphere face's envelope (seed 003): every body carries `@event` and `@type`.

Errors are `{"@event": <what happened>, "@type": "error", "user_id"}`, with `errors` when
there is something to say: per field for a body that did not validate, a list with the
request id for an unexpected error (never the exception's text). `user_id` is the caller's
account id once authenticated, "anonymous" before; the seed answers an expired auth request
and a refused auth token with `null`, and so do we.
"""

from __future__ import annotations

import html
import secrets
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from filedock.core.account_model import Account
from filedock.core.auth_requests import (
    AuthRequestExpired,
    AuthRequestNotFound,
    EmailMismatch,
    IdTokenRefused,
)
from filedock.core.catalogue import InvalidQuery, ItemNotFound, UnknownAccount
from filedock.core.downloads import RequestNotFound
from filedock.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from filedock.faces.context import BodyNotJson, bounded_body, parse_json
from filedock.faces.errors import Failure, MethodNotAllowed, RequestTimedOut

ANONYMOUS = "anonymous"
MAX_BODY_BYTES = 64 * 1024
GENERIC_ERROR = "GENERIC_ERROR_OCCURRED"
NOT_FOUND_EVENT = "COULD_NOT_FIND_AUTHREQUEST"
EXPIRED_EVENT = "EXPIRED_AUTH_REQUEST_DETECTED"
BODY_DID_NOT_VALIDATE = "BODY_DID_NOT_VALIDATE"
# Where the auth dependency leaves the caller, so errors can name them.
ACCOUNT_STATE = "cosphere_account"
# Set by endpoints that answer with a page, so their errors are pages too.
HTML_STATE = "cosphere_html"


# Error class -> (status, event) for every module of the cosphere face, in one table; the
# most specific class in an error's MRO wins.
ERROR_EVENTS: dict[type[BaseException], tuple[int, str]] = {
    InvalidQuery: (400, "QUERY_DID_NOT_VALIDATE"),
    UnknownAccount: (400, "BODY_JSON_DID_NOT_PARSE"),
    ItemNotFound: (404, "COULD_NOT_FIND_CATALOGUEITEM"),
    RequestNotFound: (404, "COULD_NOT_FIND_DOWNLOADREQUEST"),
    AuthRequestNotFound: (404, NOT_FOUND_EVENT),
    AuthRequestExpired: (400, EXPIRED_EVENT),
    EmailMismatch: (400, "EMAIL_MISMATCH_DETECTED"),
    IdTokenRefused: (400, "AUTH_CODE_DID_NOT_VALIDATE"),
    BodyNotJson: (400, "BODY_JSON_DID_NOT_PARSE"),
    InvalidInput: (400, BODY_DID_NOT_VALIDATE),
    RequestValidationError: (400, BODY_DID_NOT_VALIDATE),
    Unauthenticated: (401, "COULD_NOT_FIND_AUTH_TOKEN"),
    Forbidden: (403, "ACCESS_DENIED"),
    NotFound: (404, "COULD_NOT_FIND_RESOURCE"),
    MethodNotAllowed: (405, "METHOD_NOT_ALLOWED"),
    RequestTimedOut: (408, "REQUEST_TIMED_OUT"),
    RateLimited: (429, "RATE_LIMIT_EXCEEDED"),
    Conflict: (409, "CONFLICT_DETECTED"),
    Unavailable: (503, "SERVICE_UNAVAILABLE"),
}
# The seed answers these with `"user_id": null`, not "anonymous": copied as they are.
NULL_USER_EVENTS = frozenset({EXPIRED_EVENT, "COULD_NOT_FIND_AUTH_TOKEN"})


def render(
    event: str,
    type_: str,
    http_status: int = 200,
    /,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> JSONResponse:
    """A cosphere body: `@event`, `@type`, then `fields` (a download request has a `status`
    field: the HTTP status is positional only)."""
    return JSONResponse({"@event": event, "@type": type_, **fields}, http_status, headers=headers)


def render_account(account: Account) -> dict[str, Any]:
    """An account as the seed nests it: `{"@type": "account", "email", "id", "type"}`."""
    return {
        "@type": "account",
        "email": account.email,
        "id": account.id,
        "type": account.type.value,
    }


def render_error(request: Request, failure: Failure) -> Response:
    """The face's error body (or page, for pages) for any failure of its routes."""
    status, event = _status_and_event(failure)
    if getattr(request.state, HTML_STATE, False):
        # An expired link is as dead as an unknown one: both are "not found" pages.
        gone = event in (NOT_FOUND_EVENT, EXPIRED_EVENT)
        return html_error_page(404 if gone else status, _page_text(event))
    body: dict[str, Any] = {"@event": event, "@type": "error"}
    errors = _errors(request, failure, status, event)
    if errors is not None:
        body["errors"] = errors
    body["user_id"] = None if event in NULL_USER_EVENTS else caller_id(request)
    headers = dict(failure.headers)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status, headers=headers)


def caller_id(request: Request) -> int | str:
    account = getattr(request.state, ACCOUNT_STATE, None)
    return account.id if isinstance(account, Account) else ANONYMOUS


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object a request carries; an empty body is an empty object, as in DRF."""
    raw = await bounded_body(request, MAX_BODY_BYTES)
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        kind = "null" if body is None else type(body).__name__
        raise InvalidInput.one(
            "non_field_errors", f"Invalid data. Expected a dictionary, but got {kind}."
        )
    return body


def html_error_page(status: int, text: str) -> HTMLResponse:
    """A small page saying what went wrong, under the same strict headers as the sign-in page."""
    nonce = secrets.token_urlsafe(18)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Sign in</title>\n"
        f'<style nonce="{nonce}">body{{font-family:system-ui,sans-serif;background:#f2f2f2;'
        "display:flex;justify-content:center;padding-top:15vh}}</style>\n</head>\n<body>\n"
        f'<main id="error"><h1>Sign in</h1><p>{html.escape(text)}</p></main>\n'
        "</body>\n</html>\n"
    )
    return HTMLResponse(page, status, headers=page_headers(f"style-src 'nonce-{nonce}'"))


def page_headers(*directives: str) -> dict[str, str]:
    """Headers of every cosphere page: nothing loads but what `directives` allow."""
    policy = "; ".join(
        (
            "default-src 'none'",
            *directives,
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # The page's URL holds the auth request's uuid: never send it to another origin.
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cache-Control": "no-store",
    }


def _status_and_event(failure: Failure) -> tuple[int, str]:
    for kind in type(failure.error).__mro__:
        if kind in ERROR_EVENTS:
            return ERROR_EVENTS[kind]
    if failure.status < 500:
        return failure.status, BODY_DID_NOT_VALIDATE if failure.status == 400 else GENERIC_ERROR
    return 500, GENERIC_ERROR


def _errors(request: Request, failure: Failure, status: int, event: str) -> Any:
    error = failure.error
    if isinstance(error, BodyNotJson):
        return None  # the seed's BODY_JSON_DID_NOT_PARSE for a body that is not JSON says no more
    if isinstance(error, InvalidInput):
        return error.fields
    if isinstance(error, RequestValidationError) and failure.field:
        return {failure.field: [failure.message]}
    if isinstance(error, EmailMismatch):
        return {"email": [error.message]}
    if isinstance(error, IdTokenRefused):
        return {"code": [error.message]}
    if event == GENERIC_ERROR or status >= 500:
        request_id = getattr(request.state, "request_id", "-")
        return [f"An unexpected error occurred (request id {request_id})."]
    return None


def _page_text(event: str) -> str:
    if event == BODY_DID_NOT_VALIDATE:
        return "This sign-in link is not valid. Start again from your application."
    if event == NOT_FOUND_EVENT:
        return (
            "This sign-in link is unknown or was used already. Start again from your application."
        )
    if event == EXPIRED_EVENT:
        return "This sign-in link has expired. Start again from your application."
    return "Something went wrong on our side. Please try again in a moment."
