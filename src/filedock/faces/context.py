"""What every face's endpoints get from the request: the core's services and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from filedock.auth.tokens import extract_bearer
from filedock.core.errors import InvalidInput
from filedock.core.principal import Principal
from filedock.core.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def bearer_principal(request: Request) -> Principal:
    """The caller named by `Authorization: Bearer <jwt>`; raises `Unauthenticated`."""
    token = extract_bearer(request.headers.get("authorization"))
    return services(request).bearer.verify(token)


async def current_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a thread, a hop per request.
    return services(request)


BearerPrincipal = Annotated[Principal, Depends(bearer_principal)]
CoreServices = Annotated[Services, Depends(current_services)]


async def bounded_body(request: Request, max_bytes: int) -> bytes:
    """The whole (small) request body; refused as soon as it passes `max_bytes`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise InvalidInput.one("body", f"the body is larger than {max_bytes} bytes")
    return bytes(body)
