"""Keys fetched from a JWKS URL are held for a maximum age, then fetched again: a key the
identity provider withdraws stops being trusted without a restart. A real HTTP server
publishes the JWKS; the test's clock stands in for the hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from filedock.auth import BearerVerifier, JwksKeys
from filedock.core.errors import Unauthenticated
from tests.unit.token_support import Clock, JwksServer, rs256

MAX_AGE = 3600.0
GRACE = 900.0


@pytest.fixture(scope="module")
def keys() -> list[Any]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def verifier(idp: JwksServer, clock: Clock) -> BearerVerifier:
    jwks = JwksKeys.from_location(
        idp.url, max_age_seconds=MAX_AGE, stale_grace_seconds=GRACE, clock=clock
    )
    return BearerVerifier(jwks=jwks)


def test_a_withdrawn_key_is_refused_once_the_held_keys_reach_their_max_age(
    idp: JwksServer, clock: Clock, keys: list[Any]
) -> None:
    idp.publish({"old": keys[0].public_key(), "new": keys[1].public_key()})
    bearer = verifier(idp, clock)
    old_token = rs256(keys[0], "old", {"sub": "ann"})
    new_token = rs256(keys[1], "new", {"sub": "bob"})
    assert bearer.verify(old_token).user_id == "ann"
    idp.publish({"new": keys[1].public_key()})  # the provider withdraws `old`
    clock.now = MAX_AGE - 1
    assert bearer.verify(old_token).user_id == "ann"  # held, and not yet too old
    assert idp.fetches == 1
    clock.now = MAX_AGE
    with pytest.raises(Unauthenticated, match="token key is unknown"):
        bearer.verify(old_token)
    assert bearer.verify(new_token).user_id == "bob"
    assert idp.fetches == 2


def test_keys_younger_than_their_max_age_are_not_fetched_again(
    idp: JwksServer, clock: Clock, keys: list[Any]
) -> None:
    idp.publish({"k": keys[0].public_key()})
    bearer = verifier(idp, clock)
    token = rs256(keys[0], "k", {"sub": "ann"})
    for now in (0.0, 60.0, 1800.0, MAX_AGE - 0.5):
        clock.now = now
        bearer.verify(token)
    assert idp.fetches == 1


def test_held_keys_serve_a_bounded_grace_while_the_provider_is_down(
    idp: JwksServer, clock: Clock, keys: list[Any]
) -> None:
    idp.publish({"k": keys[0].public_key()})
    bearer = verifier(idp, clock)
    token = rs256(keys[0], "k", {"sub": "ann"})
    bearer.verify(token)
    idp.status = 503
    clock.now = MAX_AGE
    # A JWKS outage at the hour mark must not sign every user out at once...
    assert bearer.verify(token).user_id == "ann"
    assert idp.fetches == 2
    clock.now = MAX_AGE + 1
    bearer.verify(token)
    assert idp.fetches == 2  # ...nor hammer the provider: retried every few seconds at most
    clock.now = MAX_AGE + 30
    bearer.verify(token)
    assert idp.fetches == 3
    # ...but keys that cannot be checked against the provider are not trusted for ever.
    clock.now = MAX_AGE + GRACE
    with pytest.raises(Unauthenticated, match="token keys are unavailable"):
        bearer.verify(token)
    idp.status = 200
    clock.now += 60
    assert bearer.verify(token).user_id == "ann"


def test_a_jwks_file_is_read_again_after_the_max_age(
    tmp_path: Any, clock: Clock, keys: list[Any]
) -> None:
    from tests.unit.token_support import write_jwks

    path = write_jwks(tmp_path, {"old": keys[0].public_key()})
    jwks = JwksKeys.from_location(str(path), max_age_seconds=MAX_AGE, clock=clock)
    bearer = BearerVerifier(jwks=jwks)
    token = rs256(keys[0], "old", {"sub": "ann"})
    bearer.verify(token)
    write_jwks(tmp_path, {"new": keys[1].public_key()})
    clock.now = MAX_AGE
    with pytest.raises(Unauthenticated, match="token key is unknown"):
        bearer.verify(token)


def test_the_max_age_must_be_positive(idp: JwksServer) -> None:
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="max_age_seconds"):
            JwksKeys.from_location(idp.url, max_age_seconds=bad)
