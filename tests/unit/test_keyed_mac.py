"""KeyedMac: the same MAC as the one-shot HMAC, from one keyed object shared by threads."""

from __future__ import annotations

import hmac
import os
from concurrent.futures import ThreadPoolExecutor

from filedock.ports.keyed_mac import KeyedMac


def test_keyed_mac_equals_one_shot_hmac_sha256_for_short_and_long_messages() -> None:
    key = os.urandom(32)
    mac = KeyedMac(key)
    for length in (0, 1, 63, 64, 65, 150, 2047, 2048, 100_000):
        message = os.urandom(length)
        assert mac.digest(message) == hmac.digest(key, message, "sha256"), length


def test_each_digest_starts_from_the_key_alone_so_earlier_messages_never_leak_in() -> None:
    key = os.urandom(32)
    mac = KeyedMac(key)
    mac.digest(b"first message")
    assert mac.digest(b"second") == hmac.digest(key, b"second", "sha256")


def test_one_keyed_mac_shared_by_threads_gives_each_message_its_own_mac() -> None:
    key = os.urandom(32)
    mac = KeyedMac(key)
    messages = [os.urandom(n % 300) for n in range(2000)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(mac.digest, messages))
    assert got == [hmac.digest(key, message, "sha256") for message in messages]
