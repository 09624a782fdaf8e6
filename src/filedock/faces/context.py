"""What every face's endpoints get from the request: the core's services and the caller."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from filedock.auth.tokens import extract_bearer
from filedock.core.errors import InvalidInput
from filedock.core.principal import Principal
from filedock.core.rate_limit import client_address
from filedock.core.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def header(request: Request, name: bytes) -> str | None:
    """The first `name` header (lower-case bytes, as ASGI names them), read as Starlette's
    `request.headers.get` reads it, without building its `Headers` (for hot routes)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


def query_values(request: Request) -> dict[str, str]:
    """The query's values by name, the last of a repeated name winning, blank values kept:
    what `request.query_params.get` answers, without building Starlette's `QueryParams`."""
    query = request.scope["query_string"].decode("latin-1")
    if "%" in query or "+" in query:
        return dict(parse_qsl(query, keep_blank_values=True))
    # Nothing escaped: `parse_qsl`'s split, without its per-field unquoting.
    fields = (field.partition("=") for field in query.split("&") if field)
    return {name: value for name, _, value in fields}


def bearer_principal(request: Request) -> Principal:
    """The caller named by `Authorization: Bearer <jwt>`; raises `Unauthenticated`."""
    token = extract_bearer(request.headers.get("authorization"))
    return services(request).bearer.verify(token)


async def current_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a thread, a hop per request.
    return services(request)


BearerPrincipal = Annotated[Principal, Depends(bearer_principal)]
CoreServices = Annotated[Services, Depends(current_services)]


def client_of(request: Request) -> str:
    """The client's address; `X-Forwarded-For` counts only from FILEDOCK_TRUSTED_PROXIES."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return client_address(peer, forwarded, services(request).trusted_proxies)


async def bounded_body(request: Request, max_bytes: int) -> bytes:
    """The whole (small) request body; refused as soon as it passes `max_bytes`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise InvalidInput.one("body", f"the body is larger than {max_bytes} bytes")
    return bytes(body)


# No body a face takes nests deeper; deeper ones would reach Python's recursion limit in the
# parser, or later when the value is checked, stored or rendered.
MAX_JSON_DEPTH = 64


class BodyNotJson(InvalidInput):
    """The request body is not JSON, or nests deeper than `MAX_JSON_DEPTH`."""


def parse_json(raw: bytes) -> Any:
    """The JSON value of a request body, for every face that takes JSON; else `BodyNotJson`."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise BodyNotJson.one("body", "the body is not JSON") from None
    # Counting brackets is quick; only a body that could be too deep is walked.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(value):
        raise BodyNotJson.one("body", "the body is not JSON")
    return value


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            if depth > MAX_JSON_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in node)
    return False
