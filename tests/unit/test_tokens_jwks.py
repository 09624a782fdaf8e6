"""Bearer tokens signed with RS256 and checked against a JWKS, from a file or over HTTP.

Covers key selection by kid, unusable JWKS entries, the RS256-key-as-HS256-secret attack, and
fetching a JWKS URL: lazily, again for a new kid (but not too often), once for concurrent
requests, and without crashing when the IdP is unreachable.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from filedock.auth import BearerVerifier, JwksKeys, issue_token
from filedock.core.errors import Unauthenticated
from filedock.core.principal import Principal
from tests.unit.token_support import (
    HOUR,
    SECRET,
    Clock,
    JwksServer,
    forge_hs256,
    jwk,
    rs256,
    write_jwks,
)


@pytest.fixture(scope="module")
def rsa_keys() -> list[Any]:
    """Two 2048-bit RSA private keys, generated once because generation is slow."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


# --- RS256 against a JWKS -----------------------------------------------------------------


def test_rs256_token_checked_against_jwks_file(tmp_path: Path, rsa_keys: list[Any]) -> None:
    signing_key = rsa_keys[0]
    jwks_path = write_jwks(tmp_path, {"k1": signing_key.public_key()})
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(jwks_path)))

    token = rs256(signing_key, "k1", {"sub": "u1", "role": "editor", "email": "e@example.org"})
    principal = verifier.verify(token)

    # No `iss`: RS256 tokens are never in the realm of our own HS256 secret.
    assert principal == Principal(
        realm="bearer:jwks", user_id="u1", role="editor", email="e@example.org"
    )


def test_rs256_token_signed_by_another_key_is_refused(tmp_path: Path, rsa_keys: list[Any]) -> None:
    jwks_path = write_jwks(tmp_path, {"k1": rsa_keys[0].public_key()})
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(jwks_path)))

    forged = rs256(rsa_keys[1], "k1", {"sub": "u1"})

    with pytest.raises(Unauthenticated, match="token signature is invalid"):
        verifier.verify(forged)


@pytest.mark.parametrize("with_our_secret", [False, True])
def test_rs256_public_key_cannot_be_used_as_hs256_secret(
    tmp_path: Path, rsa_keys: list[Any], with_our_secret: bool
) -> None:
    public_key = rsa_keys[0].public_key()
    jwks_path = write_jwks(tmp_path, {"k1": public_key})
    verifier = BearerVerifier(
        secret=SECRET if with_our_secret else None, jwks=JwksKeys.from_location(str(jwks_path))
    )
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_text = json.dumps(jwk("k1", public_key)).encode()
    jwks_text = jwks_path.read_bytes()
    payload = {"sub": "attacker", "role": "admin", "exp": int(time.time()) + 3600}

    # PyJWT refuses to sign HMAC with a PEM key, so the attacker's token is forged by hand.
    for public_material in (pem, jwk_text, jwks_text):
        forged = forge_hs256(payload, public_material, kid="k1")
        with pytest.raises(Unauthenticated) as refused:
            verifier.verify(forged)
        expected = "token signature is invalid" if with_our_secret else "algorithm is not accepted"
        assert expected in refused.value.message


def test_hs256_and_rs256_need_their_own_key_source(tmp_path: Path, rsa_keys: list[Any]) -> None:
    jwks_only = BearerVerifier(jwks=JwksKeys.from_location(str(write_jwks(tmp_path, {}))))
    secret_only = BearerVerifier(secret=SECRET)

    with pytest.raises(Unauthenticated, match="token algorithm is not accepted"):
        jwks_only.verify(issue_token(SECRET, "u1", "user", HOUR))
    with pytest.raises(Unauthenticated, match="token algorithm is not accepted"):
        secret_only.verify(rs256(rsa_keys[0], "k1", {"sub": "u1"}))


def test_unknown_kid_is_refused(tmp_path: Path, rsa_keys: list[Any]) -> None:
    jwks_path = write_jwks(tmp_path, {"k1": rsa_keys[0].public_key()})
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(jwks_path)))

    with pytest.raises(Unauthenticated, match="token key is unknown"):
        verifier.verify(rs256(rsa_keys[1], "k2", {"sub": "u1"}))
    with pytest.raises(Unauthenticated, match="token has no key id"):
        verifier.verify(jwt.encode({"sub": "u1", "exp": 2**40}, rsa_keys[0], algorithm="RS256"))


# Signing with the deliberately small key makes PyJWT warn; the point is that we refuse it.
@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_unusable_jwks_entries_are_skipped(tmp_path: Path, rsa_keys: list[Any]) -> None:
    good = jwk("good", rsa_keys[0].public_key())
    small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    document = {
        "keys": [
            good,
            {**jwk("enc", rsa_keys[1].public_key()), "use": "enc"},
            {**jwk("rs512", rsa_keys[1].public_key()), "alg": "RS512"},
            jwk("small", small_key.public_key()),
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
    assert verifier.verify(rs256(rsa_keys[0], "good", {"sub": "u1"})).user_id == "u1"
    with pytest.raises(Unauthenticated, match="token key is unknown"):
        verifier.verify(rs256(small_key, "small", {"sub": "u1"}))


def test_es256_token_is_refused(tmp_path: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    verifier = BearerVerifier(jwks=JwksKeys.from_location(str(write_jwks(tmp_path, {}))))
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


# --- JWKS over HTTP -----------------------------------------------------------------------


def test_jwks_url_is_refetched_for_a_new_kid(jwks_server: JwksServer, rsa_keys: list[Any]) -> None:
    clock = Clock()
    keys = JwksKeys.from_location(jwks_server.url, refetch_interval_seconds=300, clock=clock)
    verifier = BearerVerifier(jwks=keys)
    jwks_server.publish({"k1": rsa_keys[0].public_key()})
    assert jwks_server.fetches == 0  # URLs are fetched lazily, on the first token

    assert verifier.verify(rs256(rsa_keys[0], "k1", {"sub": "u1"})).user_id == "u1"
    assert verifier.verify(rs256(rsa_keys[0], "k1", {"sub": "u2"})).user_id == "u2"
    assert jwks_server.fetches == 1

    jwks_server.publish({"k2": rsa_keys[1].public_key()})
    rotated = rs256(rsa_keys[1], "k2", {"sub": "u3"})
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
        verifier.verify(rs256(rsa_keys[0], "random-kid", {"sub": "u4"}))
    assert jwks_server.fetches == 2


def test_concurrent_unknown_kids_fetch_the_jwks_once(
    jwks_server: JwksServer, rsa_keys: list[Any]
) -> None:
    jwks_server.publish({"k1": rsa_keys[0].public_key()})
    jwks_server.delay = 0.2  # long enough that every thread arrives while the fetch is running
    verifier = BearerVerifier(jwks=JwksKeys.from_location(jwks_server.url))
    token = rs256(rsa_keys[0], "k1", {"sub": "u1"})
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
    jwks_server: JwksServer, rsa_keys: list[Any]
) -> None:
    clock = Clock()
    keys = JwksKeys.from_location(jwks_server.url, timeout_seconds=2, clock=clock)
    verifier = BearerVerifier(jwks=keys)
    token = rs256(rsa_keys[0], "k1", {"sub": "u1"})

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
        verifier.verify(rs256(rsa_keys[0], "k1", {"sub": "u1"}))
