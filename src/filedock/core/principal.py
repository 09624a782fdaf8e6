"""Who is calling: built by an authenticator, consumed by every core service.

A caller is a subject within a realm. A realm is one source of trust: Bearer tokens of this
installation's secret, each external token issuer, each API key (its back-end speaks for its
own users only), the Cognito pool, cosphere accounts. The same subject string in two realms
is two different people, and an admin is admin of its own realm only.
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_ROLE = "admin"

# Bearer tokens signed with this installation's secret (hasura and s3-command faces).
BEARER_REALM = "bearer"
COGNITO_REALM = "cognito"
COSPHERE_REALM = "cosphere"


def bearer_realm(issuer: str | None) -> str:
    """Tokens checked against a JWKS: one realm per issuer."""
    return f"bearer:{issuer}" if issuer else "bearer:jwks"


def api_key_realm(key_id: str) -> str:
    """A back-end's users, as vouched for by one API key."""
    return f"api-key:{key_id}"


@dataclass(frozen=True, slots=True)
class Principal:
    realm: str
    user_id: str
    role: str
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE
