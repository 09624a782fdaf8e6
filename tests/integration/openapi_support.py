"""What the OpenAPI tests share: the document's operations, the callers of every face on a live
server, and the check that an answer is one the document describes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from filedock.app import create_app
from filedock.config import Settings
from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer

POOL = CognitoPool.create()
NOTIFICATION_TOKEN = "fuzz-bucket-notifications"
METRICS_TOKEN = "fuzz-metrics-token-0123456789"
USER = str(uuid.uuid4())
SIGNED_URL_USER = str(uuid.uuid4())
# What a generated client relies on: each answer is one the document describes.
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# A file's own bytes under its own type: nothing the document could give a schema.
_USER_BYTES = frozenset({"GET /v1/file/{file_id}", "GET /_blobs/{key}"})


def load_operations() -> list[Any]:
    """The document as the app builds it (the live server serves the same one)."""
    app = create_app(Settings(data_dir=Path("/nonexistent")), migrate=False)
    schema = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


def operation_name(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def server_settings(data_dir: Path) -> dict[str, str]:
    """Settings under which every face has a caller: the Cognito pool, the shared tokens."""
    return {
        **POOL.settings_in(data_dir),
        "max_upload_bytes": "65536",
        # Limits would answer most examples 429 before they reach anything else.
        "rate_limit_per_second": "0",
        "anonymous_rate_per_minute": "0",
        "bucket_notification_token": NOTIFICATION_TOKEN,
        "metrics_token": METRICS_TOKEN,
    }


@dataclass
class Callers:
    """Valid callers of every face of a server started with `server_settings`."""

    live: LiveServer
    api_key: str
    cosphere_user: str
    cosphere_admin: str

    @classmethod
    def of(cls, live: LiveServer) -> Callers:
        return cls(
            live,
            live.create_api_key("fuzzer"),
            _account(live, "RESEARCHER"),
            _account(live, "ADMIN"),
        )

    def identities(self, path: str) -> list[tuple[str, dict[str, str]]]:
        """Who each generated request is sent as: nobody, then the face's valid callers."""
        anonymous: list[tuple[str, dict[str, str]]] = [("anonymous", {})]
        if path.startswith("/v1/files"):
            signed_url = {"api-key": self.api_key, "user-id": SIGNED_URL_USER}
            # The key alone keeps the generated user-id: that header gets fuzzed too.
            return [
                *anonymous,
                ("api-key", signed_url),
                ("generated user", {"api-key": self.api_key}),
            ]
        if path.startswith(("/v1/file/", "/api/v2/")):
            user, admin = self.live.auth(USER), self.live.auth(USER, "admin")
            return [*anonymous, ("user", user), ("admin", admin)]
        if path.endswith("/participants/"):
            return [*anonymous, ("api-key", {"api-key": self.api_key})]
        if path.startswith("/api/v1/"):
            return [
                *anonymous,
                ("user", POOL.headers(USER)),
                ("admin", POOL.headers(USER, admin=True)),
            ]
        if path.startswith(("/accounts/", "/catalogue/", "/downloader/")):
            return [
                *anonymous,
                ("researcher", bearer(self.cosphere_user)),
                ("admin", bearer(self.cosphere_admin)),
            ]
        if path == "/metrics":
            return [*anonymous, ("metrics", bearer(METRICS_TOKEN))]
        if path.startswith("/_hooks/"):
            return [*anonymous, ("notifier", bearer(NOTIFICATION_TOKEN))]
        return anonymous


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check_documented(
    undocumented: dict[str, str],
    case: Any,
    response: Any,
    headers: dict[str, str],
    described: str,
) -> None:
    """Record in `undocumented` an answer the document does not describe, once per kind of
    mismatch, so that a test reports all of them, not only the first."""
    checks = CONFORMANCE
    if operation_name(case.operation) in _USER_BYTES and response.status_code in (200, 206):
        checks = [check for check in checks if check is not response_schema_conformance]
    try:
        case.validate_response(response, checks=checks, headers=headers)
    except (AssertionError, FailureGroup) as mismatch:
        name = operation_name(case.operation)
        kind = f"{name} {response.status_code} {type(mismatch).__name__}"
        undocumented.setdefault(kind, f"{described}\n  {mismatch}"[:3000])


def describe(who: str, case: Any, response: Any) -> str:
    """A request and its answer, for a failure message."""
    # Not `.text`: a downloaded file may be any bytes under any declared charset.
    text = response.content.decode("utf-8", "replace")
    return (
        f"{who}: {case.method} {case.formatted_path} query={case.query} "
        f"headers={dict(case.headers or {})} body={str(case.body)[:300]!r} -> "
        f"{response.status_code}: {text[:300]}"
    )


def _account(live: LiveServer, kind: str) -> str:
    email = f"{kind.lower()}-{uuid.uuid4().hex[:8]}@example.org"
    live.cli("account", "create", "--email", email, "--type", kind)
    return live.cli("account", "token", "--email", email)
