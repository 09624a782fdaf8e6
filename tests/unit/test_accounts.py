"""Accounts and their Bearer tokens: issued for an account, refused once it changed or went."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from types import SimpleNamespace

import httpx
import jwt
import pytest
from fastapi import FastAPI

from filedock.auth.tokens import BearerVerifier, issue_token
from filedock.core.account_model import AccountType
from filedock.core.accounts import (
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    AccountService,
    AccountTokens,
    admin_only,
    parse_account_type,
)
from filedock.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from filedock.core.principal import ADMIN_ROLE
from filedock.faces.cosphere.auth import CosphereAccount, CosphereAdmin
from filedock.faces.cosphere.envelope import render, render_account, render_error
from filedock.faces.errors import face_router
from tests.unit.memory_accounts import MemoryAccounts, SteppedClock
from tests.unit.token_support import SECRET


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def store() -> MemoryAccounts:
    return MemoryAccounts()


@pytest.fixture
def service(store: MemoryAccounts, clock: SteppedClock) -> AccountService:
    return AccountService(
        store, AccountTokens.from_app_secret(SECRET), token_lifetime=timedelta(hours=1), clock=clock
    )


async def test_accounts_are_kept_by_normalized_email_with_increasing_ids(
    service: AccountService,
) -> None:
    ann = await service.create("  Ann@Example.ORG ", AccountType.ADMIN)
    bob = await service.create("bob@example.org", AccountType.RESEARCHER)
    assert (ann.id, ann.email, ann.type) == (1, "ann@example.org", AccountType.ADMIN)
    assert bob.id == 2
    assert await service.find_by_email("ANN@example.org") == ann
    assert await service.get(2) == bob
    with pytest.raises(Conflict):
        await service.create("ann@example.org", AccountType.RESEARCHER)
    with pytest.raises(NotFound):
        await service.find_by_email("nobody@example.org")
    with pytest.raises(NotFound):
        await service.get(99)


@pytest.mark.parametrize(
    "email", ["", "ann", "ann@", "@example.org", "ann@example", "a b@example.org", "ann@@x.org"]
)
async def test_a_bad_email_is_refused_in_drf_words(service: AccountService, email: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await service.create(email, AccountType.RESEARCHER)
    assert refused.value.fields == {"email": ["Enter a valid email address."]}


async def test_find_or_create_makes_new_people_researchers_once(
    service: AccountService, store: MemoryAccounts
) -> None:
    first = await service.find_or_create_by_email("new@example.org")
    again = await service.find_or_create_by_email("NEW@example.org")
    assert first == again and first.type is AccountType.RESEARCHER
    assert len(store.accounts) == 1
    admin = await service.create("boss@example.org", AccountType.ADMIN)
    assert await service.find_or_create_by_email("boss@example.org") == admin


async def test_principal_and_admin_only(service: AccountService) -> None:
    admin = await service.create("boss@example.org", AccountType.ADMIN)
    researcher = await service.create("ann@example.org", AccountType.RESEARCHER)
    assert admin.principal.is_admin and admin.principal.role == ADMIN_ROLE
    assert admin.principal.user_id == str(admin.id)
    assert admin.principal.email == "boss@example.org"
    assert not researcher.principal.is_admin and researcher.principal.role == "researcher"
    assert admin_only(admin) == admin
    with pytest.raises(Forbidden):
        admin_only(researcher)


def test_account_types_parse_case_insensitively() -> None:
    assert parse_account_type("admin") is AccountType.ADMIN
    assert parse_account_type(" RESEARCHER ") is AccountType.RESEARCHER
    with pytest.raises(InvalidInput):
        parse_account_type("owner")


async def test_a_token_carries_the_seeds_claims_and_authenticates(
    service: AccountService, clock: SteppedClock
) -> None:
    account = await service.create("ann@example.org", AccountType.ADMIN)
    token = service.issue_token(account)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["id"] == account.id and claims["email"] == "ann@example.org"
    assert claims["type"] == "ADMIN" and claims["iss"] == TOKEN_ISSUER
    assert claims["aud"] == TOKEN_AUDIENCE
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert await service.authenticate(token) == account
    assert await service.authenticate(f"  {token} ") == account


async def test_an_expired_token_is_refused(service: AccountService, clock: SteppedClock) -> None:
    token = service.issue_token(await service.create("ann@example.org", AccountType.ADMIN))
    clock.advance(minutes=59)
    await service.authenticate(token)
    clock.advance(minutes=1)
    with pytest.raises(Unauthenticated):
        await service.authenticate(token)


async def test_a_tampered_token_is_refused(service: AccountService) -> None:
    await service.create("ann@example.org", AccountType.RESEARCHER)
    admin = await service.create("boss@example.org", AccountType.ADMIN)
    token = service.issue_token(await service.find_by_email("ann@example.org"))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(id=admin.id, email=admin.email, type="ADMIN")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for bad in (
        f"{header}.{forged}.{signature}",
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
    ):
        with pytest.raises(Unauthenticated):
            await service.authenticate(bad)


@pytest.mark.parametrize("bearer", [None, "", "   ", "not-a-jwt", "a.b.c"])
async def test_missing_or_malformed_tokens_are_refused(
    service: AccountService, bearer: str | None
) -> None:
    with pytest.raises(Unauthenticated):
        await service.authenticate(bearer)


async def test_tokens_of_other_keys_issuers_or_algorithms_are_refused(
    service: AccountService, clock: SteppedClock
) -> None:
    account = await service.create("ann@example.org", AccountType.ADMIN)
    now = int(clock.now.timestamp())
    claims = {
        "id": account.id,
        "email": account.email,
        "type": "ADMIN",
        "iat": now,
        "exp": now + 600,
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
    }
    # The app secret itself is not the key: a token signed with it (as a hasura token is)
    # is refused, and so are tokens with another issuer, audience, or algorithm `none`.
    refused = [
        jwt.encode(claims, SECRET, algorithm="HS256"),
        jwt.encode({**claims, "iss": "someone-else"}, service._tokens._key, algorithm="HS256"),
        jwt.encode({**claims, "aud": "someone-else"}, service._tokens._key, algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),
        issue_token(SECRET, str(account.id), "admin", timedelta(hours=1), email=account.email),
    ]
    for token in refused:
        with pytest.raises(Unauthenticated):
            await service.authenticate(token)


async def test_the_hasura_verifier_never_accepts_an_account_token(service: AccountService) -> None:
    token = service.issue_token(await service.create("ann@example.org", AccountType.ADMIN))
    with pytest.raises(Unauthenticated):
        BearerVerifier(secret=SECRET).verify(token)


async def test_a_token_stops_working_when_its_account_is_removed(service: AccountService) -> None:
    account = await service.create("ann@example.org", AccountType.RESEARCHER)
    token = service.issue_token(account)
    await service.remove(account.id)
    with pytest.raises(Unauthenticated):
        await service.authenticate(token)
    with pytest.raises(NotFound):
        await service.remove(account.id)
    # A new account with the same email gets a new id: the old token does not name it.
    await service.create("ann@example.org", AccountType.RESEARCHER)
    with pytest.raises(Unauthenticated):
        await service.authenticate(token)


async def test_a_token_stops_working_when_its_account_changes_type(
    service: AccountService,
) -> None:
    account = await service.create("ann@example.org", AccountType.RESEARCHER)
    token = service.issue_token(account)
    promoted = await service.change_type(account.id, AccountType.ADMIN)
    assert promoted.type is AccountType.ADMIN
    with pytest.raises(Unauthenticated):
        await service.authenticate(token)
    assert await service.authenticate(service.issue_token(promoted)) == promoted
    with pytest.raises(NotFound):
        await service.change_type(99, AccountType.ADMIN)


def test_token_keys_must_be_long_and_lifetimes_positive(store: MemoryAccounts) -> None:
    with pytest.raises(ValueError):
        AccountTokens(b"short")
    with pytest.raises(ValueError):
        AccountTokens.from_app_secret("")
    with pytest.raises(ValueError):
        AccountService(store, AccountTokens.from_app_secret(SECRET), token_lifetime=timedelta(0))


# The face's dependencies and envelope, on an in-process app with the service above.


@pytest.fixture
def probe_app(service: AccountService) -> FastAPI:
    router = face_router(render_error, prefix="/probe")

    @router.get("/me")
    async def me(account: CosphereAccount) -> object:
        return render("ACCOUNT_READ", "account", **render_account(account))

    @router.get("/admin")
    async def admin(account: CosphereAdmin) -> object:
        return render("PROBED", "empty")

    @router.get("/boom")
    async def boom(account: CosphereAccount) -> object:
        raise RuntimeError("password=hunter2")

    app = FastAPI()
    app.include_router(router)
    app.state.services = SimpleNamespace(accounts=service)
    return app


async def test_dependencies_answer_401_403_and_500_in_the_envelope(
    probe_app: FastAPI, service: AccountService
) -> None:
    admin = await service.create("boss@example.org", AccountType.ADMIN)
    researcher = await service.create("ann@example.org", AccountType.RESEARCHER)
    transport = httpx.ASGITransport(app=probe_app, raise_app_exceptions=False)

    def bearer(account: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {service.issue_token(account)}"}  # type: ignore[arg-type]

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        anonymous = await client.get("/probe/admin")
        assert anonymous.status_code == 401
        assert anonymous.json() == {
            "@event": "COULD_NOT_FIND_AUTH_TOKEN",
            "@type": "error",
            "user_id": None,
        }
        denied = await client.get("/probe/admin", headers=bearer(researcher))
        assert denied.status_code == 403
        assert denied.json() == {
            "@event": "ACCESS_DENIED",
            "@type": "error",
            "user_id": researcher.id,
        }
        allowed = await client.get("/probe/admin", headers=bearer(admin))
        assert allowed.status_code == 200 and allowed.json()["@event"] == "PROBED"
        me = await client.get("/probe/me", headers=bearer(researcher))
        assert me.json()["email"] == "ann@example.org"
        boom = await client.get("/probe/boom", headers=bearer(admin))
        assert boom.status_code == 500 and "hunter2" not in boom.text
        body = boom.json()
        assert body["@event"] == "GENERIC_ERROR_OCCURRED" and body["@type"] == "error"
        assert body["user_id"] == admin.id and len(body["errors"]) == 1
