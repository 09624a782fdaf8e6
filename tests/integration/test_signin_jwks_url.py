"""Sign-in with the identity provider's keys served as a JWKS over HTTP, as Google serves them.

The tests' own provider publishes its public key on a real HTTP server on loopback; the
filedock server is told its URL (FILEDOCK_OIDC_JWKS_URL) and fetches it on first use.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.oidc import KID, OidcProvider, SignInClient
from tests.fixtures.server import LiveServer, server_env
from tests.unit.token_support import JwksServer


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    served = JwksServer()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_the_flow_works_with_keys_fetched_from_a_jwks_url(
    tmp_path: Path, jwks_server: JwksServer
) -> None:
    provider = OidcProvider.create()
    jwks_server.publish({KID: provider.key.public_key()})
    settings = {
        "oidc_jwks_url": jwks_server.url,
        "oidc_issuer": provider.issuer,
        "oidc_client_id": provider.client_id,
    }
    live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path, **settings))
    live.start()
    try:
        client = SignInClient(live, provider)
        request_uuid = client.create_request()
        email = f"jacky-{uuid.uuid4().hex[:6]}@somewhere.org"
        attached = client.sign_in(request_uuid, email)
        assert attached.status_code == 200, attached.text
        assert attached.json() == {"@event": "ACCOUNT_TO_AUTH_REQUEST_ATTACHED", "@type": "empty"}
        exchanged = client.exchange(request_uuid)
        assert exchanged.status_code == 201 and exchanged.json()["@event"] == "AUTH_TOKEN_CREATED"
        assert jwks_server.fetches >= 1
        # A token signed by a key the URL does not publish is refused.
        stranger = OidcProvider.create()
        other = client.create_request()
        code = stranger.id_token(email)
        refused = client.attach({"code": code, "email": email, "request_uuid": other})
        assert refused.status_code == 400
        assert refused.json()["@event"] == "AUTH_CODE_DID_NOT_VALIDATE"
    finally:
        live.stop()
