"""Signed grants: every signed request filedock hands out, and every one it accepts.

Issued grants are bound to one method and one key, live as long as their upload policy says
(uploads; a schedule's read and delete URLs) or the one download lifetime (everything else),
and uploads are bound to the policy's size and type. With S3 they are S3's own; with the
local store the app signs them and is also the store that accepts them, so the checks of a
presented grant live here too: the signature (compared in constant time by the store's
checker), then the binding of type and size. Refusals become domain errors, so the face that
serves `/_blobs/` only parses and renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from filedock.core.errors import Forbidden, InvalidInput, NotFound, TooLarge
from filedock.core.model import File
from filedock.core.upload_policy import UploadPolicy
from filedock.ports.presign import (
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


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """A presented upload grant that passed every check: where the bytes go, and how many."""

    key: str
    max_bytes: int


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

    def upload_url(self, key: str, policy: UploadPolicy, content_type: str) -> PresignedRequest:
        """A PUT of `key`, bound to the policy's size and to `content_type`."""
        return self._presigner.presign(
            "PUT",
            key,
            expires_in=policy.url_expiry,
            limits=UploadLimits(max_bytes=policy.max_bytes, content_type=content_type),
        )

    def upload_form(
        self, key: str, policy: UploadPolicy, content_type: str | None = None
    ) -> PresignedRequest:
        """A browser form upload of `key`, bound to the policy's size (and a type, if given)."""
        return self._presigner.presign_post(
            key, expires_in=policy.url_expiry, limits=UploadLimits(policy.max_bytes, content_type)
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
        """A signed PUT: its signature, then the type it is bound to and its declared size."""
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
        return _upload(_checked(lambda: checker.verify_post(fields)))

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
    return CheckedUpload(grant.key, grant.max_bytes)
