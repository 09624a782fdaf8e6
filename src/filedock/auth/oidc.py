"""OpenID Connect ID tokens (Google's by default): who signed in on the cosphere sign-in page.

An ID token is accepted when it is RS256 and signed by a key of the provider's JWKS (found by
`kid`), comes from the configured issuer, is meant for our client id (`aud`, and `azp` when
there are several audiences), is within its `iat`/`nbf`/`exp` times (30 s leeway), and names a
verified email (`email_verified` true). Every refusal raises `IdTokenRefused` naming the
check, never any part of the token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import PyJWTError

from filedock.auth.rs256 import RS256, check_times, check_verifier_arguments, verified_payload
from filedock.auth.tokens import JwksKeys
from filedock.core.account_model import VerifiedIdentity
from filedock.core.auth_requests import IdTokenRefused
from filedock.core.errors import Unauthenticated

GOOGLE_ISSUER = "https://accounts.google.com"
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
DEFAULT_LEEWAY_SECONDS = 30
# Google's ID tokens carry either form of its issuer (its OpenID documentation says so).
_GOOGLE_ISSUERS = frozenset({GOOGLE_ISSUER, "accounts.google.com"})

_USE = "id"


class OidcVerifier:
    """Checks an identity provider's ID tokens for one client id."""

    def __init__(
        self,
        jwks: JwksKeys,
        issuer: str,
        client_id: str,
        *,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_verifier_arguments(issuer, client_id, leeway_seconds)
        self._jwks = jwks
        self._issuers = _GOOGLE_ISSUERS if issuer == GOOGLE_ISSUER else frozenset({issuer})
        self._client_id = client_id
        self._leeway = leeway_seconds
        self._clock = clock

    async def verify(self, id_token: str) -> VerifiedIdentity:
        # In a thread: an unknown `kid` may refetch the JWKS over HTTP, which blocks.
        return await asyncio.to_thread(self.verify_now, id_token)

    def verify_now(self, id_token: str) -> VerifiedIdentity:
        """Who a genuine ID token names, or `IdTokenRefused`."""
        try:
            claims = self._claims(id_token.strip())
        except Unauthenticated as error:
            raise IdTokenRefused(error.message) from None
        return VerifiedIdentity(subject=_subject(claims), email=_verified_email(claims))

    def _claims(self, token: str) -> dict[str, Any]:
        if not token:
            raise Unauthenticated("id token is missing")
        claims = verified_payload(token, self._key_for(token), _USE)
        check_times(claims, self._clock(), self._leeway, _USE)
        if "iat" not in claims:
            # OpenID Connect requires it; without it a token's age cannot be judged.
            raise Unauthenticated("id token has no valid iat claim")
        if claims.get("iss") not in self._issuers:
            raise Unauthenticated("id token issuer is not accepted")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._client_id not in audiences:
            raise Unauthenticated("id token audience is not accepted")
        # OpenID Connect Core 3.1.3.7: with several audiences, we must be the party it was
        # issued to.
        if len(audiences) > 1 and claims.get("azp") != self._client_id:
            raise Unauthenticated("id token authorized party is not accepted")
        return claims

    def _key_for(self, token: str) -> RSAPublicKey:
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise Unauthenticated("id token is malformed") from None
        # RS256 only, decided before any key is touched: `none`, and HS256 "signed" with the
        # provider's public key, never reach a verifier.
        if header.get("alg") != RS256:
            raise Unauthenticated("id token algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("id token has no key id")
        try:
            return self._jwks.key_for(kid)
        except Unauthenticated as error:
            raise Unauthenticated(f"id {error.message}") from None


class SignInNotConfigured:
    """The verifier when no client id is set: every ID token is refused, saying why."""

    async def verify(self, id_token: str) -> VerifiedIdentity:
        raise IdTokenRefused("sign-in is not configured on this server (FILEDOCK_OIDC_CLIENT_ID)")


def _subject(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise IdTokenRefused("id token has no subject")
    return sub


def _verified_email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise IdTokenRefused("id token names no email")
    # Some providers (Google, once) send the flag as the string "true".
    # `is True`, not `in (True, ...)`: 1 == True in Python, and 1 is not a JSON true.
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        raise IdTokenRefused("id token email is not verified")
    return email.strip()
