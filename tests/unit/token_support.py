"""Helpers shared by the token tests: a test secret, hand-built JWTs and JWKs, a JWKS server.

The JWTs and JWKs are built by hand or with PyJWT directly, never through filedock.auth, so the
tests do not trust the code under test to produce their inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
HOUR = timedelta(hours=1)


class Clock:
    """A clock the test sets by hand, to step past the JWKS refetch interval."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class JwksServer:
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
        self.document = json.dumps({"keys": [jwk(kid, key) for kid, key in keys.items()]}).encode()


def b64(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256(claims: dict[str, Any], *, exp: int | None = 2**40) -> str:
    payload = dict(claims)
    if exp is not None:
        payload["exp"] = exp
    return jwt.encode(payload, SECRET, algorithm="HS256")


def rs256(private_key: Any, kid: str, claims: dict[str, Any]) -> str:
    payload = {"exp": int(time.time()) + 3600, **claims}
    return jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": kid})


def forge_hs256(payload: dict[str, Any], secret: bytes, *, kid: str) -> str:
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def jwk(kid: str, public_key: Any) -> dict[str, str]:
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


def write_jwks(directory: Path, keys: dict[str, Any]) -> Path:
    path = directory / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(kid, key) for kid, key in keys.items()]}))
    return path
