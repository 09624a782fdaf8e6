"""Signed requests: what a store hands out so that a client moves bytes without our credentials.

Every store signs the same way from the caller's side: one method, one key, an expiry, and for
uploads a size and type limit. S3 signs with SigV4 and POST policies; the local store signs
URLs that point back at the app (`filedock.ports.blob_signing`). The argument rules live here so
that a request refused by one backend is refused by all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import quote

PresignMethod = Literal["GET", "PUT", "DELETE"]

PRESIGN_METHODS: frozenset[str] = frozenset({"GET", "PUT", "DELETE"})

MAX_EXPIRY = timedelta(days=7)
"""SigV4's own ceiling on a presigned request, applied to every backend."""

MIN_EXPIRY = timedelta(seconds=1)

SUCCESS_STATUSES = ("200", "201", "204")
"""The `success_action_status` values S3 accepts on a form upload."""


BLOBS_PATH = "/_blobs/"
"""Where the app serves local objects; a form upload posts to this path itself."""


class SigningNotConfigured(RuntimeError):
    """The store was built without what it needs to sign requests."""


class SignedRequestRefused(Exception):
    """A signed request that must not be served."""


class MalformedSignedRequest(SignedRequestRefused):
    """Parameters missing, repeated, unknown or unreadable: a 400, not a forgery verdict."""


class SignatureMismatch(SignedRequestRefused):
    """The signature does not cover this request (tampered, other key, other method): a 403."""


class SignatureExpired(SignedRequestRefused):
    """A genuine signature whose time is up: a 403."""


@dataclass(frozen=True, slots=True)
class BlobGrant:
    """What a verified signature allows; the limits are enforced while the body streams."""

    method: str
    key: str
    expires_at: datetime
    max_bytes: int | None = None
    content_type: str | None = None
    download_name: str | None = None
    # A form upload's signed `success_action_status`; None: S3's default answer, 204.
    success_status: str | None = None


class GrantChecker(Protocol):
    """Checks requests signed for a store the app serves itself (the local store)."""

    def verify(self, method: str, key: str, query: Mapping[str, str]) -> BlobGrant:
        """The grant of a signed URL for `method` on `key`, or a `SignedRequestRefused`."""
        ...

    def verify_post(self, fields: Mapping[str, str]) -> BlobGrant:
        """The grant of a signed form upload's fields, or a `SignedRequestRefused`."""
        ...

    def object_url(self, key: str) -> str:
        """The unsigned address of `key` at the store: a form post's `Location`, as S3's."""
        ...


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What an upload through a signed request may carry."""

    max_bytes: int
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class PresignedRequest:
    """Everything a client needs to make the one request a signature allows.

    `fields` are the form fields of a POST form upload (empty otherwise); `headers` are headers
    the client must send as given (e.g. `Content-Type` for a PUT bound to a type).
    """

    method: str
    url: str
    fields: dict[str, str]
    headers: dict[str, str]
    expires_at: datetime


class Presigner(Protocol):
    def presign(
        self,
        method: PresignMethod,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits | None = None,
        download_name: str | None = None,
    ) -> PresignedRequest:
        """Sign one `method` on `key` until `expires_in` from now.

        `limits` only with PUT (the content type is bound; S3 cannot bind a PUT's size, which
        the processing job checks instead); `download_name` only with GET (served as an
        attachment under that name).
        """
        ...

    def presign_post(
        self,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits,
        success_status: str | None = None,
    ) -> PresignedRequest:
        """Sign a browser form upload (multipart POST) of `key`, bound to `limits` in full.

        `success_status` becomes a signed `success_action_status` field: the status a
        successful post answers ("201": with S3's `PostResponse` XML document). None leaves it
        out, as seed 000's form does, and S3 answers 204.
        """
        ...


def check_presign_arguments(
    method: str, *, limits: UploadLimits | None, download_name: str | None
) -> None:
    """Raise `ValueError` unless the arguments make a request every backend can sign."""
    if method not in PRESIGN_METHODS:
        raise ValueError(f"cannot sign method {method!r}; one of GET, PUT, DELETE")
    if limits is not None:
        if method != "PUT":
            raise ValueError("upload limits only apply to PUT")
        check_limits(limits)
    if download_name is not None:
        if method != "GET":
            raise ValueError("a download name only applies to GET")
        check_download_name(download_name)


def check_success_status(success_status: str | None) -> None:
    """Raise `ValueError` unless S3 knows the status: "200", "201", "204", or None."""
    if success_status is not None and success_status not in SUCCESS_STATUSES:
        raise ValueError(f"success_action_status must be one of {', '.join(SUCCESS_STATUSES)}")


def check_expiry(expires_in: timedelta) -> None:
    if not MIN_EXPIRY <= expires_in <= MAX_EXPIRY:
        raise ValueError(f"expires_in must be between {MIN_EXPIRY} and {MAX_EXPIRY}")


def check_limits(limits: UploadLimits) -> None:
    # bool is an int to Python, never a size to us.
    if isinstance(limits.max_bytes, bool) or not isinstance(limits.max_bytes, int):
        raise ValueError("max_bytes must be an integer")
    if limits.max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    if limits.content_type is not None and not _MEDIA_TYPE.fullmatch(limits.content_type):
        # It becomes a signed header and a policy value: no room for anything but a media type.
        raise ValueError(f"not a media type: {limits.content_type!r}")


def check_download_name(name: str) -> None:
    if not name or any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        raise ValueError("a download name must be non-empty and free of control characters")
    if "/" in name or "\\" in name:
        raise ValueError("a download name must not contain a path separator")


def attachment_disposition(download_name: str) -> str:
    """A `Content-Disposition` that saves as `download_name`, safe for any Unicode name (RFC 6266).

    An ASCII fallback for old clients, and the exact name in `filename*` (RFC 8187).
    """
    check_download_name(download_name)
    fallback = "".join(
        char if 0x20 <= ord(char) < 0x7F and char not in '"\\%' else "_" for char in download_name
    )
    exact = quote(download_name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?: ?; ?{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*", re.ASCII
)
