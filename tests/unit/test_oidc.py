"""The OpenID Connect ID-token check: every refusal, each named, none leaking the token."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from filedock.auth.oidc import (
    GOOGLE_ISSUER,
    GOOGLE_JWKS_URL,
    OidcVerifier,
    SignInNotConfigured,
)
from filedock.auth.tokens import JwksKeys
from filedock.config import SettingsError, load_settings
from filedock.core.accounts import AccountService, AccountTokens
from filedock.core.auth_requests import AuthRequestService, EmailMismatch, IdTokenRefused
from filedock.runtime import oidc_verifier
from tests.fixtures.oidc import CLIENT_ID, OidcProvider
from tests.unit.memory_accounts import MemoryAccounts, MemoryAuthRequests
from tests.unit.token_support import SECRET, forge_hs256

PROVIDER = OidcProvider.create()
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EMAIL = "ann@example.org"


def verifier_for(provider: OidcProvider, *, issuer: str | None = None) -> OidcVerifier:
    keys = JwksKeys(provider.jwks_document, refetch_interval_seconds=3600)
    return OidcVerifier(keys, issuer or provider.issuer, provider.client_id)


@pytest.fixture
def verifier() -> OidcVerifier:
    return verifier_for(PROVIDER)


def refusal(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(IdTokenRefused) as refused:
        verifier.verify_now(token)
    assert token not in refused.value.message
    return refused.value.message


async def test_a_good_token_names_its_subject_and_email(verifier: OidcVerifier) -> None:
    identity = await verifier.verify(PROVIDER.id_token(EMAIL))
    assert identity.email == EMAIL and identity.subject == PROVIDER.subjects[EMAIL]
    # email_verified as the string "true" (some providers) and several audiences with us
    # as the authorized party are fine too.
    verifier.verify_now(PROVIDER.id_token(EMAIL, email_verified="true"))
    verifier.verify_now(PROVIDER.id_token(EMAIL, aud=[CLIENT_ID, "other"], azp=CLIENT_ID))


def test_algorithm_none_and_hs256_with_the_public_key_are_refused(verifier: OidcVerifier) -> None:
    claims = PROVIDER.claims(EMAIL)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": PROVIDER.kid})
    assert refusal(verifier, unsigned) == "id token algorithm is not accepted"
    public_pem = PROVIDER.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = forge_hs256(claims, public_pem, kid=PROVIDER.kid)
    assert refusal(verifier, confused) == "id token algorithm is not accepted"


def test_unknown_kid_and_foreign_keys_are_refused(verifier: OidcVerifier) -> None:
    assert refusal(verifier, PROVIDER.id_token(EMAIL, kid="unknown")) == "id token key is unknown"
    assert refusal(verifier, PROVIDER.id_token(EMAIL, key=OTHER_KEY)) == (
        "id token signature is invalid"
    )
    no_kid = jwt.encode(PROVIDER.claims(EMAIL), PROVIDER.key, algorithm="RS256")
    assert refusal(verifier, no_kid) == "id token has no key id"


@pytest.mark.parametrize("token", ["", "   ", "garbage", "a.b.c"])
def test_malformed_tokens_are_refused(verifier: OidcVerifier, token: str) -> None:
    with pytest.raises(IdTokenRefused):
        verifier.verify_now(token)


def test_times_are_checked_with_a_small_leeway(verifier: OidcVerifier) -> None:
    now = int(time.time())
    assert refusal(verifier, PROVIDER.id_token(EMAIL, exp=now - 31)) == "id token has expired"
    verifier.verify_now(PROVIDER.id_token(EMAIL, exp=now - 10))
    future = PROVIDER.id_token(EMAIL, iat=now + 120)
    assert refusal(verifier, future) == "id token is not yet valid"
    assert refusal(verifier, PROVIDER.id_token(EMAIL, nbf=now + 120)) == "id token is not yet valid"
    assert (
        refusal(verifier, PROVIDER.id_token(EMAIL, iat=None)) == "id token has no valid iat claim"
    )
    assert (
        refusal(verifier, PROVIDER.id_token(EMAIL, exp=None)) == "id token has no valid exp claim"
    )


def test_issuer_audience_and_authorized_party_are_ours(verifier: OidcVerifier) -> None:
    wrong_iss = PROVIDER.id_token(EMAIL, iss="https://evil.example")
    assert refusal(verifier, wrong_iss) == "id token issuer is not accepted"
    assert (
        refusal(verifier, PROVIDER.id_token(EMAIL, iss=None)) == "id token issuer is not accepted"
    )
    wrong_aud = PROVIDER.id_token(EMAIL, aud="another-client")
    assert refusal(verifier, wrong_aud) == "id token audience is not accepted"
    assert (
        refusal(verifier, PROVIDER.id_token(EMAIL, aud=None)) == "id token audience is not accepted"
    )
    shared = PROVIDER.id_token(EMAIL, aud=[CLIENT_ID, "other"], azp="other")
    assert refusal(verifier, shared) == "id token authorized party is not accepted"


def test_the_email_must_be_there_and_verified(verifier: OidcVerifier) -> None:
    for unverified in (False, "false", None, 1):
        token = PROVIDER.id_token(EMAIL, email_verified=unverified)
        assert refusal(verifier, token) == "id token email is not verified"
    assert refusal(verifier, PROVIDER.id_token(EMAIL, email=None)) == "id token names no email"
    assert refusal(verifier, PROVIDER.id_token(EMAIL, sub=None)) == "id token has no subject"


def test_googles_issuer_is_accepted_in_both_its_forms_only_for_google() -> None:
    google = OidcProvider.create(issuer=GOOGLE_ISSUER)
    verifier = verifier_for(google)
    verifier.verify_now(google.id_token(EMAIL))
    verifier.verify_now(google.id_token(EMAIL, iss="accounts.google.com"))
    other = verifier_for(PROVIDER)
    bare = PROVIDER.id_token(EMAIL, iss=PROVIDER.issuer.removeprefix("https://"))
    assert refusal(other, bare) == "id token issuer is not accepted"


async def test_an_email_other_than_the_tokens_is_a_mismatch(verifier: OidcVerifier) -> None:
    accounts = AccountService(MemoryAccounts(), AccountTokens.from_app_secret(SECRET))
    service = AuthRequestService(MemoryAuthRequests(), accounts, verifier)
    request = await service.create()
    with pytest.raises(EmailMismatch):
        await service.attach(PROVIDER.id_token(EMAIL), "bob@example.org", request.uuid)
    attached = await service.attach(PROVIDER.id_token(EMAIL), "ANN@example.org", request.uuid)
    assert attached.email == EMAIL


# Settings: sign-in is off without a client id; a non-Google issuer needs its own keys.


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("FILEDOCK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FILEDOCK_DATA_DIR", str(tmp_path))
    return monkeypatch


async def test_without_a_client_id_every_token_is_refused(clean_env: Any) -> None:
    clean_env.setenv("FILEDOCK_OIDC_CLIENT_ID", "  ")
    settings = load_settings()
    assert settings.oidc_client_id is None
    assert (settings.oidc_issuer, settings.oidc_jwks_url) == (GOOGLE_ISSUER, GOOGLE_JWKS_URL)
    assert settings.auth_request_minutes == 10 and settings.account_token_hours == 24
    verifier = oidc_verifier(settings)
    assert isinstance(verifier, SignInNotConfigured)
    with pytest.raises(IdTokenRefused, match="not configured"):
        await verifier.verify(PROVIDER.id_token(EMAIL))


def test_configured_settings_make_a_verifier_that_trusts_the_provider(
    clean_env: Any, tmp_path: Path
) -> None:
    for name, value in PROVIDER.settings_in(tmp_path).items():
        clean_env.setenv(f"FILEDOCK_{name.upper()}", value)
    clean_env.setenv("FILEDOCK_AUTH_REQUEST_MINUTES", "0.02")
    settings = load_settings()
    assert settings.auth_request_minutes == 0.02
    verifier = oidc_verifier(settings)
    assert isinstance(verifier, OidcVerifier)
    assert verifier.verify_now(PROVIDER.id_token(EMAIL)).email == EMAIL


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"OIDC_ISSUER": "https://oidc.example", "OIDC_CLIENT_ID": "x"}, "FILEDOCK_OIDC_JWKS_URL"),
        ({"OIDC_ISSUER": "accounts.google.com"}, "FILEDOCK_OIDC_ISSUER"),
        ({"AUTH_REQUEST_MINUTES": "0"}, "FILEDOCK_AUTH_REQUEST_MINUTES"),
        ({"ACCOUNT_TOKEN_HOURS": "nan"}, "FILEDOCK_ACCOUNT_TOKEN_HOURS"),
    ],
)
def test_bad_sign_in_settings_stop_start_up_naming_the_variable(
    clean_env: Any, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        clean_env.setenv(f"FILEDOCK_{name}", value)
    with pytest.raises(SettingsError, match=named):
        load_settings()
