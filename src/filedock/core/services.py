"""The narrow object every face gets: the core's services and the caller checks, nothing else.

Built once by `filedock.runtime`; faces never see settings, backends or the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from filedock.core.accounts import AccountService
from filedock.core.auth_requests import AuthRequestService
from filedock.core.catalogue import CatalogueService
from filedock.core.downloads import DownloadService
from filedock.core.end_users import EndUserAuthenticator
from filedock.core.files import FileService
from filedock.core.operations import Operations, SharedSecret
from filedock.core.schedules import ScheduleDocuments
from filedock.core.signing import SignedGrants
from filedock.core.uploads import UploadService
from filedock.ports.identity import HeaderAuthenticator, TokenPairVerifier, TokenVerifier


@dataclass(frozen=True, slots=True)
class Services:
    files: FileService
    uploads: UploadService
    schedules: ScheduleDocuments
    grants: SignedGrants
    catalogue: CatalogueService
    downloads: DownloadService
    accounts: AccountService
    auth_requests: AuthRequestService
    # Who calls: Bearer tokens (hasura, s3-command), API key + user id (signed-url),
    # Cognito token pairs (schedules); cosphere tokens are checked by `accounts`.
    bearer: TokenVerifier
    # The hasura face's callers: a trusted gateway's X-Hasura-* headers, else Bearer tokens.
    hasura_callers: HeaderAuthenticator
    api_users: EndUserAuthenticator
    cognito: TokenPairVerifier
    operations: Operations
    # Who may read /metrics, and who may post bucket notifications.
    metrics_access: SharedSecret
    bucket_notifications: SharedSecret
    # Proxies whose X-Forwarded-For names the client (for limits per client address).
    trusted_proxies: frozenset[str]
    # The OpenID Connect client the cosphere sign-in page uses; None: sign-in is off.
    oidc_client_id: str | None
    # Where browsers send upload bytes (the signed URLs' origins), for the web pages' CSP.
    upload_origins: tuple[str, ...] = ()
