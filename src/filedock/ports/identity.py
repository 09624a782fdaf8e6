"""The identity port: token verifiers turn a caller's credentials into a `Principal`.

Backends live in `filedock.auth` (Bearer JWTs of our secret or a JWKS, Cognito token pairs,
OpenID Connect ID tokens); each is chosen once at start-up from settings. A verifier raises
`Unauthenticated` for anything it does not accept, and says nothing about why beyond that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from filedock.core.errors import Unauthenticated
from filedock.core.principal import Principal


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The caller a bearer token names, or `Unauthenticated`."""
        ...


class HeaderAuthenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller a request's headers name (a token, a gateway's word), or
        `Unauthenticated`."""
        ...


class TokenPairVerifier(Protocol):
    def verify(self, access_token: str | None, id_token: str | None) -> Principal:
        """The caller an access token and an ID token both name, or `Unauthenticated`."""
        ...


class NoTokenPairs:
    """The token-pair verifier when none is configured: every caller is refused."""

    def __init__(self, what: str) -> None:
        self._what = what

    def verify(self, access_token: str | None, id_token: str | None) -> Principal:
        raise Unauthenticated(f"{self._what} is not configured on this server")
