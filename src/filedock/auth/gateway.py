"""Callers vouched for by a trusted gateway, as seed 004's deployment had them.

The service behind seed 004 sat behind Hasura, which checked the caller and passed on
`X-Hasura-User-Id` and `X-Hasura-Role`; its clients send no credentials of their own. filedock
believes those headers only from a gateway that also sends the shared secret
(`X-Filedock-Gateway-Secret`, compared in constant time), and only when one is configured;
otherwise they are ignored and a Bearer token is required as usual. Gateway callers are a
realm of their own (`hasura-gateway`): the gateway is its own source of trust.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from filedock.auth.tokens import DEFAULT_ROLE, extract_bearer
from filedock.core.errors import Unauthenticated
from filedock.core.principal import Principal
from filedock.ports.identity import TokenVerifier

GATEWAY_REALM = "hasura-gateway"
SECRET_HEADER = "x-filedock-gateway-secret"
USER_HEADER = "x-hasura-user-id"
ROLE_HEADER = "x-hasura-role"


class HasuraCallers:
    """The hasura face's callers: a trusted gateway's headers, else a Bearer token."""

    def __init__(self, bearer: TokenVerifier, gateway_secret: str | None) -> None:
        self._bearer = bearer
        self._secret = gateway_secret.encode() if gateway_secret else None

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        given = headers.get(SECRET_HEADER)
        if self._secret is None or given is None:
            return self._bearer.verify(extract_bearer(headers.get("authorization")))
        if not hmac.compare_digest(given.encode(), self._secret):
            raise Unauthenticated("the gateway secret is not valid")
        user_id = (headers.get(USER_HEADER) or "").strip()
        if not user_id or len(user_id) > 256:
            raise Unauthenticated("the gateway named no user (X-Hasura-User-Id)")
        role = (headers.get(ROLE_HEADER) or "").strip() or DEFAULT_ROLE
        return Principal(GATEWAY_REALM, user_id, role[:64])
