"""Upload grants: everything an upload needs, carried by its signed request instead of a row.

Issuing a signed upload URL writes nothing to the database, as S3 presigning does. What the
record needs when the bytes arrive travels in two places the signature already binds:

- the **file id**, a UUID (version 8) whose 122 free bits hold the issue time (seconds), the
  persist flag, the declared type (an index into the policy's allowed types), a random nonce
  and a MAC over those and the owner (realm, subject) and the policy's name. Its owner can
  prove an id is theirs with no row (a status poll before the bytes arrive answers `pending`;
  a delete then closes it); anyone else cannot;
- the **storage key**, `{policy prefix}{file id}/{payload}`: the payload is the owner's
  realm, subject and role and the filename, sealed with ChaCha20-Poly1305 (an AEAD from
  `cryptography`; the nonce is derived from the file id, unique per grant; the landing folder
  is its associated data), base64url-encoded in segments a file system takes. No URL, S3 key
  or access log shows the filename or the owner, and a key that was changed, or sealed under
  another secret, carries no grant.

The signed PUT (SigV4 on S3, our HMAC on `/_blobs/`) binds the exact key, so whoever finds
the object (the `/_blobs/` PUT, a status poll that lists `{prefix}{file id}/`, a bucket
notification, the sweeper, the reconciler) reads the grant from its name and can make the
record. S3 offers nothing else a seed client would carry: `x-amz-meta-*` headers must be sent
by the client, or S3 refuses the signature.

The record's insert claims the id, so a grant is used once (core/arrivals.py).

Why 40 bits of MAC in the id are enough: the id's MAC is only ever checked against the
*caller's own* identity, and only answers for ids no row holds. A made-up id that passes
shows its maker a `pending` upload of their own that never gets bytes (the key's payload,
with a full 128-bit tag, is what delivers bytes). Taking someone else's id would need it to
pass under the taker's identity: one chance in 2^40 per identity tried, online, against a
rate limiter. Client-chosen ids (seed 000's `POST /v1/file/<id>`) never have this shape
(`is_grant_shaped`), so nobody can claim a grant's id before its bytes arrive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from filedock.core.entropy import random_bytes
from filedock.core.model import media_type
from filedock.core.principal import Principal
from filedock.core.upload_policy import UploadPolicy, content_type_for
from filedock.ports.keyed_mac import KeyedMac

# A grant whose key would not fit S3's 1024 bytes once processing prefixes it with `files/`
# and the local store suffixes an arrival (`.<12 hex>`) is recorded as a pending row instead.
MAX_GRANT_KEY_BYTES = 1000
# The payload's segments stay well under a file system's 255 bytes a name.
_SEGMENT = 200
_DERIVATION = b"filedock upload grants v1"
_ID_DOMAIN = "filedock-upload-id-v1"
_CIPHER_DERIVATION = b"filedock upload grant payload v1"
# Bit widths of the file id's 122 free bits, most significant first.
_TIME_BITS, _PERSIST_BITS, _TYPE_BITS, _NONCE_BITS, _MAC_BITS = 32, 1, 4, 45, 40


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """One signed upload as its request carries it; `filename` is None when read from an id."""

    file_id: str
    policy: UploadPolicy
    owner_realm: str
    owner_id: str
    owner_role: str
    content_type: str
    persist: bool
    issued_at: datetime
    filename: str | None = None

    @property
    def landing_folder(self) -> str:
        """Every key of this grant starts here: `{policy prefix}{file id}/`."""
        return f"{self.policy.key_prefix}{self.file_id}/"

    @property
    def url_expires_at(self) -> datetime:
        return self.issued_at + self.policy.url_expiry

    @property
    def expires_at(self) -> datetime | None:
        return None if self.persist else self.issued_at + self.policy.temporary_lifetime


class UploadGrants:
    """Makes and reads upload grants with a key used for nothing else."""

    def __init__(self, secret: bytes, policies: Mapping[str, UploadPolicy]) -> None:
        if len(secret) < 32:
            raise ValueError("the upload grant secret must be at least 32 bytes")
        self._mac_key = KeyedMac(bytes(secret))
        self._aead = ChaCha20Poly1305(self._mac_key.digest(_CIPHER_DERIVATION))
        self._policies = dict(policies)

    @classmethod
    def from_app_secret(cls, app_secret: str, policies: Mapping[str, UploadPolicy]) -> UploadGrants:
        """Grants keyed by a derivation of the app's token secret, so the two never mix."""
        if not app_secret:
            raise ValueError("the app secret must not be empty")
        key = hmac.new(app_secret.encode("utf-8"), _DERIVATION, hashlib.sha256).digest()
        return cls(key, policies)

    def issue(
        self,
        principal: Principal,
        policy: UploadPolicy,
        filename: str,
        content_type: str,
        persist: bool,
        now: datetime,
    ) -> tuple[UploadGrant, str] | None:
        """A new grant and its storage key; None when the key would be too long to carry it."""
        seconds = int(now.timestamp())
        type_index = _type_index(policy, content_type)
        nonce = int.from_bytes(random_bytes(6)) >> (48 - _NONCE_BITS)
        fields = _IdFields(seconds, persist, type_index, nonce)
        file_id = self._file_id(principal.realm, principal.user_id, policy, fields)
        grant = UploadGrant(
            file_id,
            policy,
            principal.realm,
            principal.user_id,
            principal.role,
            content_type,
            persist,
            datetime.fromtimestamp(seconds, UTC),
            filename,
        )
        plain = _fields(principal.realm, principal.user_id, principal.role, filename)
        folder = grant.landing_folder
        sealed = self._aead.encrypt(_nonce(file_id), plain, folder.encode("utf-8"))
        key = f"{folder}{_segments(_b64(sealed))}"
        if len(key.encode("utf-8")) > MAX_GRANT_KEY_BYTES:
            return None
        return grant, key

    def of_file_id(self, principal: Principal, file_id: str) -> UploadGrant | None:
        """The grant behind `file_id`, if it is one issued to `principal` (owner only)."""
        return self._grant(principal, file_id, None)

    def of_key(self, key: str) -> UploadGrant | None:
        """The grant a storage key carries, if it is a genuine grant's exact key."""
        for policy in self._policies.values():
            if not key.startswith(policy.key_prefix):
                continue
            file_id, _, payload = key.removeprefix(policy.key_prefix).partition("/")
            folder = f"{policy.key_prefix}{file_id}/"
            encoded = payload.replace("/", "")
            if _segments(encoded) != payload:  # one spelling per grant: no second key
                continue
            try:
                sealed = _unb64(encoded)
                if _b64(sealed) != encoded:  # base64 that decodes the same, spelled otherwise
                    continue
                plain = self._aead.decrypt(_nonce(file_id), sealed, folder.encode("utf-8"))
                realm, user, role, filename = _unfields(plain, 4)
            except (ValueError, binascii.Error, InvalidTag):
                continue
            return self._grant(Principal(realm, user, role), file_id, filename, (policy,))
        return None

    def _grant(
        self,
        owner: Principal,
        file_id: str,
        filename: str | None,
        policies: Iterable[UploadPolicy] | None = None,
    ) -> UploadGrant | None:
        """The grant if the id's MAC verifies for `owner` under one of `policies` (all)."""
        parsed = _id_fields(file_id)
        if parsed is None:
            return None
        fields, mac = parsed
        seconds, persist, type_index, _ = fields
        for policy in self._policies.values() if policies is None else policies:
            expected = self._mac(owner.realm, owner.user_id, policy, fields)
            if hmac.compare_digest(expected.to_bytes(5), mac.to_bytes(5)):
                return UploadGrant(
                    file_id,
                    policy,
                    owner.realm,
                    owner.user_id,
                    owner.role,
                    _type_of(policy, type_index, filename),
                    persist,
                    datetime.fromtimestamp(seconds, UTC),
                    filename,
                )
        return None

    def _file_id(self, realm: str, user: str, policy: UploadPolicy, fields: _IdFields) -> str:
        mac = self._mac(realm, user, policy, fields)
        bits = fields.seconds
        widths = (
            (fields.persist, _PERSIST_BITS),
            (fields.type_index, _TYPE_BITS),
            (fields.nonce, _NONCE_BITS),
            (mac, _MAC_BITS),
        )
        for value, width in widths:
            bits = (bits << width) | int(value)
        high, middle, low = bits >> 74, (bits >> 62) & 0xFFF, bits & ((1 << 62) - 1)
        text = f"{(high << 80) | (8 << 76) | (middle << 64) | (2 << 62) | low:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def _mac(self, realm: str, user: str, policy: UploadPolicy, fields: _IdFields) -> int:
        """The id's MAC: over its fields, the owner and the policy's name."""
        seconds, persist, type_index, nonce = fields
        numbers = f"{seconds}.{int(persist)}.{type_index}.{nonce}"
        message = _fields(_ID_DOMAIN, realm, user, policy.name, numbers)
        return int.from_bytes(self._mac_key.digest(message)[:5])


def is_grant_shaped(file_id: str) -> bool:
    """Whether `file_id` has the shape of a grant's id (a canonical version-8 UUID), which
    client-chosen ids may not take."""
    return _id_fields(file_id) is not None


def _nonce(file_id: str) -> bytes:
    """The AEAD's nonce: unique per grant, as its file id is (time, random nonce, MAC)."""
    return hashlib.blake2s(file_id.encode("utf-8"), digest_size=12).digest()


class _IdFields(NamedTuple):
    """What a grant's file id holds besides its MAC."""

    seconds: int
    persist: bool
    type_index: int
    nonce: int


def _id_fields(file_id: str) -> tuple[_IdFields, int] | None:
    """The fields and the MAC of a grant-shaped id; None for any other id."""
    try:
        value = uuid.UUID(file_id)
    except (ValueError, TypeError, AttributeError):
        return None
    if value.version != 8 or str(value) != file_id:
        return None
    number = value.int
    bits = ((number >> 80) << 74) | (((number >> 64) & 0xFFF) << 62) | (number & ((1 << 62) - 1))
    mac = bits & ((1 << _MAC_BITS) - 1)
    bits >>= _MAC_BITS
    nonce = bits & ((1 << _NONCE_BITS) - 1)
    bits >>= _NONCE_BITS
    type_index = bits & ((1 << _TYPE_BITS) - 1)
    bits >>= _TYPE_BITS
    persist = bool(bits & 1)
    return _IdFields(bits >> _PERSIST_BITS, persist, type_index, nonce), mac


def _type_index(policy: UploadPolicy, content_type: str) -> int:
    """1 + the declared type's place in the policy's list; 0: read it from the filename."""
    kind = media_type(content_type)
    if kind in policy.allowed_types:
        index = policy.allowed_types.index(kind) + 1
        if index < 1 << _TYPE_BITS:
            return index
    return 0


def _type_of(policy: UploadPolicy, type_index: int, filename: str | None) -> str:
    if 0 < type_index <= len(policy.allowed_types):
        return policy.allowed_types[type_index - 1]
    return content_type_for(filename) if filename else "application/octet-stream"


def _fields(*values: str) -> bytes:
    """Strings kept apart whatever they hold: each after its length (cheaper than JSON)."""
    return "".join([f"{len(value)}:{value}" for value in values]).encode("utf-8")


def _unfields(data: bytes, count: int) -> list[str]:
    text, values = data.decode("utf-8"), []
    for _ in range(count):
        length, colon, text = text.partition(":")
        if not colon or not length.isdecimal() or len(text) < int(length):
            raise ValueError("not a grant payload")
        values.append(text[: int(length)])
        text = text[int(length) :]
    if text:
        raise ValueError("not a grant payload")
    return values


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segments(text: str) -> str:
    return "/".join(text[i : i + _SEGMENT] for i in range(0, len(text), _SEGMENT))
