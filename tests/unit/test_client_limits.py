"""Who a client is for per-address limits, and the shared secrets of trusted callers."""

from __future__ import annotations

import pytest

from filedock.core.errors import NotFound, Unauthenticated
from filedock.core.operations import SharedSecret
from filedock.core.rate_limit import client_address

PROXY = "10.0.0.2"
EDGE = "10.0.0.3"


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", frozenset()) == "203.0.113.9"
    assert client_address("203.0.113.9", "198.51.100.1", frozenset({PROXY})) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client_it_got_the_request_from() -> None:
    trusted = frozenset({PROXY, EDGE})
    assert client_address(PROXY, "198.51.100.1", trusted) == "198.51.100.1"
    # The client wrote the left part itself: only the hop a trusted proxy added counts.
    assert client_address(PROXY, "6.6.6.6, 198.51.100.1", trusted) == "198.51.100.1"
    assert client_address(PROXY, "198.51.100.1, 10.0.0.3", trusted) == "198.51.100.1"
    assert client_address(PROXY, f"{EDGE}, {PROXY}", trusted) == PROXY
    assert client_address(PROXY, None, trusted) == PROXY
    assert client_address(None, "198.51.100.1", trusted) == "unknown"


def test_a_shared_secret_lets_in_only_its_bearer() -> None:
    secret = SharedSecret("a-long-enough-secret", "metrics")
    secret.check("Bearer a-long-enough-secret")
    secret.check("bearer a-long-enough-secret")
    for wrong in (None, "", "Bearer", "Bearer nope", "Basic a-long-enough-secret"):
        with pytest.raises(Unauthenticated):
            secret.check(wrong)


def test_without_a_secret_the_door_is_shut_unless_configured_open() -> None:
    with pytest.raises(NotFound):
        SharedSecret(None, "bucket notifications").check("Bearer anything")
    SharedSecret(None, "metrics", open_without_secret=True).check(None)
