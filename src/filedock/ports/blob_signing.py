"""Signed URLs for the local store: the app signs them here and checks them at `/_blobs/`.

They promise what S3's do: one method, one key, an expiry, and for uploads a size and type
limit, none of which a holder can change. A URL carries its parameters in the query and an
HMAC-SHA256 over a canonical form of them *and of the method*, so a GET URL cannot be replayed
as a PUT. A browser form upload carries an S3-style policy (base64 JSON of an expiration and
conditions) with an HMAC over it.

Checks run in this order: the request's shape (else `MalformedSignedRequest`), the signature,
compared in constant time (`SignatureMismatch`), and only then the signed values: expiry
(`SignatureExpired`) and the policy's conditions. The errors never say which part differed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from filedock.ports.keyed_mac import KeyedMac
from filedock.ports.keys import validate_key
from filedock.ports.presign import (
    BLOBS_PATH,
    BlobGrant,
    MalformedSignedRequest,
    PresignedRequest,
    PresignMethod,
    SignatureExpired,
    SignatureMismatch,
    UploadLimits,
    check_expiry,
    check_limits,
    check_presign_arguments,
    check_success_status,
)

__all__ = [
    "BLOBS_PATH",
    "BlobGrant",
    "BlobSigner",
    "MalformedSignedRequest",
    "SignatureExpired",
    "SignatureMismatch",
]

SIGNATURE_FIELD = "x-filedock-signature"

# Query parameter names of a signed URL. The method is not among them: it is only signed.
EXPIRES = "expires"
MAX_BYTES = "max_bytes"
CONTENT_TYPE = "content_type"
DOWNLOAD_NAME = "filename"
SIGNATURE = "signature"

_KEY_DERIVATION_LABEL = b"filedock blob signing v1"
_URL_DOMAIN = "filedock-blob-url-v1"
_MIN_SECRET_BYTES = 32
_POLICY_TIME = "%Y-%m-%dT%H:%M:%SZ"
# Form fields that no policy condition has to name, as with S3.
_UNCONDITIONED_FIELDS = frozenset({"policy", SIGNATURE_FIELD, "file"})

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BlobSigner:
    """Signs and verifies `/_blobs/` requests with a key used for nothing else."""

    def __init__(self, secret: bytes, base_url: str, *, clock: Clock = _utc_now) -> None:
        """`base_url` is the app's public address (scheme, host, optional path prefix)."""
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the blob signing secret must be at least {_MIN_SECRET_BYTES} bytes")
        self._keyed = KeyedMac(bytes(secret))
        self._base_url = _checked_base_url(base_url)
        self._clock = clock

    @classmethod
    def from_app_secret(
        cls, app_secret: str, base_url: str, *, clock: Clock = _utc_now
    ) -> BlobSigner:
        """A signer whose key is derived from the app's token secret, so the two never mix."""
        if not app_secret:
            raise ValueError("the app secret must not be empty")
        key = hmac.new(app_secret.encode("utf-8"), _KEY_DERIVATION_LABEL, hashlib.sha256)
        return cls(key.digest(), base_url, clock=clock)

    # Signing --------------------------------------------------------------------------------

    def presign(
        self,
        method: PresignMethod,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits | None = None,
        download_name: str | None = None,
    ) -> PresignedRequest:
        check_expiry(expires_in)
        # Whole seconds, counted once: the URL carries them and the answer says when.
        expires = int((self._clock() + expires_in).timestamp())
        url = self._signed_url(method, key, expires, limits, download_name)
        headers: dict[str, str] = {}
        if limits is not None and limits.content_type is not None:
            headers["Content-Type"] = limits.content_type
        return PresignedRequest(method, url, {}, headers, datetime.fromtimestamp(expires, UTC))

    def presign_post(
        self,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits,
        success_status: str | None = None,
    ) -> PresignedRequest:
        check_expiry(expires_in)
        expires_at = _whole_seconds(self._clock() + expires_in)
        url, fields = self.post_form(key, expires_at, limits, success_status=success_status)
        return PresignedRequest("POST", url, fields, {}, expires_at)

    def sign_url(
        self,
        method: PresignMethod,
        key: str,
        *,
        expires_at: datetime,
        limits: UploadLimits | None = None,
        download_name: str | None = None,
    ) -> str:
        """`{base_url}/_blobs/{key}?…`: `method` on `key` until `expires_at` (whole seconds)."""
        expires = int(_whole_seconds(expires_at).timestamp())
        return self._signed_url(method, key, expires, limits, download_name)

    def post_form(
        self,
        key: str,
        expires_at: datetime,
        limits: UploadLimits,
        *,
        success_status: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """The URL and form fields of a multipart upload of `key`, bound to `limits` (and to
        the `success_action_status` a successful post answers, if given; else 204, as S3).

        The file itself goes last in the form, as a part named `file`.
        """
        validate_key(key)
        check_limits(limits)
        check_success_status(success_status)
        conditions: list[Any] = [
            {"key": key},
            ["content-length-range", 0, limits.max_bytes],
        ]
        fields = {"key": key}
        if limits.content_type is not None:
            conditions.append({"Content-Type": limits.content_type})
            fields["Content-Type"] = limits.content_type
        if success_status is not None:
            conditions.append({"success_action_status": success_status})
            fields["success_action_status"] = success_status
        policy = {
            "expiration": _whole_seconds(expires_at).astimezone(UTC).strftime(_POLICY_TIME),
            "conditions": conditions,
        }
        encoded = base64.b64encode(_compact_json(policy)).decode("ascii")
        fields["policy"] = encoded
        fields[SIGNATURE_FIELD] = self._mac(encoded.encode("ascii"))
        return f"{self._base_url}{BLOBS_PATH}", fields

    def object_url(self, key: str) -> str:
        """`{base_url}/_blobs/{key}`, unsigned: where a form post says the object is."""
        return f"{self._base_url}{BLOBS_PATH}{quote(validate_key(key), safe='/')}"

    # Verifying ------------------------------------------------------------------------------

    def verify(self, method: str, key: str, query: Mapping[str, str]) -> BlobGrant:
        """The grant a signed URL gives for `method` on `key` (the decoded path), or a refusal.

        `query` may be a multi-dict (anything with `getlist`, like Starlette's `QueryParams`):
        a repeated parameter is then refused. For a HEAD the face passes "GET", whose URL it is.
        """
        values = _single_values(query, lowercase=False)
        unknown = set(values) - {EXPIRES, MAX_BYTES, CONTENT_TYPE, DOWNLOAD_NAME, SIGNATURE}
        if unknown:
            raise MalformedSignedRequest("the signed URL has parameters it was not signed with")
        expires = _number(values, EXPIRES)
        max_bytes = None if MAX_BYTES not in values else _number(values, MAX_BYTES)
        content_type = values.get(CONTENT_TYPE)
        download_name = values.get(DOWNLOAD_NAME)
        given = _signature(values, SIGNATURE)

        expected = self._url_signature(method, key, expires, max_bytes, content_type, download_name)
        if not hmac.compare_digest(expected, given):
            raise SignatureMismatch("the signature does not match the request")
        self._check_not_expired(expires)
        return BlobGrant(
            method=method,
            key=key,
            expires_at=datetime.fromtimestamp(expires, UTC),
            max_bytes=max_bytes,
            content_type=content_type,
            download_name=download_name,
        )

    def verify_post(self, fields: Mapping[str, str]) -> BlobGrant:
        """The grant of a form upload's text fields (not the file), or a refusal.

        Field names compare case-insensitively, as S3 does; a name given twice is refused.
        """
        values = _single_values(fields, lowercase=True)
        if "policy" not in values:
            raise MalformedSignedRequest("the form has no policy")
        encoded = values["policy"]
        if not encoded.isascii():
            raise MalformedSignedRequest("the policy is not base64")
        given = _signature(values, SIGNATURE_FIELD)
        if not hmac.compare_digest(self._mac(encoded.encode("ascii")), given):
            raise SignatureMismatch("the signature does not match the policy")
        expires_at, conditions = _decoded_policy(encoded)
        self._check_not_expired(expires_at.timestamp())
        return _granted_by(conditions, values, expires_at)

    # Helpers --------------------------------------------------------------------------------

    def _signed_url(
        self,
        method: PresignMethod,
        key: str,
        expires: int,
        limits: UploadLimits | None,
        download_name: str | None,
    ) -> str:
        check_presign_arguments(method, limits=limits, download_name=download_name)
        validate_key(key)
        max_bytes = None if limits is None else limits.max_bytes
        content_type = None if limits is None else limits.content_type
        signature = self._url_signature(
            method, key, expires, max_bytes, content_type, download_name
        )
        # Built by hand (urlencode is a tenth of a signed-URL request's CPU); only the two
        # free-text values need escaping.
        query = f"{EXPIRES}={expires}"
        if max_bytes is not None:
            query += f"&{MAX_BYTES}={max_bytes}"
        if content_type is not None:
            query += f"&{CONTENT_TYPE}={quote(content_type, safe='')}"
        if download_name is not None:
            query += f"&{DOWNLOAD_NAME}={quote(download_name, safe='')}"
        query += f"&{SIGNATURE}={signature}"
        return f"{self._base_url}{BLOBS_PATH}{_url_path(key)}?{query}"

    def _url_signature(
        self,
        method: str,
        key: str,
        expires: int,
        max_bytes: int | None,
        content_type: str | None,
        download_name: str | None,
    ) -> str:
        # JSON keeps the fields apart whatever they contain, and null apart from "".
        canonical = [_URL_DOMAIN, method, key, expires, max_bytes, content_type, download_name]
        return self._mac(_compact_json(canonical))

    def _mac(self, message: bytes) -> str:
        return self._keyed.digest(message).hex()

    def _check_not_expired(self, expires: float) -> None:
        if self._clock().timestamp() >= expires:
            raise SignatureExpired("the signed request has expired")


def _granted_by(conditions: list[Any], values: dict[str, str], expires_at: datetime) -> BlobGrant:
    """Check every condition of a genuine policy against the form; what the policy grants."""
    refused = SignatureMismatch("the form does not satisfy its policy")
    named: set[str] = set()
    key: str | None = None
    max_bytes: int | None = None
    content_type: str | None = None
    success_status: str | None = None
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, wanted),) = condition.items()
            name = str(name).lower()
            if not isinstance(wanted, str) or values.get(name) != wanted:
                raise refused
            named.add(name)
            if name == "key":
                key = wanted
            elif name == "content-type":
                content_type = wanted
            elif name == "success_action_status":
                success_status = wanted
        elif (
            isinstance(condition, list)
            and len(condition) == 3
            and condition[0] == "content-length-range"
            and all(type(bound) is int for bound in condition[1:])
        ):
            max_bytes = condition[2]
        else:
            # A condition we do not understand is one we cannot promise to enforce.
            raise refused
    extra = {
        name
        for name in values
        if name not in named
        and name not in _UNCONDITIONED_FIELDS
        and not name.startswith("x-ignore-")
    }
    if key is None or max_bytes is None or extra:
        raise refused
    return BlobGrant(
        method="POST",
        key=key,
        expires_at=expires_at,
        max_bytes=max_bytes,
        content_type=content_type,
        success_status=success_status,
    )


def _decoded_policy(encoded: str) -> tuple[datetime, list[Any]]:
    # Only reached with a genuine signature, so failing here means a policy we never wrote.
    try:
        policy = json.loads(base64.b64decode(encoded.encode("ascii"), validate=True))
        expiration = datetime.strptime(policy["expiration"], _POLICY_TIME).replace(tzinfo=UTC)
        conditions = policy["conditions"]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
        raise MalformedSignedRequest("the policy cannot be read") from None
    if not isinstance(conditions, list):
        raise MalformedSignedRequest("the policy cannot be read")
    return expiration, conditions


def _single_values(params: Mapping[str, str], *, lowercase: bool) -> dict[str, str]:
    """`params` as a plain dict, refusing any name given more than once.

    A form's `file` part is the upload itself, not a field: it is left out.
    """
    getlist = getattr(params, "getlist", None)
    values: dict[str, str] = {}
    for name in params:
        if lowercase and name.lower() == "file":
            continue
        if callable(getlist) and len(getlist(name)) != 1:
            raise MalformedSignedRequest(f"parameter {name!r} is repeated")
        value = params[name]
        if not isinstance(value, str):
            raise MalformedSignedRequest(f"parameter {name!r} is not text")
        normal = name.lower() if lowercase else name
        if normal in values:
            raise MalformedSignedRequest(f"parameter {name!r} is repeated")
        values[normal] = value
    return values


# Canonical decimals only: `010` or `0001790000000` is not the number we signed, even though
# it reads as the same value, so a URL has exactly one spelling that passes.
_DIGITS = re.compile(r"0|[1-9][0-9]{0,17}", re.ASCII)
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)


def _number(values: Mapping[str, str], name: str) -> int:
    text = values.get(name)
    if text is None:
        raise MalformedSignedRequest(f"parameter {name!r} is missing")
    if not _DIGITS.fullmatch(text):
        raise MalformedSignedRequest(f"parameter {name!r} is not a number as it was signed")
    return int(text)


def _signature(values: Mapping[str, str], name: str) -> str:
    text = values.get(name)
    if text is None:
        raise MalformedSignedRequest(f"parameter {name!r} is missing")
    if not _HEX_SIGNATURE.fullmatch(text):
        raise MalformedSignedRequest(f"parameter {name!r} is not a signature")
    return text


def _url_path(key: str) -> str:
    """The key as a URL path: most keys (letters, digits, `-_./`) need no escaping at all."""
    return key if _PLAIN_KEY.fullmatch(key) else quote(key, safe="/")


_PLAIN_KEY = re.compile(r"[A-Za-z0-9._/-]*")


def _compact_json(value: object) -> bytes:
    return _COMPACT_JSON(value).encode("ascii")


# One encoder for every signature: json.dumps with options builds a new one each call. What
# is signed is built here of flat lists and dicts, never a cycle: no check for one.
_COMPACT_JSON = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), check_circular=False
).encode


def _whole_seconds(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return datetime.fromtimestamp(int(moment.timestamp()), UTC)


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the public base URL must be http(s)://host[/path], not {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError("the public base URL must not carry a query or fragment")
    return base_url.rstrip("/")
