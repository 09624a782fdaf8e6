"""Seed 003's "Account & Auth Management" through a real server, on every backend combination.

Sign-in goes as the page does it: an ID token signed by the tests' own OpenID Connect provider
(tests/fixtures/oidc.py), which the server trusts through FILEDOCK_OIDC_*, is posted to
attach_account; the client then exchanges the auth request for a Bearer token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from filedock.config import Settings
from filedock.core.account_model import AccountType, AuthRequest
from filedock.db.accounts import SqlAccountStore, SqlAuthRequestStore
from filedock.db.session import create_engine, session_factory
from filedock.ports.accounts import EmailTaken
from filedock.runtime import account_service
from tests.fixtures.oidc import OidcProvider
from tests.fixtures.oidc import SignInClient as Client
from tests.fixtures.server import LiveServer, server_env
from tests.integration.in_process import in_process_app

PROVIDER = OidcProvider.create()
OTHER_PROVIDER = OidcProvider.create()
SEED_ATTACH_404_UUID = "2fbb0016-4669-11e9-b05d-0028f8484bd5"
SEED_TOKEN_404_UUID = "f5e7e000-5074-11e4-825f-02426ec57dd1"


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    return PROVIDER.settings_in(data_dir)


def new_email() -> str:
    return f"person-{uuid.uuid4().hex[:10]}@example.org"


def account_read(email: str, account_id: int, type_: str) -> dict[str, Any]:
    fields = {"email": email, "id": account_id, "type": type_}
    return {"@event": "ACCOUNT_READ", "@type": "account", **fields}


def error(event: str, user_id: Any = "anonymous", **extra: Any) -> dict[str, Any]:
    return {"@event": event, "@type": "error", **extra, "user_id": user_id}


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    caller = Client(server, PROVIDER)
    yield caller
    caller.http.close()


def test_the_whole_flow_signs_a_new_researcher_in(client: Client) -> None:
    email = new_email()
    created = client.http.post("/accounts/auth_requests/")
    request_uuid = created.json()["request_uuid"]
    page = client.http.get(created.json()["authenticate_ui_uri"])
    assert page.status_code == 200 and request_uuid in page.text

    # Not attached yet: pollers get 404 until the person has signed in.
    assert client.exchange(request_uuid).json() == error("COULD_NOT_FIND_AUTHREQUEST")
    attached = client.sign_in(request_uuid, email)
    assert attached.status_code == 200
    assert attached.json() == {"@event": "ACCOUNT_TO_AUTH_REQUEST_ATTACHED", "@type": "empty"}

    exchanged = client.exchange(request_uuid)
    assert exchanged.status_code == 201
    assert exchanged.headers["cache-control"] == "no-store"
    body = exchanged.json()
    assert set(body) == {"@event", "@type", "token"}
    assert (body["@event"], body["@type"]) == ("AUTH_TOKEN_CREATED", "auth_token")

    me = client.me(body["token"])
    account = me.json()
    assert me.status_code == 200 and isinstance(account["id"], int)
    assert account == account_read(email, account["id"], "RESEARCHER")

    # Single use: the request is spent.
    assert client.exchange(request_uuid).status_code == 404
    assert client.sign_in(request_uuid, email).status_code == 404
    assert client.page(request_uuid).status_code == 404
    # Signing in again finds the same account.
    assert client.me(client.token_for(email)).json()["id"] == account["id"]


def test_create_auth_request_answers_as_in_the_seed(client: Client) -> None:
    response = client.http.post("/accounts/auth_requests/")
    assert response.status_code == 201
    body = response.json()
    request_uuid = body["request_uuid"]
    assert str(uuid.UUID(request_uuid)) == request_uuid and uuid.UUID(request_uuid).version == 4
    assert body == {
        "@event": "AUTH_REQUEST_CREATED",
        "@type": "auth_request",
        "authenticate_ui_uri": f"/accounts/auth_requests/{request_uuid}/authenticate/ui/",
        "request_uuid": request_uuid,
    }
    assert client.create_request() != request_uuid


def test_the_seeds_error_examples(client: Client) -> None:
    invalid = client.attach({"email": "jacky@somewhere.org", "request_uuid": "some-uuid"})
    assert invalid.status_code == 400
    assert invalid.json() == error(
        "BODY_DID_NOT_VALIDATE",
        errors={
            "code": ["This field is required."],
            "request_uuid": ['"some-uuid" is not a valid UUID.'],
        },
    )
    unknown = client.attach(
        {"code": "some-code", "email": "jacky@somewhere.org", "request_uuid": SEED_ATTACH_404_UUID}
    )
    assert unknown.status_code == 404
    assert unknown.json() == error("COULD_NOT_FIND_AUTHREQUEST")
    no_token = client.exchange(SEED_TOKEN_404_UUID)
    assert no_token.status_code == 404
    assert no_token.json() == error("COULD_NOT_FIND_AUTHREQUEST")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {f: ["This field is required."] for f in ("code", "email", "request_uuid")}),
        (
            {"code": None, "email": "", "request_uuid": 12},
            {
                "code": ["This field may not be null."],
                "email": ["This field may not be blank."],
                "request_uuid": ['"12" is not a valid UUID.'],
            },
        ),
        (
            {"code": 5, "email": "not-an-email", "request_uuid": str(uuid.uuid4())},
            {"code": ["Not a valid string."], "email": ["Enter a valid email address."]},
        ),
        ([1], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_bodies_that_do_not_validate_name_every_field(
    client: Client, body: Any, errors: dict[str, list[str]]
) -> None:
    response = client.attach(body)
    assert response.status_code == 400
    assert response.json() == error("BODY_DID_NOT_VALIDATE", errors=errors)


def test_bodies_that_are_not_json_do_not_parse(client: Client) -> None:
    for path in ("/accounts/auth_requests/attach_account/", "/accounts/auth_tokens/"):
        response = client.http.post(
            path, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json() == error("BODY_JSON_DID_NOT_PARSE")
    empty = client.http.post("/accounts/auth_tokens/")
    assert empty.json() == error(
        "BODY_DID_NOT_VALIDATE", errors={"request_uuid": ["This field is required."]}
    )


def test_refused_id_tokens_attach_nothing(client: Client) -> None:
    request_uuid = client.create_request()
    email = new_email()
    refusals = {
        "garbage": "id token is malformed",
        OTHER_PROVIDER.id_token(email, kid=PROVIDER.kid): "id token signature is invalid",
        PROVIDER.id_token(email, aud="someone-else"): "id token audience is not accepted",
        PROVIDER.id_token(email, exp=int(time.time()) - 600): "id token has expired",
        PROVIDER.id_token(email, email_verified=False): "id token email is not verified",
    }
    for code, message in refusals.items():
        response = client.attach({"code": code, "email": email, "request_uuid": request_uuid})
        assert response.status_code == 400, response.text
        assert response.json() == error("AUTH_CODE_DID_NOT_VALIDATE", errors={"code": [message]})
        assert code not in response.text
    mismatch = client.attach(
        {"code": PROVIDER.id_token(email), "email": new_email(), "request_uuid": request_uuid}
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["@event"] == "EMAIL_MISMATCH_DETECTED"
    assert mismatch.json()["user_id"] == "anonymous"
    # Nothing was attached: the request still awaits its person.
    assert client.exchange(request_uuid).status_code == 404
    assert client.sign_in(request_uuid, email).status_code == 200
    assert client.exchange(request_uuid).status_code == 201


def test_another_account_cannot_take_over_an_attached_request(client: Client) -> None:
    request_uuid = client.create_request()
    first = new_email()
    assert client.sign_in(request_uuid, first).status_code == 200
    assert client.sign_in(request_uuid, first).status_code == 200  # a retry
    assert client.sign_in(request_uuid, new_email()).status_code == 404
    token = client.exchange(request_uuid).json()["token"]
    assert client.me(token).json()["email"] == first


def test_who_may_read_their_account(server: LiveServer, client: Client) -> None:
    anonymous = client.me(None)
    assert anonymous.status_code == 401
    assert anonymous.json() == error("COULD_NOT_FIND_AUTH_TOKEN", user_id=None)
    assert anonymous.headers["www-authenticate"] == "Bearer"
    # A hasura-face token, signed with the app secret itself, is not an account token.
    hasura = client.http.get("/accounts/me/", headers=server.auth("1", "admin"))
    assert hasura.status_code == 401
    for bad in ("garbage", "a.b.c"):
        assert client.me(bad).status_code == 401
    basic = client.http.get("/accounts/me/", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401

    researcher = client.me(client.token_for(new_email())).json()
    assert researcher["type"] == "RESEARCHER"
    admin_email = new_email()
    admin_id = server.cli("account", "create", "--email", admin_email, "--type", "ADMIN")
    admin = client.me(server.cli("account", "token", "--email", admin_email))
    assert admin.status_code == 200
    assert admin.json() == account_read(admin_email, int(admin_id), "ADMIN")
    # Signing in keeps an existing account's type.
    assert client.me(client.token_for(admin_email)).json()["type"] == "ADMIN"


async def test_a_token_dies_with_its_account_or_its_type(
    server: LiveServer, client: Client
) -> None:
    settings = Settings(
        data_dir=server.data_dir,
        database_url=server.env.get("FILEDOCK_DATABASE_URL", ""),
        jwt_secret=server.secret,
    )
    engine = create_engine(settings.resolved_database_url)
    accounts = account_service(settings, session_factory(engine))
    try:
        promoted_email, removed_email = new_email(), new_email()
        promoted_token = client.token_for(promoted_email)
        removed_token = client.token_for(removed_email)
        promoted = await accounts.find_by_email(promoted_email)
        await accounts.change_type(promoted.id, AccountType.ADMIN)
        await accounts.remove((await accounts.find_by_email(removed_email)).id)
    finally:
        await engine.dispose()
    for token in (promoted_token, removed_token):
        response = client.me(token)
        assert response.status_code == 401
        assert response.json() == error("COULD_NOT_FIND_AUTH_TOKEN", user_id=None)
    assert client.me(client.token_for(promoted_email)).json()["type"] == "ADMIN"


def test_the_sign_in_page_is_strict_and_complete(server: LiveServer, client: Client) -> None:
    request_uuid = client.create_request()
    page = client.page(request_uuid)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (page.headers["x-frame-options"], page.headers["cache-control"]) == ("DENY", "no-store")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", policy["script-src"])
    assert nonce is not None
    assert policy["default-src"] == "'none'"
    assert (
        policy["script-src"] == f"'nonce-{nonce.group(1)}' https://accounts.google.com/gsi/client"
    )
    assert policy["frame-src"] == "https://accounts.google.com/gsi/"
    assert policy["connect-src"] == "'self' https://accounts.google.com/gsi/"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in page.headers["content-security-policy"]

    html = page.text
    assert "FIXME" not in html
    assert html.count(f'nonce="{nonce.group(1)}"') == 2  # the one style and the one script
    config = re.search(
        r'<script type="application/json" id="filedock-config">(.*?)</script>', html, re.S
    )
    assert config is not None
    assert json.loads(config.group(1)) == {
        "requestUuid": request_uuid,
        "clientId": PROVIDER.client_id,
        "attachUrl": "/accounts/auth_requests/attach_account/",
    }
    for needed in ("window.filedockSignedIn", 'id="done"', 'id="failed"', 'id="failed-event"'):
        assert needed in html
    assert "google.accounts.id.initialize" in html and "response.credential" in html
    # Every other request gets a fresh nonce.
    assert nonce.group(1) not in client.page(request_uuid).headers["content-security-policy"]


def test_pages_for_malformed_unknown_and_spent_requests(client: Client) -> None:
    malformed = client.page("some-uuid")
    assert malformed.status_code == 400 and "not valid" in malformed.text
    assert malformed.headers["content-type"].startswith("text/html")
    assert malformed.headers["x-frame-options"] == "DENY"
    unknown = client.page(str(uuid.uuid4()))
    assert unknown.status_code == 404 and "unknown" in unknown.text
    assert "<script" not in unknown.text
    script = client.page("<script>alert(1)</script>")
    assert script.status_code in (400, 404) and "<script>alert" not in script.text


# The SQL stores alone, on SQLite and PostgreSQL: racing calls, one winner.


async def test_sql_stores_let_one_of_racing_calls_win(migrated_engine: AsyncEngine) -> None:
    sessions = session_factory(migrated_engine)
    accounts, requests = SqlAccountStore(sessions), SqlAuthRequestStore(sessions)
    now = datetime.now(UTC)
    ann = await accounts.insert("ann@example.org", AccountType.RESEARCHER, now)
    bob = await accounts.insert("bob@example.org", AccountType.ADMIN, now)
    assert bob.id > ann.id and await accounts.get(bob.id) == bob
    with pytest.raises(EmailTaken):
        await accounts.insert("ann@example.org", AccountType.ADMIN, now)
    request = AuthRequest(str(uuid.uuid4()), now, now + timedelta(minutes=10))
    await requests.insert(request)
    attached = await asyncio.gather(
        *(requests.attach(request.uuid, who.id, now) for who in (ann, bob, ann, bob))
    )
    exchanged = await asyncio.gather(*(requests.exchange(request.uuid, now) for _ in range(4)))
    assert attached.count(True) == 1 and exchanged.count(True) == 1
    owner = (await requests.get(request.uuid)).account_id  # type: ignore[union-attr]
    assert await accounts.delete(owner) and await requests.get(request.uuid) is None
    assert not await accounts.delete(owner)
    assert await requests.purge(now + timedelta(minutes=11)) == 0


# The expiry of auth requests, on a server whose requests live 1.2 seconds.


@pytest.fixture(scope="module")
def hurried_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("hurried")
    env = server_env(data_dir, **PROVIDER.settings_in(data_dir), auth_request_minutes="0.02")
    live = LiveServer(data_dir=data_dir, env=env)
    live.start()
    yield live
    live.stop()


def test_an_expired_auth_request_is_detected_as_in_the_seed(hurried_server: LiveServer) -> None:
    client = Client(hurried_server, PROVIDER)
    request_uuid = client.create_request()
    time.sleep(1.5)
    expired = error("EXPIRED_AUTH_REQUEST_DETECTED", user_id=None)
    response = client.exchange(request_uuid)
    assert response.status_code == 400 and response.json() == expired
    attach = client.sign_in(request_uuid, new_email())
    assert attach.status_code == 400 and attach.json() == expired
    page = client.page(request_uuid)
    assert page.status_code == 404 and "expired" in page.text


# An unexpected failure, provoked in an otherwise real app (SQLite, real request handling).


class ExplodingAccounts:
    async def get(self, account_id: int) -> Any:
        raise RuntimeError("password=hunter2 in /srv/secret")

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


async def test_an_unexpected_error_is_generic_with_the_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with in_process_app(tmp_path, monkeypatch) as app:
        account = await app.runtime.services.accounts.create("ann@example.org", AccountType.ADMIN)
        token = app.runtime.services.accounts.issue_token(account)
        app.runtime.services.accounts._store = ExplodingAccounts()  # type: ignore[assignment]
        with caplog.at_level(logging.ERROR):
            response = await app.http.get(
                "/accounts/me/", headers={"Authorization": f"Bearer {token}"}
            )
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == error(
        "GENERIC_ERROR_OCCURRED",
        errors=[f"An unexpected error occurred (request id {request_id})."],
    )
    assert "hunter2" not in response.text and token not in caplog.text
    assert any("hunter2" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
