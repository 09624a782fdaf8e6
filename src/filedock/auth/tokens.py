"""Bearer JWTs: issuing our own HS256 tokens and verifying HS256 or JWKS-checked RS256 ones."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MissingRequiredClaimError,
    PyJWTError,
)

from filedock.auth.verified_tokens import VerifiedTokens
from filedock.core.errors import Unauthenticated
from filedock.core.principal import BEARER_REALM, Principal, bearer_realm

HASURA_CLAIMS_NAMESPACE = "https://hasura.io/jwt/claims"
DEFAULT_ROLE = "user"
# RFC 7518 3.2 asks for an HMAC key at least as long as the hash; PyJWT would only warn.
MIN_SECRET_BYTES = 32
DEFAULT_JWKS_REFETCH_SECONDS = 300.0
DEFAULT_JWKS_TIMEOUT_SECONDS = 5.0
# Held keys are fetched again after this, so a key the identity provider withdrew (rotated
# out, or leaked) stops being trusted within the hour, not at the next restart.
DEFAULT_JWKS_MAX_AGE_SECONDS = 3600.0
# When that fetch fails, the held keys still serve this long. Refusing at once would sign
# every user out at the first JWKS hiccup past the hour; serving for ever would let anyone
# who can block the fetch keep a withdrawn key trusted. Bounded: at most max age + grace.
DEFAULT_JWKS_STALE_GRACE_SECONDS = 900.0

_HS256 = "HS256"
_RS256 = "RS256"
# NIST SP 800-131A; PyJWT would only warn on every verification with a smaller key.
_MIN_RSA_BITS = 2048
# After a failed fetch, retry sooner than the rotation interval so a brief IdP outage at
# startup does not lock everyone out for five minutes, yet bad tokens cannot hammer it.
_FAILED_FETCH_RETRY_SECONDS = 10.0

logger = logging.getLogger(__name__)


def issue_token(
    secret: str,
    user_id: str,
    role: str,
    ttl: timedelta,
    *,
    email: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    now: datetime | None = None,
) -> str:
    """Sign an HS256 token for `user_id` that both filedock and Hasura understand."""
    _check_secret(secret)
    if not user_id:
        raise ValueError("user_id must not be empty")
    if not role:
        raise ValueError("role must not be empty")
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    issued_at = now if now is not None else datetime.now(UTC)
    if issued_at.tzinfo is None:
        # PyJWT would read a naive datetime as UTC, silently shifting local times.
        raise ValueError("now must be timezone-aware")
    payload: dict[str, Any] = {
        "sub": user_id,
        "role": role,
        "iat": issued_at,
        "exp": issued_at + ttl,
        HASURA_CLAIMS_NAMESPACE: {
            "x-hasura-user-id": user_id,
            "x-hasura-default-role": role,
            "x-hasura-allowed-roles": [role],
        },
    }
    if email is not None:
        payload["email"] = email
    if issuer is not None:
        payload["iss"] = issuer
    if audience is not None:
        payload["aud"] = audience
    return jwt.encode(payload, secret, algorithm=_HS256)


def extract_bearer(authorization_header: str | None) -> str:
    """Return the token of a `Bearer <token>` Authorization header."""
    if authorization_header is None or not authorization_header.strip():
        raise Unauthenticated("missing bearer token")
    parts = authorization_header.split()
    if parts[0].lower() != "bearer":
        # Another scheme (Basic, Digest...) carries no bearer token at all.
        raise Unauthenticated("missing bearer token")
    if len(parts) != 2:
        raise Unauthenticated("malformed Authorization header")
    return parts[1]


class BearerVerifier:
    """Checks bearer JWTs and turns their claims into a Principal."""

    def __init__(
        self,
        secret: str | None = None,
        jwks: JwksKeys | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: int = 30,
    ) -> None:
        if secret is None and jwks is None:
            raise ValueError("a bearer verifier needs a secret, a JWKS, or both")
        if secret is not None:
            _check_secret(secret)
        if leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")
        self._secret = secret
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._verified = VerifiedTokens()

    def verify(self, token: str) -> Principal:
        """Return the caller a valid token names, or raise Unauthenticated."""
        known = self._verified.get(token)
        if known is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError as error:
            raise Unauthenticated("malformed token") from error
        algorithm, key = self._key_for(header)
        try:
            claims = jwt.decode(
                token,
                key,
                # One algorithm, chosen by the key type we hold, so a token can never pick
                # how our key is used (the RS256-public-key-as-HMAC-secret confusion).
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except PyJWTError as error:
            raise Unauthenticated(_describe(error)) from error
        # Our own secret is one realm; each issuer whose keys we fetch is another.
        iss = claims.get("iss")
        realm = BEARER_REALM if algorithm == "HS256" else bearer_realm(
            iss if isinstance(iss, str) else None
        )
        principal = _principal_from(claims, realm)
        expires = claims["exp"]  # required above, and numeric or PyJWT refused the token
        if algorithm == _HS256 and isinstance(expires, int | float):
            # Valid for PyJWT while now < exp + leeway: the same bound.
            self._verified.remember(token, principal, expires + self._leeway)
        return principal

    def _key_for(self, header: dict[str, Any]) -> tuple[str, str | RSAPublicKey]:
        algorithm = header.get("alg")
        if algorithm == _HS256 and self._secret is not None:
            return _HS256, self._secret
        if algorithm == _RS256 and self._jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise Unauthenticated("token has no key id")
            return _RS256, self._jwks.key_for(kid)
        raise Unauthenticated("token algorithm is not accepted")


class JwksKeys:
    """RS256 public keys by `kid`, refetched (rate-limited) when an unknown kid appears, and
    once they are `max_age_seconds` old; if that fetch fails they serve `stale_grace_seconds`
    more (retried meanwhile), then every token is refused until a fetch succeeds."""

    def __init__(
        self,
        fetch: Callable[[], bytes],
        *,
        refetch_interval_seconds: float = DEFAULT_JWKS_REFETCH_SECONDS,
        max_age_seconds: float = DEFAULT_JWKS_MAX_AGE_SECONDS,
        stale_grace_seconds: float = DEFAULT_JWKS_STALE_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        source: str = "JWKS",
    ) -> None:
        if refetch_interval_seconds < 0:
            raise ValueError("refetch_interval_seconds must not be negative")
        if max_age_seconds <= 0:
            raise ValueError("max_age_seconds must be positive")
        if stale_grace_seconds < 0:
            raise ValueError("stale_grace_seconds must not be negative")
        self._fetch = fetch
        self._interval = refetch_interval_seconds
        self._max_age = max_age_seconds
        self._grace = stale_grace_seconds
        self._clock = clock
        self._source = source
        self._lock = threading.Lock()
        # Replaced whole, never mutated, so the lock-free read in key_for is safe.
        self._keys: dict[str, RSAPublicKey] = {}
        self._loaded = False
        # When the held keys were fetched (the clock's time), and when a fetch may next be
        # tried: for an unknown kid (rate-limited), and after a failed fetch.
        self._fetched_at = float("-inf")
        self._next_fetch_at = float("-inf")
        self._retry_at = float("-inf")

    @classmethod
    def from_location(
        cls,
        location: str,
        *,
        refetch_interval_seconds: float = DEFAULT_JWKS_REFETCH_SECONDS,
        max_age_seconds: float = DEFAULT_JWKS_MAX_AGE_SECONDS,
        stale_grace_seconds: float = DEFAULT_JWKS_STALE_GRACE_SECONDS,
        timeout_seconds: float = DEFAULT_JWKS_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> JwksKeys:
        """Keys from an http(s) URL (fetched lazily) or a file path (read now)."""
        remote = location.lower().startswith(("http://", "https://"))
        path = Path(location)
        keys = cls(
            (lambda: _fetch_url(location, timeout_seconds)) if remote else path.read_bytes,
            refetch_interval_seconds=refetch_interval_seconds,
            max_age_seconds=max_age_seconds,
            stale_grace_seconds=stale_grace_seconds,
            clock=clock,
            source=location,
        )
        if remote:
            return keys
        # A missing or broken file is a configuration mistake: fail at startup, not per request.
        try:
            keys._held(_parse_jwks(path.read_bytes()), clock())
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot load a JWKS from {location}: {error}") from error
        return keys

    @property
    def kids(self) -> frozenset[str]:
        """The key ids currently held."""
        return frozenset(self._keys)

    def key_for(self, kid: str) -> RSAPublicKey:
        """Return the key for `kid`, refetching once per interval if it is unknown, and
        whenever the held keys are older than their maximum age."""
        key = self._keys.get(kid)
        if key is not None and self._clock() < self._fetched_at + self._max_age:
            return key
        with self._lock:
            now = self._clock()
            fresh = now < self._fetched_at + self._max_age
            # Another thread may have refetched while we waited for the lock.
            key = self._keys.get(kid)
            if key is not None and fresh:
                return key
            unknown_may_fetch = key is None and now >= self._next_fetch_at
            if (not fresh or unknown_may_fetch) and now >= self._retry_at:
                self._refetch_locked()
            if not self._loaded or now >= self._fetched_at + self._max_age + self._grace:
                # Never fetched, or too old to vouch for and the provider cannot be asked.
                raise Unauthenticated("token keys are unavailable")
            key = self._keys.get(kid)
            if key is not None:
                return key
            raise Unauthenticated("token key is unknown")

    def _refetch_locked(self) -> None:
        try:
            keys = _parse_jwks(self._fetch())
        except (OSError, ValueError) as error:
            # Keep whatever keys we had, within their grace; the caller only learns the keys
            # are unavailable once that is over.
            logger.warning("fetching the JWKS from %s failed: %s", self._source, error)
            retry_at = self._clock() + min(self._interval, _FAILED_FETCH_RETRY_SECONDS)
            self._next_fetch_at = self._retry_at = retry_at
            return
        self._held(keys, self._clock())

    def _held(self, keys: dict[str, RSAPublicKey], now: float) -> None:
        self._keys = keys
        self._loaded = True
        self._fetched_at = now
        self._next_fetch_at = now + self._interval
        self._retry_at = float("-inf")


def _check_secret(secret: str) -> None:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the HS256 secret must be at least {MIN_SECRET_BYTES} bytes long")


def _describe(error: PyJWTError) -> str:
    # Order matters: InvalidSignatureError is a DecodeError, and PyJWT reports a configured
    # but absent iss/aud as a missing claim rather than as a wrong one.
    if isinstance(error, ExpiredSignatureError):
        return "token has expired"
    if isinstance(error, ImmatureSignatureError):
        return "token is not yet valid"
    if isinstance(error, InvalidIssuerError):
        return "token issuer is not accepted"
    if isinstance(error, InvalidAudienceError):
        return "token audience is not accepted"
    if isinstance(error, MissingRequiredClaimError):
        if error.claim == "iss":
            return "token issuer is not accepted"
        if error.claim == "aud":
            return "token audience is not accepted"
        return f"token has no {error.claim} claim"
    if isinstance(error, InvalidSignatureError):
        return "token signature is invalid"
    if isinstance(error, DecodeError):
        return "malformed token"
    return "token is invalid"


def _principal_from(claims: dict[str, Any], realm: str) -> Principal:
    hasura = _hasura_claims(claims.get(HASURA_CLAIMS_NAMESPACE))
    user_id = _text(hasura.get("x-hasura-user-id")) or _text(claims.get("sub"))
    if user_id is None:
        raise Unauthenticated("token has no subject")
    role = _text(hasura.get("x-hasura-default-role")) or _text(claims.get("role")) or DEFAULT_ROLE
    email = claims.get("email")
    return Principal(
        realm=realm,
        user_id=user_id,
        role=role,
        email=email if isinstance(email, str) and email else None,
    )


def _hasura_claims(raw: object) -> dict[str, object]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        # Hasura's `claims_format: stringified_json` sends the namespace as a JSON string.
        try:
            raw = json.loads(raw)
        except ValueError:
            raise Unauthenticated("token claims are malformed") from None
    if not isinstance(raw, dict):
        raise Unauthenticated("token claims are malformed")
    # Hasura treats session variable names case-insensitively; so do we.
    return {str(name).lower(): value for name, value in raw.items()}


def _text(value: object) -> str | None:
    # Some issuers put numeric user ids in their claims; booleans are never ids.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    if value is None or value == "":
        return None
    raise Unauthenticated("token claims are malformed")


def _fetch_url(url: str, timeout_seconds: float) -> bytes:
    # Imported here: httpx drags in click and rich, megabytes a server without a JWKS URL
    # would carry for nothing.
    import httpx

    try:
        response = httpx.get(url, timeout=timeout_seconds)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise OSError(str(error)) from error
    return response.content


def _parse_jwks(raw: bytes) -> dict[str, RSAPublicKey]:
    document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no `keys` list)")
    keys: dict[str, RSAPublicKey] = {}
    for entry in document["keys"]:
        key = _rsa_signing_key(entry)
        if key is not None:
            keys[entry["kid"]] = key
    return keys


def _rsa_signing_key(entry: object) -> RSAPublicKey | None:
    # One odd entry (an EC key, an encryption key, a typo) must not discard the whole set.
    if not isinstance(entry, dict):
        return None
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid or entry.get("kty") != "RSA":
        return None
    if entry.get("use", "sig") != "sig" or entry.get("alg", _RS256) != _RS256:
        return None
    # Only the public members, so a JWKS that leaks `d` still yields a verification key.
    public = {"kty": "RSA", "n": entry.get("n"), "e": entry.get("e")}
    try:
        key = jwt.PyJWK(public, algorithm=_RS256).key
    except (PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(key, RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
        return None
    return key
