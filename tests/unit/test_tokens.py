"""Bearer tokens: issuing, verifying (HS256 and JWKS-checked RS256), and header parsing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from filedock.auth import (
    HASURA_CLAIMS_NAMESPACE,
    BearerVerifier,
    JwksKeys,
    extract_bearer,
    issue_token,
)
from filedock.core.errors import Unauthenticated
from filedock.core.principal import Principal

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
HOUR = timedelta(hours=1)


# --- issuing and the claims we understand -------------------------------------------------


def test_issued_token_round_trips_to_the_same_principal() -> None:
    token = issue_token(SECRET, "user-1", "editor", HOUR, email="u1@example.org")

    principal = BearerVerifier(secret=SECRET).verify(token)

    assert principal == Principal(user_id="user-1", role="editor", email="u1@example.org")


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
    token = _hs256(
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
    token = _hs256({HASURA_CLAIMS_NAMESPACE: json.dumps(namespace), "email": "x@example.org"})

    principal = BearerVerifier(secret=SECRET).verify(token)

    assert principal == Principal(user_id="42", role="editor", email="x@example.org")


def test_sub_and_role_are_used_without_hasura_claims() -> None:
    verifier = BearerVerifier(secret=SECRET)

    with_role = verifier.verify(_hs256({"sub": "u7", "role": "admin"}))
    without_role = verifier.verify(_hs256({"sub": "u8"}))

    assert with_role == Principal(user_id="u7", role="admin")
    assert without_role == Principal(user_id="u8", role="user")


def test_token_without_subject_is_refused() -> None:
    token = _hs256({"role": "admin", HASURA_CLAIMS_NAMESPACE: {"x-hasura-default-role": "admin"}})

    with pytest.raises(Unauthenticated, match="token has no subject"):
        BearerVerifier(secret=SECRET).verify(token)


@pytest.mark.parametrize("namespace", ["{not json", "[1, 2]", 17, {"x-hasura-user-id": ["a"]}])
def test_malformed_hasura_claims_are_refused(namespace: object) -> None:
    token = _hs256({"sub": "u1", HASURA_CLAIMS_NAMESPACE: namespace})

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
    not_before = _hs256({"sub": "u1", "nbf": in_an_hour})
    issued_later = issue_token(SECRET, "u1", "user", HOUR, now=datetime.now(UTC) + HOUR)

    verifier = BearerVerifier(secret=SECRET)
    for token in (not_before, issued_later):
        with pytest.raises(Unauthenticated, match="token is not yet valid"):
            verifier.verify(token)


def test_token_without_expiry_is_refused() -> None:
    token = _hs256({"sub": "u1"}, exp=None)

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
    promoted = _b64({"sub": "u1", "role": "admin", "exp": int(time.time()) + 3600})

    with pytest.raises(Unauthenticated, match="token signature is invalid"):
        BearerVerifier(secret=SECRET).verify(f"{header}.{promoted}.{signature}")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(alg: str) -> None:
    payload = {"sub": "u1", "role": "admin", "exp": int(time.time()) + 3600}
    unsigned = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(payload)}."

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
    header = _b64({"alg": "HS256", "typ": "JWT"})
    body = base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode()
    signing_input = f"{header}.{body}".encode()
    signature = hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    with pytest.raises(Unauthenticated, match="malformed token"):
        BearerVerifier(secret=SECRET).verify(token)


# --- RS256 against a JWKS -----------------------------------------------------------------


def test_rs256_token_checked_against_jwks_file(tmp_path: Path, rsa_keys: list[Any]) -> None:
    signing_key = rsa_keys[0]
    jwks_path = _write_jwks(tmp_path, {"k1": signing_key.public_key()})
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(jwks_path)))

    token = _rs256(signing_key, "k1", {"sub": "u1", "role": "editor", "email": "e@example.org"})
    principal = verifier.verify(token)

    assert principal == Principal(user_id="u1", role="editor", email="e@example.org")


def test_rs256_token_signed_by_another_key_is_refused(tmp_path: Path, rsa_keys: list[Any]) -> None:
    jwks_path = _write_jwks(tmp_path, {"k1": rsa_keys[0].public_key()})
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(jwks_path)))

    forged = _rs256(rsa_keys[1], "k1", {"sub": "u1"})

    with pytest.raises(Unauthenticated, match="token signature is invalid"):
        verifier.verify(forged)


@pytest.mark.parametrize("with_our_secret", [False, True])
def test_rs256_public_key_cannot_be_used_as_hs256_secret(
    tmp_path: Path, rsa_keys: list[Any], with_our_secret: bool
) -> None:
    public_key = rsa_keys[0].public_key()
    jwks_path = _write_jwks(tmp_path, {"k1": public_key})
    verifier = BearerVerifier(
        secret=SECRET if with_our_secret else None, jwks=JwksKeys.from_location(str(jwks_path))
    )
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_text = json.dumps(_jwk("k1", public_key)).encode()
    jwks_text = jwks_path.read_bytes()
    payload = {"sub": "attacker", "role": "admin", "exp": int(time.time()) + 3600}

    # PyJWT refuses to sign HMAC with a PEM key, so the attacker's token is forged by hand.
    for public_material in (pem, jwk_text, jwks_text):
        forged = _forge_hs256(payload, public_material, kid="k1")
        with pytest.raises(Unauthenticated) as refused:
            verifier.verify(forged)
        expected = "token signature is invalid" if with_our_secret else "algorithm is not accepted"
        assert expected in refused.value.message


def test_hs256_and_rs256_need_their_own_key_source(tmp_path: Path, rsa_keys: list[Any]) -> None:
    jwks_only = BearerVerifier(jwks=JwksKeys.from_location(str(_write_jwks(tmp_path, {}))))
    secret_only = BearerVerifier(secret=SECRET)

    with pytest.raises(Unauthenticated, match="token algorithm is not accepted"):
        jwks_only.verify(issue_token(SECRET, "u1", "user", HOUR))
    with pytest.raises(Unauthenticated, match="token algorithm is not accepted"):
        secret_only.verify(_rs256(rsa_keys[0], "k1", {"sub": "u1"}))


def test_unknown_kid_is_refused(tmp_path: Path, rsa_keys: list[Any]) -> None:
    jwks_path = _write_jwks(tmp_path, {"k1": rsa_keys[0].public_key()})
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(jwks_path)))

    with pytest.raises(Unauthenticated, match="token key is unknown"):
        verifier.verify(_rs256(rsa_keys[1], "k2", {"sub": "u1"}))
    with pytest.raises(Unauthenticated, match="token has no key id"):
        verifier.verify(jwt.encode({"sub": "u1", "exp": 2**40}, rsa_keys[0], algorithm="RS256"))


# Signing with the deliberately small key makes PyJWT warn; the point is that we refuse it.
@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_unusable_jwks_entries_are_skipped(tmp_path: Path, rsa_keys: list[Any]) -> None:
    good = _jwk("good", rsa_keys[0].public_key())
    small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    document = {
        "keys": [
            good,
            {**_jwk("enc", rsa_keys[1].public_key()), "use": "enc"},
            {**_jwk("rs512", rsa_keys[1].public_key()), "alg": "RS512"},
            _jwk("small", small_key.public_key()),
            {"kty": "RSA", "kid": "broken", "n": 5, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": good["n"], "e": good["e"]},
            "not a key",
        ]
    }
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps(document))

    keys = JwksKeys.from_location(str(jwks_path))

    assert keys.kids == {"good"}
    verifier = BearerVerifier(jwks=keys)
    assert verifier.verify(_rs256(rsa_keys[0], "good", {"sub": "u1"})).user_id == "u1"
    with pytest.raises(Unauthenticated, match="token key is unknown"):
        verifier.verify(_rs256(small_key, "small", {"sub": "u1"}))


def test_es256_token_is_refused(tmp_path: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(_write_jwks(tmp_path, {}))))
    token = jwt.encode(
        {"sub": "u1", "exp": 2**40}, ec_key, algorithm="ES256", headers={"kid": "k1"}
    )

    with pytest.raises(Unauthenticated, match="token algorithm is not accepted"):
        verifier.verify(token)


def test_unreadable_jwks_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"no": "keys"}')

    with pytest.raises(ValueError, match="cannot load a JWKS"):
        JwksKeys.from_location(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="cannot load a JWKS"):
        JwksKeys.from_location(str(tmp_path / "bad.json"))


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


# --- JWKS over HTTP -----------------------------------------------------------------------


def test_jwks_url_is_refetched_for_a_new_kid(jwks_server: _JwksServer, rsa_keys: list[Any]) -> None:
    clock = _Clock()
    keys = JwksKeys.from_location(jwks_server.url, refetch_interval_seconds=300, clock=clock)
    verifier = BearerVerifier(jwks=keys)
    jwks_server.publish({"k1": rsa_keys[0].public_key()})
    assert jwks_server.fetches == 0  # URLs are fetched lazily, on the first token

    assert verifier.verify(_rs256(rsa_keys[0], "k1", {"sub": "u1"})).user_id == "u1"
    assert verifier.verify(_rs256(rsa_keys[0], "k1", {"sub": "u2"})).user_id == "u2"
    assert jwks_server.fetches == 1

    jwks_server.publish({"k2": rsa_keys[1].public_key()})
    rotated = _rs256(rsa_keys[1], "k2", {"sub": "u3"})
    clock.now = 10.0
    with pytest.raises(Unauthenticated, match="token key is unknown"):
        verifier.verify(rotated)  # too soon after the last fetch: no new request
    assert jwks_server.fetches == 1

    clock.now = 301.0
    assert verifier.verify(rotated).user_id == "u3"
    assert jwks_server.fetches == 2
    assert keys.kids == {"k2"}

    clock.now = 302.0
    with pytest.raises(Unauthenticated, match="token key is unknown"):
        verifier.verify(_rs256(rsa_keys[0], "random-kid", {"sub": "u4"}))
    assert jwks_server.fetches == 2


def test_concurrent_unknown_kids_fetch_the_jwks_once(
    jwks_server: _JwksServer, rsa_keys: list[Any]
) -> None:
    jwks_server.publish({"k1": rsa_keys[0].public_key()})
    jwks_server.delay = 0.2  # long enough that every thread arrives while the fetch is running
    verifier = BearerVerifier(jwks=JwksKeys.from_location(jwks_server.url))
    token = _rs256(rsa_keys[0], "k1", {"sub": "u1"})
    results: list[str] = []

    threads = [
        threading.Thread(target=lambda: results.append(verifier.verify(token).user_id))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert results == ["u1"] * 8
    assert jwks_server.fetches == 1


def test_unreachable_jwks_url_refuses_without_crashing(
    jwks_server: _JwksServer, rsa_keys: list[Any]
) -> None:
    clock = _Clock()
    keys = JwksKeys.from_location(jwks_server.url, timeout_seconds=2, clock=clock)
    verifier = BearerVerifier(jwks=keys)
    token = _rs256(rsa_keys[0], "k1", {"sub": "u1"})

    jwks_server.status = 503
    with pytest.raises(Unauthenticated, match="token keys are unavailable"):
        verifier.verify(token)

    # Once the IdP recovers, a failed fetch is retried well before the rotation interval.
    jwks_server.status = 200
    jwks_server.publish({"k1": rsa_keys[0].public_key()})
    clock.now = 11.0
    assert verifier.verify(token).user_id == "u1"
    assert jwks_server.fetches == 2


def test_refused_connection_means_keys_are_unavailable(rsa_keys: list[Any]) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # bound then closed: nothing listens there any more
    verifier = BearerVerifier(
        jwks=JwksKeys.from_location(f"http://127.0.0.1:{port}/jwks.json", timeout_seconds=2)
    )

    with pytest.raises(Unauthenticated, match="token keys are unavailable"):
        verifier.verify(_rs256(rsa_keys[0], "k1", {"sub": "u1"}))


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


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_keys() -> list[Any]:
    """Two 2048-bit RSA private keys, generated once because generation is slow."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _JwksServer:
    """A real HTTP server on 127.0.0.1 serving whatever JWKS the test publishes."""

    def __init__(self) -> None:
        self.document: bytes = b'{"keys": []}'
        self.fetches = 0
        self.delay = 0.0
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                time.sleep(owner.delay)
                body = owner.document if owner.status == 200 else b"unavailable"
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, keys: dict[str, Any]) -> None:
        self.document = json.dumps({"keys": [_jwk(kid, key) for kid, key in keys.items()]}).encode()


@pytest.fixture
def jwks_server() -> Iterator[_JwksServer]:
    server = _JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


def _b64(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], *, exp: int | None = 2**40) -> str:
    payload = dict(claims)
    if exp is not None:
        payload["exp"] = exp
    return jwt.encode(payload, SECRET, algorithm="HS256")


def _rs256(private_key: Any, kid: str, claims: dict[str, Any]) -> str:
    payload = {"exp": int(time.time()) + 3600, **claims}
    return jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": kid})


def _forge_hs256(payload: dict[str, Any], secret: bytes, *, kid: str) -> str:
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _jwk(kid: str, public_key: Any) -> dict[str, str]:
    """Build the JWK by hand so the test does not trust the library under test to do it."""
    numbers = public_key.public_numbers()

    def encode(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": encode(numbers.n),
        "e": encode(numbers.e),
    }


def _write_jwks(directory: Path, keys: dict[str, Any]) -> Path:
    path = directory / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(kid, key) for kid, key in keys.items()]}))
    return path
