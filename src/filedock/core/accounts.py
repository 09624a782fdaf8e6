"""Accounts of the cosphere face: who signs in, what they may do, and their Bearer tokens.

An account is an email and a type, `ADMIN` or `RESEARCHER`. Its Bearer token is an HS256 JWT
carrying `id`, `email`, `type` and `exp`, as the seed's tokens do. It is signed with a key
derived from the app's secret for this purpose alone and carries its own `iss` and `aud`, so
the hasura face's verifier (which holds the app secret itself) never accepts one, and this
one never accepts a hasura token.

A token is only as good as the account behind it: every use reads the account, and a token
whose account is gone, or whose email or type no longer match, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from datetime import datetime, timedelta
from typing import Any, TypeGuard

import jwt
from jwt.exceptions import InvalidSignatureError, PyJWTError

from filedock.core.account_model import Account, AccountType
from filedock.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from filedock.core.files import Clock, utc_now
from filedock.ports.accounts import AccountStore, EmailTaken

TOKEN_ISSUER = "filedock/cosphere"
TOKEN_AUDIENCE = "filedock/cosphere/accounts"
DEFAULT_TOKEN_LIFETIME = timedelta(hours=24)
# The messages Django REST framework gives, which the seed's clients already show users.
EMAIL_MESSAGE = "Enter a valid email address."
MAX_EMAIL_LENGTH = 254
INVALID_TOKEN_MESSAGE = "missing or invalid auth token"

_KEY_DERIVATION_LABEL = b"filedock cosphere account tokens v1"
_HS256 = "HS256"
_MIN_SECRET_BYTES = 32
# Letters, digits and the dot-atom specials before the @; dotted DNS labels after it.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def admin_only(account: Account) -> Account:
    """`account` if it is an ADMIN account; `Forbidden` otherwise."""
    if not account.is_admin:
        raise Forbidden("only ADMIN accounts may do this")
    return account


def is_valid_email(text: str) -> bool:
    return len(text) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(text) is not None


def normalize_email(text: str) -> str:
    """The form an email is stored and compared in: trimmed and lower-cased.

    Lower-casing the local part too is a choice: providers treat it case-insensitively, and
    one person must not end up with two accounts because they typed a capital once.
    """
    email = text.strip().lower()
    if not is_valid_email(email):
        raise InvalidInput.one("email", EMAIL_MESSAGE)
    return email


def parse_account_type(text: str) -> AccountType:
    try:
        return AccountType(text.strip().upper())
    except ValueError:
        names = ", ".join(t.value for t in AccountType)
        raise InvalidInput.one("type", f"must be one of {names}") from None


class AccountTokens:
    """Signs and reads account Bearer tokens with a key used for nothing else."""

    def __init__(self, key: bytes, *, leeway_seconds: int = 0) -> None:
        if len(key) < _MIN_SECRET_BYTES:
            raise ValueError(f"the token key must be at least {_MIN_SECRET_BYTES} bytes")
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        self._key = bytes(key)
        self._leeway = leeway_seconds

    @classmethod
    def from_app_secret(cls, app_secret: str) -> AccountTokens:
        """Tokens keyed by an HMAC of the app secret, as the blob signer derives its key."""
        if not app_secret:
            raise ValueError("the app secret must not be empty")
        key = hmac.new(app_secret.encode("utf-8"), _KEY_DERIVATION_LABEL, hashlib.sha256)
        return cls(key.digest())

    def issue(self, account: Account, lifetime: timedelta, now: datetime) -> str:
        if lifetime <= timedelta(0):
            raise ValueError("lifetime must be positive")
        payload = {
            "id": account.id,
            "email": account.email,
            "type": account.type.value,
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
        }
        return jwt.encode(payload, self._key, algorithm=_HS256)

    def read(self, token: str, now: datetime) -> tuple[int, str, str]:
        """The `(id, email, type)` a genuine, unexpired token names; `Unauthenticated` else."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                # One algorithm, so a token can never choose how our key is used.
                algorithms=[_HS256],
                issuer=TOKEN_ISSUER,
                audience=TOKEN_AUDIENCE,
                # Times are checked below against the injected clock, not PyJWT's.
                options={"require": ["exp", "iss", "aud"], "verify_exp": False},
            )
        except InvalidSignatureError:
            raise Unauthenticated("auth token signature is invalid") from None
        except PyJWTError:
            raise Unauthenticated("auth token is malformed or not ours") from None
        exp = claims.get("exp")
        if not _is_number(exp) or exp <= now.timestamp() - self._leeway:
            raise Unauthenticated("auth token has expired")
        account_id, email, kind = claims.get("id"), claims.get("email"), claims.get("type")
        if not isinstance(account_id, int) or isinstance(account_id, bool):
            raise Unauthenticated("auth token names no account")
        if not isinstance(email, str) or not isinstance(kind, str):
            raise Unauthenticated("auth token names no account")
        return account_id, email, kind


class AccountService:
    def __init__(
        self,
        store: AccountStore,
        tokens: AccountTokens,
        *,
        token_lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
        clock: Clock = utc_now,
    ) -> None:
        if token_lifetime <= timedelta(0):
            raise ValueError("token_lifetime must be positive")
        self._store = store
        self._tokens = tokens
        self._token_lifetime = token_lifetime
        self._clock = clock

    async def create(self, email: str, type: AccountType) -> Account:
        """A new account; `Conflict` if one has this email already."""
        email = normalize_email(email)
        try:
            return await self._store.insert(email, type, self._clock())
        except EmailTaken:
            raise Conflict(f"an account with the email {email} exists already") from None

    async def get(self, account_id: int) -> Account:
        account = await self._store.get(account_id)
        if account is None:
            raise NotFound(f"no account with the id {account_id}")
        return account

    async def find_by_email(self, email: str) -> Account:
        email = normalize_email(email)
        account = await self._store.find_by_email(email)
        if account is None:
            raise NotFound(f"no account with the email {email}")
        return account

    async def find_or_create_by_email(self, email: str) -> Account:
        """The account of `email`; a new RESEARCHER account when there is none yet."""
        email = normalize_email(email)
        account = await self._store.find_by_email(email)
        if account is not None:
            return account
        try:
            return await self._store.insert(email, AccountType.RESEARCHER, self._clock())
        except EmailTaken:
            # Another sign-in of the same person created it between our read and insert.
            account = await self._store.find_by_email(email)
            if account is None:
                raise
            return account

    async def change_type(self, account_id: int, type: AccountType) -> Account:
        """Make the account ADMIN or RESEARCHER; its tokens issued before stop working."""
        account = await self._store.set_type(account_id, type, self._clock())
        if account is None:
            raise NotFound(f"no account with the id {account_id}")
        return account

    async def remove(self, account_id: int) -> None:
        """Remove the account; its tokens stop working at once."""
        if not await self._store.delete(account_id):
            raise NotFound(f"no account with the id {account_id}")

    def issue_token(self, account: Account) -> str:
        """A Bearer token for `account`, living the configured token lifetime."""
        return self._tokens.issue(account, self._token_lifetime, self._clock())

    async def authenticate(self, bearer: str | None) -> Account:
        """The account a Bearer token (the part after `Bearer `) names, as it is now.

        Missing, malformed, foreign, expired tokens, and tokens whose account was removed or
        changed type since, all raise `Unauthenticated` alike.
        """
        if bearer is None or not bearer.strip():
            raise Unauthenticated(INVALID_TOKEN_MESSAGE)
        account_id, email, kind = self._tokens.read(bearer.strip(), self._clock())
        account = await self._store.get(account_id)
        if account is None or account.email != email or account.type.value != kind:
            raise Unauthenticated("auth token names an account that changed or is gone")
        return account


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
