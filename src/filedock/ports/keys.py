"""Rules every object store backend applies to what it is handed: keys, prefixes, size limits.

They live apart from the backends so that a key or an upload refused by one backend is refused
by all of them in the same way.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterable

from filedock.ports.objectstore import InvalidKey, ObjectTooLarge

MAX_KEY_BYTES = 1024
"""S3's own limit on a key, applied everywhere so that a key valid on disk is valid on S3."""

MAX_SEGMENT_BYTES = 255
"""NAME_MAX of common file systems: a longer segment could not be stored by the local backend."""


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a safe storage key, else raise `InvalidKey`.

    A safe key is a relative, `/`-separated path whose segments are non-empty, are not `.` or
    `..`, do not start with `.` (backends keep their own files under such names), and contain no
    backslash, NUL or other control character.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("a key must be a non-empty string")
    if len(key) <= MAX_KEY_BYTES and _PLAIN_KEY.fullmatch(key):
        return key  # the shape of nearly every key, checked in one pass; the rest below
    _check_characters(key)
    if len(_utf8(key)) > MAX_KEY_BYTES:
        raise InvalidKey(f"a key must be at most {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise InvalidKey("a key must be relative")
    for segment in key.split("/"):
        _check_segment(segment)
    return key


def listing_directory(prefix: str) -> str:
    """The deepest directory-like key part that holds every key starting with `prefix`.

    Listing prefixes are plain string prefixes, as in S3 (`a/b` matches `a/b/c` and `a/bc`),
    so only the part up to the last `/` must be a valid key; `""` means the whole store.
    """
    if not isinstance(prefix, str):
        raise InvalidKey("a prefix must be a string")
    _check_characters(prefix)
    if prefix.startswith("/"):
        raise InvalidKey("a prefix must be relative")
    directory, _, _ = prefix.rpartition("/")
    if directory:
        validate_key(directory)
    return directory


async def limited_batches(
    chunks: AsyncIterable[bytes], max_bytes: int | None, batch_size: int
) -> AsyncGenerator[bytes, None]:
    """Regroup `chunks` into batches of at least `batch_size` bytes (the last may be smaller).

    Raises `ObjectTooLarge` as soon as the running total exceeds `max_bytes`, before the chunk
    that crossed the limit is handed on, and without pulling any further chunk from the source.
    Exceptions raised by `chunks` pass through untouched.
    """
    async with contextlib.aclosing(limited_groups(chunks, max_bytes, batch_size)) as groups:
        async for group in groups:
            # A single large chunk goes through as is: no copy on the common path where the
            # caller already reads in CHUNK_SIZE pieces.
            yield group[0] if len(group) == 1 else b"".join(group)


async def limited_groups(
    chunks: AsyncIterable[bytes], max_bytes: int | None, batch_size: int
) -> AsyncGenerator[list[bytes], None]:
    """`limited_batches`, each batch the list of its chunks: a consumer that takes pieces (a
    vectored write, a hash) is spared the copy that joining them makes."""
    total = 0
    pending: list[bytes] = []
    pending_size = 0
    async for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise ObjectTooLarge(max_bytes)
        pending.append(chunk)
        pending_size += len(chunk)
        if pending_size >= batch_size:
            yield pending
            pending = []
            pending_size = 0
    if pending:
        yield pending


_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")
# ASCII segments of 1 to 255 letters, digits, `.`, `_` or `-`, none starting with `.`, joined
# by single `/`: a key every rule of `validate_key` takes (ASCII, so bytes == characters).
_PLAIN_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}"
_PLAIN_KEY = re.compile(f"{_PLAIN_SEGMENT}(?:/{_PLAIN_SEGMENT})*")


def _check_characters(text: str) -> None:
    if "\\" in text:
        raise InvalidKey("a key must not contain a backslash")
    if _CONTROL_CHARACTER.search(text):
        raise InvalidKey("a key must not contain NUL or other control characters")
    _utf8(text)


def _check_segment(segment: str) -> None:
    if not segment:
        raise InvalidKey("a key must not contain an empty segment")
    if segment.startswith("."):
        # Covers `.` and `..` as well as the backends' hidden working directories.
        raise InvalidKey("a key segment must not start with '.'")
    if len(_utf8(segment)) > MAX_SEGMENT_BYTES:
        raise InvalidKey(f"a key segment must be at most {MAX_SEGMENT_BYTES} bytes")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be a file name or an S3 key.
        raise InvalidKey("a key must be valid Unicode") from None
