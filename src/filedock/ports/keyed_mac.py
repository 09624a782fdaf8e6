"""HMAC-SHA256 under one key, keyed once and computed without letting go of the GIL.

`hmac.digest(key, message, "sha256")` is OpenSSL's one-shot HMAC, and on Python 3.11 it
releases the GIL around it, whatever the message's length. In a served worker, whose HTTP
threads wait for the GIL, each release hands the interpreter over and back: with two MACs a
signed URL, waking the waiting thread was a tenth of the serving thread's CPU under load
(docs/benchmarks.md, perf). An HMAC object's `update` keeps the GIL for messages under 2 KiB,
and copying one keyed object skips the key set-up too: 1.4 µs a MAC against the one-shot's
2.4 µs, before any hand-over.
"""

from __future__ import annotations

import hmac


class KeyedMac:
    """HMAC-SHA256 with a fixed key; safe to share between threads (each call copies)."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod="sha256")

    def digest(self, message: bytes) -> bytes:
        """The 32-byte MAC of `message`, equal to `hmac.digest(key, message, "sha256")`."""
        mac = self._keyed.copy()
        mac.update(message)
        return mac.digest()
