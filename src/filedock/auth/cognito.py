"""Cognito-style authentication: an access token and an id token, both RS256 against a JWKS.

The schedules face (seed 000) sends `ACCESSTOKEN` and `IDTOKEN` headers as AWS Cognito
issues them. The access token proves the call is made through our app client (`client_id`),
the id token says who the user is (`aud`, `email`, `custom:account_type`); both must come
from our user pool (`iss`) and name the same `sub`, so tokens of two users cannot be mixed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import PyJWTError

from filedock.auth.rs256 import RS256, check_times, check_verifier_arguments, verified_payload
from filedock.auth.tokens import DEFAULT_ROLE, JwksKeys
from filedock.core.errors import Unauthenticated
from filedock.core.principal import ADMIN_ROLE, COGNITO_REALM, Principal

ACCOUNT_TYPE_CLAIM = "custom:account_type"
ADMIN_ACCOUNT_TYPE = "Admin"
DEFAULT_LEEWAY_SECONDS = 30


_ACCESS = "access"
_ID = "id"


class CognitoVerifier:
    """Checks an access token and an id token together and returns the Principal they name.

    Every refusal raises `Unauthenticated` with a message naming the token and the check,
    never any part of the token itself (it would end up in logs and error bodies).
    """

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
        self._issuer = issuer
        self._client_id = client_id
        self._leeway = leeway_seconds
        self._clock = clock

    def verify(self, access_token: str | None, id_token: str | None) -> Principal:
        """Return the caller both tokens name, or raise Unauthenticated."""
        access_token = _present(access_token, _ACCESS)
        id_token = _present(id_token, _ID)
        # One reading of the clock, so both tokens are judged at the same instant.
        now = self._clock()
        access = self._claims(access_token, _ACCESS, now)
        identity = self._claims(id_token, _ID, now)

        if access.get("client_id") != self._client_id:
            raise Unauthenticated("access token client is not accepted")
        if not _audience_includes(identity.get("aud"), self._client_id):
            raise Unauthenticated("id token audience is not accepted")

        user_id = _subject(access, _ACCESS)
        if _subject(identity, _ID) != user_id:
            raise Unauthenticated("access and id tokens name different users")

        email = identity.get("email")
        admin = identity.get(ACCOUNT_TYPE_CLAIM) == ADMIN_ACCOUNT_TYPE
        return Principal(
            realm=COGNITO_REALM,
            user_id=user_id,
            role=ADMIN_ROLE if admin else DEFAULT_ROLE,
            email=email if isinstance(email, str) and email else None,
        )

    def _claims(self, token: str, use: str, now: float) -> dict[str, Any]:
        """Verified claims of one token whose `token_use` must be `use`."""
        claims = verified_payload(token, self._key_for(token, use), use)
        check_times(claims, now, self._leeway, use)
        if claims.get("iss") != self._issuer:
            raise Unauthenticated(f"{use} token issuer is not accepted")
        if claims.get("token_use") != use:
            # An id token in ACCESSTOKEN (or the reverse) is signed by the same pool: only
            # this claim tells them apart.
            raise Unauthenticated(f"{use} token is not an {use} token")
        return claims

    def _key_for(self, token: str, use: str) -> RSAPublicKey:
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise Unauthenticated(f"{use} token is malformed") from None
        # RS256 and nothing else, decided before any key is touched: `none` and HS256 signed
        # with our public key as the HMAC secret (the algorithm-confusion attack) never
        # reach a verifier.
        if header.get("alg") != RS256:
            raise Unauthenticated(f"{use} token algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated(f"{use} token has no key id")
        try:
            return self._jwks.key_for(kid)
        except Unauthenticated as error:
            # JwksKeys speaks of "token key is unknown"; say which of the two tokens.
            raise Unauthenticated(f"{use} {error.message}") from None


def _present(token: str | None, use: str) -> str:
    if token is None or not token.strip():
        raise Unauthenticated(f"{use} token is missing")
    return token.strip()


def _audience_includes(audience: object, client_id: str) -> bool:
    if isinstance(audience, str):
        return audience == client_id
    if isinstance(audience, list):
        return client_id in audience
    return False


def _subject(claims: dict[str, Any], use: str) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise Unauthenticated(f"{use} token has no subject")
    return sub
