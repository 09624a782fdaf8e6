"""`validate_key`: the one-pass check of common keys agrees with the full rules."""

from __future__ import annotations

import itertools

from filedock.ports import keys
from filedock.ports.keys import MAX_KEY_BYTES, MAX_SEGMENT_BYTES, validate_key
from filedock.ports.objectstore import InvalidKey


def _by_the_full_rules(key: str) -> bool:
    """What the rules say, without the one-pass shortcut."""
    try:
        keys._check_characters(key)
        if len(key.encode("utf-8")) > MAX_KEY_BYTES or key.startswith("/"):
            return False
        for segment in key.split("/"):
            keys._check_segment(segment)
    except InvalidKey:
        return False
    return True


PIECES = ["a", "A9", "-x", "_", ".", "..", ".h", "x.y", "", "/", "é", "\\", "\x00", "\x7f", " "]
LONG = [
    "s" * MAX_SEGMENT_BYTES,
    "s" * (MAX_SEGMENT_BYTES + 1),
    "/".join(["k" * 100] * 10),  # 1,009 bytes
    "/".join(["k" * 100] * 11),  # 1,110 bytes
    "é" * 128,  # 128 characters, 256 bytes in one segment
]


KEYS = ["".join(parts) for parts in itertools.product(PIECES, repeat=3)] + LONG


def _accepted(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return True


def test_every_key_is_judged_as_the_full_rules_judge_it() -> None:
    assert len(KEYS) == 3380
    judged_otherwise = [key for key in KEYS if _accepted(key) != _by_the_full_rules(key)]
    assert judged_otherwise == []
    assert sum(map(_accepted, KEYS)) > 100  # and many of them are keys the fast path takes


def test_a_plain_key_is_returned_unchanged() -> None:
    key = "incoming/0196f2c4-7a1b-8c2d-9e3f-a4b5c6d7e8f9/report.pdf"
    assert validate_key(key) is key
