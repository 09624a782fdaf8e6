"""The sign-in page in a real headless Chromium: it loads, its success handler attaches the
account, it shows done (or failed, with the event), and the token exchange then succeeds.

Google's script is blocked at the network (the suite runs offline): the test calls the page's
success handler with an ID token of the tests' own provider, as Google's callback would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.oidc import OidcProvider, SignInClient
from tests.fixtures.server import LiveServer

PROVIDER = OidcProvider.create()
pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    return PROVIDER.settings_in(data_dir)


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    page = context.new_page()
    page.route("https://accounts.google.com/**", lambda route: route.abort())
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    page.problems = problems
    yield page
    context.close()


def open_sign_in(server: LiveServer, page: Any) -> tuple[SignInClient, str]:
    client = SignInClient(server, PROVIDER)
    request_uuid = client.create_request()
    url = f"{server.base_url}/accounts/auth_requests/{request_uuid}/authenticate/ui/"
    response = page.goto(url)
    assert response is not None and response.status == 200
    assert page.locator("#authenticate").is_visible()
    return client, request_uuid


def test_the_success_handler_attaches_shows_done_and_the_exchange_succeeds(
    server: LiveServer, page: Any
) -> None:
    client, request_uuid = open_sign_in(server, page)
    email = f"jacky-{uuid.uuid4().hex[:6]}@somewhere.org"
    page.evaluate("token => window.filedockSignedIn(token)", PROVIDER.id_token(email))
    page.locator("#done").wait_for(state="visible", timeout=10_000)
    assert page.locator("#failed").is_hidden()
    exchanged = client.exchange(request_uuid)
    assert exchanged.status_code == 201, exchanged.text
    assert exchanged.json()["@event"] == "AUTH_TOKEN_CREATED"
    me = client.http.get(
        "/accounts/me/", headers={"Authorization": f"Bearer {exchanged.json()['token']}"}
    )
    assert me.status_code == 200 and me.json()["email"] == email
    assert page.problems == []


def test_a_refused_token_shows_failed_with_its_event_and_attaches_nothing(
    server: LiveServer, page: Any
) -> None:
    client, request_uuid = open_sign_in(server, page)
    foreign = OidcProvider.create()
    page.evaluate("token => window.filedockSignedIn(token)", foreign.id_token("eve@example.org"))
    page.locator("#failed").wait_for(state="visible", timeout=10_000)
    assert page.locator("#failed-event").inner_text() == "AUTH_CODE_DID_NOT_VALIDATE"
    assert page.locator("#done").is_hidden()
    assert client.exchange(request_uuid).status_code == 404
