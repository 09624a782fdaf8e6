"""Upload policies: what one upload path accepts, and how long its signed URLs live; and the
rules every upload path shares about filenames, the types they announce and empty files."""

from __future__ import annotations

import mimetypes
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from filedock.core.errors import InvalidInput
from filedock.core.model import media_type
from filedock.core.sniffing import DOCX, XLSX

# The label on a file that names the policy it was uploaded under.
POLICY_LABEL = "upload_policy"
# Signed uploads land here; processing copies what it accepts to a private key.
LANDING_PREFIX = "uploads/"
# A schedule's documents (seed 000) land under this prefix, one folder per schedule.
SCHEDULES_PREFIX = "schedules/"


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """What one upload path accepts: types, size, where keys go and how long URLs live."""

    name: str
    allowed_types: tuple[str, ...]
    max_bytes: int
    key_prefix: str
    url_expiry: timedelta
    temporary_lifetime: timedelta
    allow_empty: bool = False
    # Whether an upload is listed from the moment its URL is issued, so a row is written
    # then; otherwise the record is made when the bytes arrive (core/arrivals.py).
    listed_before_bytes: bool = False

    def allows(self, content_type: str) -> bool:
        """Whether files of `content_type` may come this way; no listed types means any."""
        if not self.allowed_types:
            return True
        return media_type(content_type) in self.allowed_types


EMPTY_BODY = "the body is empty"
EMPTY_FILE = "the file is empty, and this upload does not take empty files"


def refuses_empty(policy: UploadPolicy | None, size: int) -> bool:
    """The one rule on empty files, for every upload path: refused unless the upload policy
    allows them. A path without a policy (the hasura face) refuses them."""
    return size == 0 and (policy is None or not policy.allow_empty)


async def admitted_body(
    chunks: AsyncIterable[bytes], policy: UploadPolicy | None
) -> AsyncIterator[bytes]:
    """`chunks`, once they hold a byte or `policy` allows an empty file; an empty body it
    refuses raises `InvalidInput` before anything is stored."""
    stream = aiter(chunks)
    async for first in stream:
        if first:
            return _prepended(first, stream)
    if refuses_empty(policy, 0):
        raise InvalidInput.one("body", EMPTY_BODY)
    return stream  # read to its end: nothing more comes


async def _prepended(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


SIGNED_URL_POLICY = UploadPolicy(
    name="signed-url",
    allowed_types=("text/csv", "text/plain", "application/pdf", DOCX, XLSX),
    max_bytes=10_485_760,
    key_prefix=LANDING_PREFIX,
    url_expiry=timedelta(seconds=600),
    temporary_lifetime=timedelta(hours=24),
)


# Browser form uploads by command (seed 002): any type (processing still refuses executables
# and sniffs what the bytes are), up to the server's upload limit, for an hour as in the seed.
FORM_COMMAND_POLICY = UploadPolicy(
    name="s3-command",
    allowed_types=(),
    max_bytes=5 * 1024**3,
    key_prefix="direct_uploads/",
    url_expiry=timedelta(hours=1),
    temporary_lifetime=timedelta(hours=24),
)

# The `/ui/` page's drag-and-drop uploads: any type (processing still refuses executables and
# sniffs what the bytes are), up to the server's upload limit; a URL lives an hour, enough
# to send a large file over a slow line.
BROWSER_UI_POLICY = UploadPolicy(
    name="ui",
    allowed_types=(),
    max_bytes=5 * 1024**3,
    key_prefix="ui_uploads/",
    url_expiry=timedelta(hours=1),
    temporary_lifetime=timedelta(hours=24),
    # The files page shows an upload (and its progress) as soon as it starts.
    listed_before_bytes=True,
)

MAX_FILENAME_LENGTH = 255

# Extensions the platform's table may not know (or maps differently on some systems).
_EXTENSION_TYPES = {
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".docx": DOCX,
    ".xlsx": XLSX,
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
}


def validate_filename(filename: str) -> str:
    """A display name: kept for downloads, never used to build a storage key."""
    name = unicodedata.normalize("NFC", filename.strip())
    if not name:
        raise InvalidInput.one("filename", "the filename is empty")
    if len(name) > MAX_FILENAME_LENGTH:
        raise InvalidInput.one("filename", f"the filename is longer than {MAX_FILENAME_LENGTH}")
    # Printable ASCII (most names) holds no control or format character: the per-character
    # Unicode lookup is only needed for the rest (it was 5 % of a signed-URL request).
    plain = name.isascii() and name.isprintable()
    if not plain and any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidInput.one("filename", "the filename holds control characters")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInput.one("filename", "the filename must not hold a path")
    return name


def content_type_for(filename: str) -> str:
    """The MIME type a filename's extension announces; octet-stream when unknown."""
    extension = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    known = _EXTENSION_TYPES.get(extension)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"
