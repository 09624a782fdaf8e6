"""What a client may choose for a new file: its id and its declared type."""

from __future__ import annotations

import re

from filedock.core.errors import InvalidInput
from filedock.core.upload_grants import is_grant_shaped

MAX_FILE_ID_LENGTH = 128
FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MIME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\\\r\n]*\"|[A-Za-z0-9!#$&^_.+-]+))*"
)

RESERVED_ID = (
    "ids shaped like a version-8 UUID (xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx) are "
    "reserved for signed uploads; choose another id"
)


def validate_file_id(file_id: str) -> str:
    """A client-chosen id: letters, digits, `.`, `_`, `-`; no `..`; at most 128 chars."""
    if not file_id:
        raise InvalidInput.one("file_id", "the file id is empty")
    if len(file_id) > MAX_FILE_ID_LENGTH:
        raise InvalidInput.one("file_id", f"the file id is longer than {MAX_FILE_ID_LENGTH}")
    if not FILE_ID.fullmatch(file_id) or ".." in file_id:
        raise InvalidInput.one(
            "file_id", "the file id may hold only letters, digits, '.', '_' and '-', and no '..'"
        )
    return file_id


def validate_new_file_id(file_id: str) -> str:
    """An id a client chooses for a new file: valid, and not the shape of a signed upload's
    id, which stays free for that upload's bytes (core/upload_grants.py)."""
    if is_grant_shaped(validate_file_id(file_id)):
        raise InvalidInput.one("file_id", RESERVED_ID)
    return file_id


def validate_content_type(content_type: str | None) -> str:
    if not content_type or not content_type.strip():
        raise InvalidInput.one("content-type", "the Content-Type header is required")
    value = content_type.strip()
    if not _MIME.fullmatch(value):
        raise InvalidInput.one("content-type", f"{value[:100]!r} is not a MIME type")
    return value
