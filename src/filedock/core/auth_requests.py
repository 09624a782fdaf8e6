"""Sign-in by auth request: a client starts one, a browser attaches an account, the client
exchanges it for a Bearer token.

1. A client (a CLI, a notebook) creates an auth request and opens its sign-in page.
2. The person signs in with the identity provider there; the page posts the provider's ID
   token and email, which attach the (found or new) account to the request.
3. The client, polling, exchanges the request for a Bearer token, once.

The request's uuid is the only secret the client and the page share: it is random, it lives
`lifetime` (10 minutes by default), an account can be attached once, and it can be exchanged
once. Unknown, already exchanged and not yet attached requests all answer `NotFound`, so a
poller learns nothing but "not yet".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from filedock.core.account_model import Account, AuthRequest
from filedock.core.accounts import AccountService, normalize_email
from filedock.core.errors import Expired, InvalidInput, NotFound, Unauthenticated
from filedock.core.files import Clock, utc_now
from filedock.core.rate_limit import RateLimiter
from filedock.ports.accounts import AuthRequestStore, IdTokenVerifier

DEFAULT_LIFETIME = timedelta(minutes=10)
# Expired requests are kept this long (answering "expired", not "unknown"), then purged.
PURGE_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    account: Account
    token: str


class AuthRequestNotFound(NotFound):
    """Unknown, already exchanged, or (on exchange) not attached yet."""


class AuthRequestExpired(Expired):
    pass


class IdTokenRefused(Unauthenticated):
    """The provider's ID token did not verify; the message says which check, never the token."""


class EmailMismatch(Unauthenticated):
    """The ID token is genuine but names another email than the one sent with it."""


class AuthRequestService:
    def __init__(
        self,
        requests: AuthRequestStore,
        accounts: AccountService,
        verifier: IdTokenVerifier,
        *,
        lifetime: timedelta = DEFAULT_LIFETIME,
        limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if lifetime <= timedelta(0):
            raise ValueError("lifetime must be positive")
        self._requests = requests
        self._accounts = accounts
        self._verifier = verifier
        self._lifetime = lifetime
        # Anyone may create requests, and each is a row: limited per client address.
        self._limiter = limiter if limiter is not None else RateLimiter(0, 1)
        self._clock = clock

    async def create(self, client: str = "unknown") -> AuthRequest:
        """A new auth request, living the configured lifetime; `RateLimited` per `client`."""
        self._limiter.check(f"auth-request:{client}")
        now = self._clock()
        # Anyone may create requests, so old ones are purged here rather than piling up.
        await self._requests.purge(now - PURGE_AFTER)
        request = AuthRequest(
            uuid=str(uuid.uuid4()), created_at=now, expires_at=now + self._lifetime
        )
        await self._requests.insert(request)
        return request

    async def pending(self, request_uuid: str) -> AuthRequest:
        """The request a sign-in page is for: not exchanged and not expired."""
        request = await self._open(request_uuid)
        if request.is_expired(self._clock()):
            raise AuthRequestExpired("the auth request has expired")
        return request

    async def attach(self, code: str, email: str, request_uuid: str) -> Account:
        """Attach the account the ID token `code` names (created if new) to the request.

        The request is looked up first, so an unknown one answers `NotFound` whatever the
        token; `email` must be the token's verified email.
        """
        request = await self.pending(request_uuid)
        identity = await self._verifier.verify(code)
        if normalize_email(identity.email) != normalize_email(email):
            raise EmailMismatch("the email is not the one the ID token was issued for")
        account = await self._accounts.find_or_create_by_email(identity.email)
        if request.account_id is None and await self._requests.attach(
            request.uuid, account.id, self._clock()
        ):
            return account
        # Attached already (or just now, by a concurrent call): the same account again is a
        # harmless retry; another account must not take over the request.
        current = await self._requests.get(request.uuid)
        if current is not None and current.account_id == account.id and not current.exchanged_at:
            return account
        raise AuthRequestNotFound("the auth request has an account attached already")

    async def exchange(self, request_uuid: str) -> IssuedToken:
        """A Bearer token for the request's account; a request is exchanged once."""
        request = await self.pending(request_uuid)
        if request.account_id is None:
            raise AuthRequestNotFound("no account is attached to the auth request yet")
        if not await self._requests.exchange(request.uuid, self._clock()):
            raise AuthRequestNotFound("the auth request was exchanged already")
        try:
            account = await self._accounts.get(request.account_id)
        except NotFound:
            raise AuthRequestNotFound("the auth request's account was removed") from None
        return IssuedToken(account, self._accounts.issue_token(account))

    async def _open(self, request_uuid: str) -> AuthRequest:
        request = await self._requests.get(canonical_uuid(request_uuid))
        if request is None or request.exchanged_at is not None:
            raise AuthRequestNotFound("no such auth request")
        return request


def canonical_uuid(text: str) -> str:
    """The lower-case hyphenated form of a UUID; `InvalidInput` with DRF's message else."""
    try:
        return str(uuid.UUID(text))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput.one("request_uuid", f'"{text}" is not a valid UUID.') from None
