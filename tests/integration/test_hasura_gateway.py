"""Seed 004 behind its gateway: requests with no credentials of their own, the caller named by
X-Hasura-* headers that filedock believes only alongside the gateway's shared secret."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.fixtures.server import LiveServer

GATEWAY_SECRET = "gateway-shared-secret-0123"
SERVER_SETTINGS = {"hasura_gateway_secret": GATEWAY_SECRET}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)


def gateway(user: str, role: str = "user", secret: str = GATEWAY_SECRET) -> dict[str, str]:
    return {"X-Filedock-Gateway-Secret": secret, "X-Hasura-User-Id": user, "X-Hasura-Role": role}


def post(server: LiveServer, file_id: str, headers: dict[str, str]) -> httpx.Response:
    with server.client() as client:
        return client.post(
            f"/v1/file/{file_id}", content=PNG, headers={**headers, "Content-Type": "image/png"}
        )


def test_the_seeds_request_through_the_gateway_works_unchanged(server: LiveServer) -> None:
    file_id = f"05c40f1e-{uuid.uuid4().hex[:8]}"
    made = post(server, file_id, gateway("42"))
    assert made.status_code == 200, made.text
    assert made.json()["user_id"] == 42 and made.json()["user_role"] == "user"
    with server.client() as client:
        for _ in range(100):
            read = client.get(f"/v1/file/{file_id}", headers=gateway("42"))
            if read.status_code == 200:
                break
            time.sleep(0.1)
        assert read.status_code == 200 and read.content == PNG
        other = client.get(f"/v1/file/{file_id}", headers=gateway("43"))
        assert other.status_code == 403
        removed = client.delete(f"/v1/file/{file_id}", headers=gateway("42"))
        assert removed.status_code == 200


def test_hasura_headers_without_the_gateway_secret_are_not_believed(server: LiveServer) -> None:
    bare = {"X-Hasura-User-Id": "42", "X-Hasura-Role": "admin"}
    assert post(server, str(uuid.uuid4()), bare).status_code == 401
    forged = post(server, str(uuid.uuid4()), gateway("42", secret="not-the-gateway-secret"))
    assert forged.status_code == 401 and set(forged.json()) == {"error"}
    nobody = post(server, str(uuid.uuid4()), gateway(""))
    assert nobody.status_code == 401


def test_gateway_callers_are_a_realm_apart_from_bearer_tokens(server: LiveServer) -> None:
    file_id = str(uuid.uuid4())
    assert post(server, file_id, gateway("42")).status_code == 200
    with server.client() as client:
        as_token = client.get(f"/v1/file/{file_id}", headers=server.auth("42", "admin"))
    assert as_token.status_code == 404
