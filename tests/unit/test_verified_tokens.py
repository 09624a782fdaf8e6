"""A verified HS256 token is remembered until it expires, never beyond (auth/verified_tokens)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from filedock.auth import BearerVerifier, issue_token
from filedock.auth.verified_tokens import VerifiedTokens
from filedock.core.errors import Unauthenticated
from filedock.core.principal import Principal
from tests.unit.token_support import SECRET, Clock


def test_a_remembered_token_expires_with_its_exp_claim() -> None:
    # Issued 2 s short of expiring, no leeway: accepted now (and remembered), refused after.
    token = issue_token(
        SECRET, "u1", "user", timedelta(hours=1), now=datetime.now(UTC) - timedelta(seconds=3598)
    )
    verifier = BearerVerifier(secret=SECRET, leeway_seconds=0)
    assert verifier.verify(token).user_id == "u1"
    assert verifier.verify(token).user_id == "u1"  # the remembered answer
    time.sleep(2.5)
    with pytest.raises(Unauthenticated, match="token has expired"):
        verifier.verify(token)


def test_a_refused_token_is_never_remembered() -> None:
    verifier = BearerVerifier(secret=SECRET)
    good = issue_token(SECRET, "u1", "user", timedelta(hours=1))
    forged = jwt.encode(
        {"sub": "u1", "exp": int(time.time()) + 3600}, "another-secret" * 4, algorithm="HS256"
    )
    assert verifier.verify(good).user_id == "u1"
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="signature"):
            verifier.verify(forged)


def test_remembered_principal_is_the_verified_one() -> None:
    verifier = BearerVerifier(secret=SECRET)
    token = issue_token(SECRET, "u1", "editor", timedelta(hours=1), email="u1@example.org")
    assert verifier.verify(token) == verifier.verify(token) == Principal(
        realm="bearer", user_id="u1", role="editor", email="u1@example.org"
    )


def test_the_store_forgets_the_oldest_beyond_its_capacity_and_the_expired() -> None:
    clock = Clock()
    tokens = VerifiedTokens(capacity=2, clock=clock)
    someone = Principal(realm="bearer", user_id="u", role="user")
    tokens.remember("a", someone, 10)
    tokens.remember("b", someone, 10)
    tokens.remember("c", someone, 10)
    assert len(tokens) == 2
    assert tokens.get("a") is None
    assert tokens.get("c") == someone
    clock.now = 10
    assert tokens.get("c") is None  # valid only before its bound
    assert len(tokens) == 1


def test_a_valid_token_is_checked_by_pyjwt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    decode = jwt.decode
    calls: list[str] = []

    def counted(token: str, *args: object, **kwargs: object) -> object:
        calls.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counted)
    verifier = BearerVerifier(secret=SECRET)
    token = issue_token(SECRET, "u1", "user", timedelta(hours=1))
    for _ in range(3):
        verifier.verify(token)
    assert calls == [token]
