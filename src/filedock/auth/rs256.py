"""RS256 token checks shared by the Cognito and OpenID Connect verifiers.

Only the signature is left to PyJWT: it cannot take our clock, and checking the claims
ourselves keeps one precise message per refusal. Messages name the token (`use`) and the
check, never any part of the token.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import InvalidSignatureError, PyJWTError

from filedock.core.errors import Unauthenticated

RS256 = "RS256"


def check_verifier_arguments(issuer: str, client_id: str, leeway_seconds: int) -> None:
    if not issuer:
        raise ValueError("issuer must not be empty")
    if not client_id:
        raise ValueError("client_id must not be empty")
    if leeway_seconds < 0:
        raise ValueError("leeway_seconds must not be negative")


def verified_payload(token: str, key: RSAPublicKey, use: str) -> dict[str, Any]:
    """The payload of an RS256 token whose signature `key` verifies; claims are not checked."""
    try:
        # Only the signature is left to PyJWT: it cannot take our clock, and checking the
        # claims ourselves keeps one precise message per refusal (PyJWT reports a missing
        # `aud` before a wrong `token_use`, hiding that the two tokens were swapped). The
        # algorithm is pinned again so PyJWT itself also refuses any other header alg.
        return jwt.decode(
            token,
            key,
            algorithms=[RS256],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except InvalidSignatureError:
        raise Unauthenticated(f"{use} token signature is invalid") from None
    except PyJWTError:
        raise Unauthenticated(f"{use} token is malformed") from None


def check_times(claims: dict[str, Any], now: float, leeway: float, use: str) -> None:
    # Cognito always sends exp; a token without one would be valid forever.
    exp = claims.get("exp")
    if not is_time(exp):
        raise Unauthenticated(f"{use} token has no valid exp claim")
    if exp <= now - leeway:
        raise Unauthenticated(f"{use} token has expired")
    for name in ("nbf", "iat"):
        if name not in claims:
            continue
        value = claims[name]
        if not is_time(value):
            raise Unauthenticated(f"{use} token has no valid {name} claim")
        # A token issued in the future comes from a skewed or forged issuer: refuse it too.
        if value > now + leeway:
            raise Unauthenticated(f"{use} token is not yet valid")


def is_time(value: object) -> TypeGuard[float]:
    # JSON numbers only: booleans are ints in Python, and NaN compares false with everything.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
