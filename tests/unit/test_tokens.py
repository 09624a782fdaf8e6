"""Bearer tokens with a shared secret: issuing, verifying HS256, and header parsing.

Covers the claims we understand (standard and Hasura), expiry and leeway, signatures and refused
algorithms, issuer and audience, the Authorization header, and configuration checks. RS256
tokens checked against a JWKS (file or URL) are in test_tokens_jwks.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from filedock.auth import HASURA_CLAIMS_NAMESPACE, BearerVerifier, extract_bearer, issue_token
from filedock.core.errors import Unauthenticated
from filedock.core.principal import Principal
from tests.unit.token_support import HOUR, SECRET, b64, hs256

# --- issuing and the claims we understand -------------------------------------------------


def test_issued_token_round_trips_to_the_same_principal() -> None:
    token = issue_token(SECRET, "user-1", "editor", HOUR, email="u1@example.org")

    principal = BearerVerifier(secret=SECRET).verify(token)

    assert principal == Principal(
        realm="bearer", user_id="user-1", role="editor", email="u1@example.org"
    )


def test_issued_token_carries_standard_and_hasura_claims() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    token = issue_token(
        SECRET, "user-1", "admin", HOUR, issuer="filedock", audience="files", now=now
    )

    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="files", issuer="filedock")

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims["sub"] == "user-1"
    assert claims["role"] == "admin"
    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] == int((now + HOUR).timestamp())
    assert claims[HASURA_CLAIMS_NAMESPACE] == {
        "x-hasura-user-id": "user-1",
        "x-hasura-default-role": "admin",
        "x-hasura-allowed-roles": ["admin"],
    }
    assert "email" not in claims


def test_hasura_claims_namespace_wins_over_sub() -> None:
    token = hs256(
        {
            "sub": "from-sub",
            "role": "user",
            HASURA_CLAIMS_NAMESPACE: {
                "x-hasura-user-id": "from-hasura",
                "x-hasura-default-role": "admin",
                "x-hasura-allowed-roles": ["admin", "user"],
            },
        }
    )

    principal = BearerVerifier(secret=SECRET).verify(token)

    assert principal.user_id == "from-hasura"
    assert principal.role == "admin"
    assert principal.is_admin


def test_stringified_hasura_claims_are_understood() -> None:
    namespace = {"x-hasura-user-id": "42", "x-hasura-default-role": "editor"}
    token = hs256({HASURA_CLAIMS_NAMESPACE: json.dumps(namespace), "email": "x@example.org"})

    principal = BearerVerifier(secret=SECRET).verify(token)

    assert principal == Principal(
        realm="bearer", user_id="42", role="editor", email="x@example.org"
    )


def test_sub_and_role_are_used_without_hasura_claims() -> None:
    verifier = BearerVerifier(secret=SECRET)

    with_role = verifier.verify(hs256({"sub": "u7", "role": "admin"}))
    without_role = verifier.verify(hs256({"sub": "u8"}))

    assert with_role == Principal(realm="bearer", user_id="u7", role="admin")
    assert without_role == Principal(realm="bearer", user_id="u8", role="user")


def test_token_without_subject_is_refused() -> None:
    token = hs256({"role": "admin", HASURA_CLAIMS_NAMESPACE: {"x-hasura-default-role": "admin"}})

    with pytest.raises(Unauthenticated, match="token has no subject"):
        BearerVerifier(secret=SECRET).verify(token)


@pytest.mark.parametrize("namespace", ["{not json", "[1, 2]", 17, {"x-hasura-user-id": ["a"]}])
def test_malformed_hasura_claims_are_refused(namespace: object) -> None:
    token = hs256({"sub": "u1", HASURA_CLAIMS_NAMESPACE: namespace})

    with pytest.raises(Unauthenticated, match="token claims are malformed"):
        BearerVerifier(secret=SECRET).verify(token)


# --- time ---------------------------------------------------------------------------------


def test_expired_token_is_refused() -> None:
    token = issue_token(SECRET, "u1", "user", HOUR, now=datetime.now(UTC) - 2 * HOUR)

    with pytest.raises(Unauthenticated, match="token has expired"):
        BearerVerifier(secret=SECRET).verify(token)


def test_expiry_allows_the_configured_leeway() -> None:
    # Expired ten seconds ago: inside a 30 s leeway, outside a zero one.
    token = issue_token(
        SECRET, "u1", "user", HOUR, now=datetime.now(UTC) - HOUR - timedelta(seconds=10)
    )

    assert BearerVerifier(secret=SECRET, leeway_seconds=30).verify(token).user_id == "u1"
    with pytest.raises(Unauthenticated, match="token has expired"):
        BearerVerifier(secret=SECRET, leeway_seconds=0).verify(token)


def test_token_not_yet_valid_is_refused() -> None:
    in_an_hour = int(time.time()) + 3600
    not_before = hs256({"sub": "u1", "nbf": in_an_hour})
    issued_later = issue_token(SECRET, "u1", "user", HOUR, now=datetime.now(UTC) + HOUR)

    verifier = BearerVerifier(secret=SECRET)
    for token in (not_before, issued_later):
        with pytest.raises(Unauthenticated, match="token is not yet valid"):
            verifier.verify(token)


def test_token_without_expiry_is_refused() -> None:
    token = hs256({"sub": "u1"}, exp=None)

    with pytest.raises(Unauthenticated, match="token has no exp claim"):
        BearerVerifier(secret=SECRET).verify(token)


# --- signatures and algorithms ------------------------------------------------------------


def test_token_signed_with_other_secret_is_refused() -> None:
    token = issue_token("another-secret-that-is-also-long-enough", "u1", "admin", HOUR)

    with pytest.raises(Unauthenticated, match="token signature is invalid"):
        BearerVerifier(secret=SECRET).verify(token)


def test_tampered_token_is_refused() -> None:
    token = issue_token(SECRET, "u1", "user", HOUR)
    header, _, signature = token.split(".")
    promoted = b64({"sub": "u1", "role": "admin", "exp": int(time.time()) + 3600})

    with pytest.raises(Unauthenticated, match="token signature is invalid"):
        BearerVerifier(secret=SECRET).verify(f"{header}.{promoted}.{signature}")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(alg: str) -> None:
    payload = {"sub": "u1", "role": "admin", "exp": int(time.time()) + 3600}
    unsigned = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."

    with pytest.raises(Unauthenticated, match="token algorithm is not accepted"):
        BearerVerifier(secret=SECRET).verify(unsigned)


def test_other_hmac_algorithms_are_refused() -> None:
    payload = {"sub": "u1", "exp": int(time.time()) + 3600}
    token = jwt.encode(payload, SECRET + SECRET, algorithm="HS512")

    with pytest.raises(Unauthenticated, match="token algorithm is not accepted"):
        BearerVerifier(secret=SECRET + SECRET).verify(token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "!!.??.**"])
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(Unauthenticated, match="malformed token"):
        BearerVerifier(secret=SECRET).verify(token)


def test_token_with_garbage_payload_is_refused() -> None:
    header = b64({"alg": "HS256", "typ": "JWT"})
    body = base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode()
    signing_input = f"{header}.{body}".encode()
    signature = hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    with pytest.raises(Unauthenticated, match="malformed token"):
        BearerVerifier(secret=SECRET).verify(token)


# --- issuer and audience ------------------------------------------------------------------


def test_wrong_audience_and_issuer_are_refused() -> None:
    verifier = BearerVerifier(secret=SECRET, issuer="https://idp.example", audience="filedock")

    def token(issuer: str | None = None, audience: str | None = None) -> str:
        return issue_token(SECRET, "u1", "user", HOUR, issuer=issuer, audience=audience)

    accepted = verifier.verify(token(issuer="https://idp.example", audience="filedock"))
    assert accepted.user_id == "u1"
    refusals = {
        "token issuer is not accepted": [
            token(issuer="https://evil.example", audience="filedock"),
            token(audience="filedock"),
        ],
        "token audience is not accepted": [
            token(issuer="https://idp.example", audience="another-service"),
            token(issuer="https://idp.example"),
        ],
    }
    for message, tokens in refusals.items():
        for refused in tokens:
            with pytest.raises(Unauthenticated, match=message):
                verifier.verify(refused)


def test_issuer_and_audience_are_not_checked_when_not_configured() -> None:
    token = issue_token(SECRET, "u1", "user", HOUR, issuer="anyone", audience="anything")

    assert BearerVerifier(secret=SECRET).verify(token).user_id == "u1"


# --- the Authorization header and configuration -------------------------------------------


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Digest x=1", "abc"])
def test_extract_bearer_rejects_other_schemes(header: str) -> None:
    with pytest.raises(Unauthenticated, match="missing bearer token"):
        extract_bearer(header)


@pytest.mark.parametrize("header", ["Bearer a.b.c", "bearer a.b.c", "BEARER   a.b.c  "])
def test_extract_bearer_accepts_the_scheme_in_any_case(header: str) -> None:
    assert extract_bearer(header) == "a.b.c"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing bearer token"),
        ("", "missing bearer token"),
        ("   ", "missing bearer token"),
        ("Bearer", "malformed Authorization header"),
        ("Bearer a.b.c extra", "malformed Authorization header"),
    ],
)
def test_extract_bearer_refuses_missing_or_malformed_headers(
    header: str | None, message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        extract_bearer(header)


def test_short_secrets_and_empty_configuration_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        BearerVerifier(secret="short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_token("short", "u1", "user", HOUR)
    with pytest.raises(ValueError, match="needs a secret, a JWKS, or both"):
        BearerVerifier()
    with pytest.raises(ValueError, match="ttl must be positive"):
        issue_token(SECRET, "u1", "user", timedelta(0))
