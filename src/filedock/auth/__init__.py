"""Authenticators that turn request credentials into a Principal."""

from filedock.auth.tokens import (
    DEFAULT_ROLE,
    HASURA_CLAIMS_NAMESPACE,
    BearerVerifier,
    JwksKeys,
    extract_bearer,
    issue_token,
)

__all__ = [
    "DEFAULT_ROLE",
    "HASURA_CLAIMS_NAMESPACE",
    "BearerVerifier",
    "JwksKeys",
    "extract_bearer",
    "issue_token",
]
