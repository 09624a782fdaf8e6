"""Signed grants: every signed request filedock hands out, and every one it accepts.

Issued grants are bound to one method and one key, live as long as their upload policy says
(uploads; a schedule's read and delete URLs) or the one download lifetime (everything else),
and uploads are bound to the policy's size (a form also to a type, when given; a PUT to none).
With S3 they are S3's own; with the local store the app signs them and is also the store that
accepts them, so the checks of a presented grant live here too: the signature (compared in
constant time by the store's checker), then the binding of size (and type, if signed).
Refusals become domain errors, so the face that serves `/_blobs/` only parses and renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from filedock.core.errors import Forbidden, InvalidInput, NotFound, TooLarge
from filedock.core.model import File
from filedock.core.upload_policy import UploadPolicy
from filedock.ports.presign import (
    MAX_EXPIRY,
    MIN_EXPIRY,
    BlobGrant,
    GrantChecker,
    MalformedSignedRequest,
    PresignedRequest,
    Presigner,
    SignatureExpired,
    SignedRequestRefused,
    UploadLimits,
)

# Long enough to start a download on a slow phone, short enough that a leaked link dies soon.
DOWNLOAD_LIFETIME = timedelta(minutes=5)
# What a caller may ask a share link to live: SigV4's ceiling, so both stores can sign it.
SHARE_LIFETIMES = (MIN_EXPIRY, MAX_EXPIRY)


def share_lifetime(seconds: int | None, default: timedelta) -> timedelta:
    """The lifetime a caller asked a download link for (`default` if none), within bounds."""
    if seconds is None:
        return default
    shortest, longest = SHARE_LIFETIMES
    if not shortest.total_seconds() <= seconds <= longest.total_seconds():
        raise InvalidInput.one(
            "expires_in",
            f"expires_in: from {int(shortest.total_seconds())} to"
            f" {int(longest.total_seconds())} seconds (7 days); {seconds} is out of range",
        )
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class DownloadLink:
    """A signed GET of a file's bytes, and the lifetime it was granted."""

    request: PresignedRequest
    lifetime: timedelta

    @property
    def url(self) -> str:
        return self.request.url

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def expires_in(self) -> int:
        return int(self.lifetime.total_seconds())


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """A presented upload grant that passed every check: where the bytes go, how many, and
    (a form's) the `success_action_status` its answer has; None: S3's default, 204."""

    key: str
    max_bytes: int
    success_status: str | None = None
    location: str | None = None  # a form's: the object's address, for the answer


class SignedGrants:
    def __init__(
        self,
        presigner: Presigner,
        checker: GrantChecker | None,
        *,
        download_lifetime: timedelta = DOWNLOAD_LIFETIME,
    ) -> None:
        """`checker` checks the grants of a store the app serves itself; None when the store
        checks its own (S3), and then `/_blobs/` serves nothing."""
        self._presigner = presigner
        self._checker = checker
        self.download_lifetime = download_lifetime

    # Issuing ------------------------------------------------------------------------------

    def upload_url(self, key: str, policy: UploadPolicy) -> PresignedRequest:
        """A PUT of `key`, bound to the policy's size and to no type.

        Seed 001's clients PUT with any Content-Type or none (`curl -T`); what the bytes are,
        and whether the policy takes them, is decided by processing (core/processing.py).
        """
        return self._presigner.presign(
            "PUT",
            key,
            expires_in=policy.url_expiry,
            limits=UploadLimits(max_bytes=policy.max_bytes),
        )

    def upload_form(
        self,
        key: str,
        policy: UploadPolicy,
        content_type: str | None = None,
        *,
        success_status: str | None = None,
    ) -> PresignedRequest:
        """A browser form upload of `key`, bound to the policy's size (and a type, if given).

        A successful post answers `success_status` ("201": with S3's `PostResponse` XML); by
        default the form names none and answers 204, as S3 does and seed 000's form expects.
        """
        return self._presigner.presign_post(
            key,
            expires_in=policy.url_expiry,
            limits=UploadLimits(policy.max_bytes, content_type),
            success_status=success_status,
        )

    def download_url(self, file: File, *, lifetime: timedelta | None = None) -> PresignedRequest:
        """A GET of a file's bytes, saved under its filename. Callers check it is servable."""
        return self._presigner.presign(
            "GET",
            file.storage_key,
            expires_in=lifetime or self.download_lifetime,
            download_name=file.filename or file.id,
        )

    def delete_url(self, file: File, *, lifetime: timedelta) -> PresignedRequest:
        """A DELETE of a file's object (a schedule's documents: the seed's flow)."""
        return self._presigner.presign("DELETE", file.storage_key, expires_in=lifetime)

    # Checking presented grants (the local store) ------------------------------------------

    def check_url(self, method: str, key: str, query: Mapping[str, str]) -> BlobGrant:
        """The grant of a signed GET or DELETE URL; a HEAD is checked as its GET."""
        checker = self._local_checker()
        return _checked(lambda: checker.verify(method, key, query))

    def check_put(
        self,
        key: str,
        query: Mapping[str, str],
        content_type: str | None,
        declared_length: str | None,
    ) -> CheckedUpload:
        """A signed PUT: its signature, then its declared size (and a type, if one was signed:
        filedock's own upload URLs bind none)."""
        checker = self._local_checker()
        grant = _checked(lambda: checker.verify("PUT", key, query))
        if grant.content_type is not None and (content_type or "").strip() != grant.content_type:
            raise Forbidden(f"this URL only accepts Content-Type: {grant.content_type}")
        upload = _upload(grant)
        declared = declared_length or ""
        if declared.isdecimal() and int(declared) > upload.max_bytes:
            raise TooLarge(upload.max_bytes)
        return upload

    def check_form(self, fields: Mapping[str, str]) -> CheckedUpload:
        """A signed form upload's fields (its policy checks the type and key)."""
        checker = self._local_checker()
        upload = _upload(_checked(lambda: checker.verify_post(fields)))
        return replace(upload, location=checker.object_url(upload.key))

    def _local_checker(self) -> GrantChecker:
        if self._checker is None:
            raise NotFound("this server's objects are not served here")
        return self._checker


def _checked(verify: Callable[[], BlobGrant]) -> BlobGrant:
    """Run a signature check, turning its refusal into a domain error."""
    try:
        return verify()
    except MalformedSignedRequest as exc:
        raise InvalidInput.one("signature", str(exc)) from None
    except SignatureExpired:
        raise Forbidden("Request has expired") from None
    except SignedRequestRefused:
        raise Forbidden("The request signature does not match this request") from None


def _upload(grant: BlobGrant) -> CheckedUpload:
    if grant.max_bytes is None:
        # Every upload grant we sign carries a limit; one without is not an upload grant.
        raise Forbidden("this signature does not allow an upload")
    return CheckedUpload(grant.key, grant.max_bytes, grant.success_status)
