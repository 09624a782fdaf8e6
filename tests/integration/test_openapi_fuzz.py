"""Schemathesis over the app's own OpenAPI document against a real server: no 5xx, ever.

Every operation is fuzzed on its own, with a bounded number of examples, and each generated
request goes out as nobody and with valid credentials of the operation's face (a Bearer token,
an API key with an end user, a Cognito token pair, a cosphere account token, the metrics and
bucket-notification tokens), user and admin where the face has both, so the bodies and
parameters really reach the code behind authentication. Path parameters are sometimes those
of things that exist (a ready file, a signed-url file, a schedule, a catalogue item). Where
the document names no body (the cosphere catalogue's and the bucket hook's JSON), the test
draws one itself.

Cases are drawn from `operation.as_strategy()` with Hypothesis directly: schemathesis' own
pytest loader still reads a pytest-internal attribute that pytest 9 removed.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filedock.app import create_app
from filedock.config import Settings
from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer, server_env

# Per operation: about 30 operations, each example sent two to four times; under a minute here.
MAX_EXAMPLES = 100
POOL = CognitoPool.create()
NOTIFICATION_TOKEN = "fuzz-bucket-notifications"
METRICS_TOKEN = "fuzz-metrics-token-0123456789"
USER = str(uuid.uuid4())
SIGNED_URL_USER = str(uuid.uuid4())


def _operations() -> list[Any]:
    # The document as the app builds it, so that each operation is a test of its own; the
    # live server serves the same one (checked by the first test).
    app = create_app(Settings(data_dir=Path("/nonexistent")), migrate=False)
    schema = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


def _name(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


OPERATIONS = _operations()


@dataclass
class FuzzWorld:
    """The server, the credentials of every face, and things that exist on it."""

    live: LiveServer
    api_key: str
    cosphere_user: str
    cosphere_admin: str
    known: dict[str, list[Any]] = field(default_factory=dict)
    known_failures: list[str] = field(default_factory=list)

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
        if path.startswith(("/accounts/", "/catalogue/")):
            return [
                *anonymous,
                ("researcher", _bearer(self.cosphere_user)),
                ("admin", _bearer(self.cosphere_admin)),
            ]
        if path == "/metrics":
            return [*anonymous, ("metrics", _bearer(METRICS_TOKEN))]
        if path.startswith("/_hooks/"):
            return [*anonymous, ("notifier", _bearer(NOTIFICATION_TOKEN))]
        return anonymous


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    settings = {
        **POOL.settings_in(data_dir),
        "max_upload_bytes": "65536",
        # Limits would answer most examples 429 before they reach anything else.
        "rate_limit_per_second": "0",
        "anonymous_rate_per_minute": "0",
        "bucket_notification_token": NOTIFICATION_TOKEN,
        "metrics_token": METRICS_TOKEN,
    }
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir, **settings))
    live.start()
    try:
        world = FuzzWorld(
            live,
            live.create_api_key("fuzzer"),
            _account(live, "RESEARCHER"),
            _account(live, "ADMIN"),
        )
        _create_known_things(world)
        yield world
    finally:
        live.stop()


def test_the_live_server_serves_the_document_fuzzed_here(fuzz: FuzzWorld) -> None:
    served = schemathesis.openapi.from_url(f"{fuzz.live.base_url}/openapi.json")
    names = {f"{r.ok().method.upper()} {r.ok().path}" for r in served.get_all_operations()}
    assert names == {_name(operation) for operation in OPERATIONS}
    assert len(OPERATIONS) >= 25, "the OpenAPI document lost its operations"


@pytest.mark.parametrize("operation", OPERATIONS, ids=[_name(o) for o in OPERATIONS])
def test_no_generated_request_gets_a_server_error(fuzz: FuzzWorld, operation: Any) -> None:
    reached: set[str] = set()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, fuzz), body=_undocumented_body(operation))
    def check(case: Any, body: Any) -> None:
        extra = {} if body is None else {"json": body}
        for who, headers in fuzz.identities(operation.path):
            response = case.call(base_url=fuzz.live.base_url, headers=headers, timeout=30, **extra)
            if response.status_code not in (401, 403):
                reached.add(who)
            # Not `.text`: a downloaded file may be any bytes under any declared charset.
            text = response.content.decode("utf-8", "replace")
            described = (
                f"{who}: {case.method} {case.formatted_path} query={case.query} "
                f"headers={dict(case.headers or {})} body={str(body or case.body)[:300]!r} -> "
                f"{response.status_code}: {text[:300]}"
            )
            if response.status_code >= 500 and (known := _known_failure(case)) is not None:
                fuzz.known_failures.append(f"{known}: {described}")
                continue
            assert response.status_code < 500, described
            assert "Traceback" not in text, described

    known_before = len(fuzz.known_failures)
    check()
    for known in fuzz.known_failures[known_before:]:
        warnings.warn(f"known server error, fixed by another change: {known}", stacklevel=1)
    valid = {who for who, _ in fuzz.identities(operation.path)} - {"anonymous", "generated user"}
    # Past authentication: some valid caller got an answer other than 401/403.
    assert not valid or reached & valid, f"no request got past authentication: {reached}"


# Known server errors other changes of the same issue fix: a case matching one is reported
# (printed at the end of the module), not failed. Each names the input that trips it.
def _known_failure(case: Any) -> str | None:
    item_id = (case.path_parameters or {}).get("item_id")
    if isinstance(item_id, int) and not -(2**63) <= item_id < 2**63:
        return "catalogue ids above 64 bit"
    if case.path.startswith("/catalogue/") and "\x00" in str(case.query or ""):
        return "NUL in catalogue query"
    return None


def _cases(operation: Any, fuzz: FuzzWorld) -> Any:
    """Generated cases; also some whose path names something that exists, and some with
    query parameters the handler needs but the document does not name, or names loosely."""
    strategies = [operation.as_strategy()]
    names = [p.name for p in operation.path_parameters]
    if names and all(name in fuzz.known for name in names):
        known = st.fixed_dictionaries({n: st.sampled_from(fuzz.known[n]) for n in names})
        strategies.append(known.flatmap(lambda p: operation.as_strategy(path_parameters=p)))
    query = _QUERIES.get(_name(operation))
    if query is not None:
        strategies.append(query(fuzz).flatmap(lambda q: operation.as_strategy(query=q)))
    return st.one_of(strategies)


_TEXT = st.text(max_size=60)
_UUID_OR_TEXT = st.uuids().map(str) | _TEXT


def _presigned_url_query(fuzz: FuzzWorld) -> Any:
    schedules = st.sampled_from(fuzz.known["schedule"]) | _UUID_OR_TEXT
    attach = st.fixed_dictionaries(
        {"method_name": st.just("post_s3_object"), "schedule": schedules, "filename": _TEXT}
    )
    by_document = st.fixed_dictionaries(
        {
            "method_name": st.sampled_from(["get_s3_object", "delete_s3_object"]),
            "document": _UUID_OR_TEXT,
        }
    )
    return attach | by_document


# Query parameters by operation, as functions of what exists on the server.
_QUERIES: dict[str, Callable[[FuzzWorld], Any]] = {
    "GET /catalogue/items/": lambda _: st.fixed_dictionaries({"query": _TEXT}),
    "GET /api/v1/presigned-urls/": _presigned_url_query,
    "HEAD /api/v1/presigned-urls/": _presigned_url_query,
    "DELETE /api/v1/schedules/{schedule}/documents/": lambda _: st.fixed_dictionaries(
        {"document": _UUID_OR_TEXT}
    ),
}


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_COLUMN = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=30) | _JSON,
        "type": st.sampled_from(["STRING", "INTEGER", "FLOAT", "BOOLEAN", "DATE"]) | _JSON,
        "is_nullable": st.booleans() | _JSON,
        "size": st.integers() | _JSON,
        "distribution": st.lists(st.fixed_dictionaries({"value": _JSON, "count": st.integers()})),
    },
)
_CATALOGUE_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=250) | _JSON,
        "executor_type": st.sampled_from(["DUCKDB", "SPARK", "DATABRICKS", "ATHENA"]) | _JSON,
        "spec": st.lists(_COLUMN, max_size=3) | _JSON,
        "sample": st.lists(st.dictionaries(st.text(max_size=10), _JSON, max_size=3)) | _JSON,
        "maintained_by_id": st.integers(min_value=-(2**63), max_value=2**63 - 1) | _JSON,
        "location": st.text(max_size=80) | st.just("store:datasets/x/") | _JSON,
    },
)
_BUCKET_EVENT = st.fixed_dictionaries(
    {
        "Records": st.lists(
            st.fixed_dictionaries(
                {
                    "eventName": st.sampled_from(["s3:ObjectCreated:Put", "ObjectRemoved:Delete"])
                    | _JSON,
                    "s3": st.fixed_dictionaries(
                        {
                            "bucket": st.fixed_dictionaries({"name": st.text(max_size=20)}),
                            "object": st.fixed_dictionaries({"key": st.text(max_size=60)}),
                        }
                    )
                    | _JSON,
                }
            ),
            max_size=3,
        )
        | _JSON
    }
)
# An item that passes most checks, so that the later ones are reached too.
_LIKELY_ITEM = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=60),
        "executor_type": st.sampled_from(["DUCKDB", "SPARK", "DATABRICKS", "ATHENA"]),
        "spec": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.text(min_size=1, max_size=20),
                    "type": st.sampled_from(["STRING", "INTEGER", "FLOAT", "BOOLEAN", "DATE"]),
                    "is_nullable": st.booleans(),
                    "size": st.integers(min_value=0, max_value=2**40),
                    "distribution": st.lists(
                        st.fixed_dictionaries({"value": _JSON, "count": st.integers()}),
                        max_size=3,
                    ),
                }
            ),
            max_size=3,
        ),
        "sample": st.lists(st.dictionaries(st.text(max_size=10), _JSON, max_size=3), max_size=2),
    },
    optional={"location": st.text(max_size=80) | st.just("store:datasets/x/")},
)
# The JSON bodies the document does not describe, by operation.
_UNDOCUMENTED_BODIES = {
    "POST /catalogue/items/": _LIKELY_ITEM | _CATALOGUE_ITEM | _JSON,
    "PUT /catalogue/items/{item_id}": _LIKELY_ITEM | _CATALOGUE_ITEM | _JSON,
    "POST /_hooks/bucket-events": _BUCKET_EVENT | _JSON,
}


def _undocumented_body(operation: Any) -> Any:
    body = _UNDOCUMENTED_BODIES.get(_name(operation))
    return st.just(None) if body is None else body


def _account(live: LiveServer, kind: str) -> str:
    email = f"{kind.lower()}-{uuid.uuid4().hex[:8]}@example.org"
    live.cli("account", "create", "--email", email, "--type", kind)
    return live.cli("account", "token", "--email", email)


def _create_known_things(fuzz: FuzzWorld) -> None:
    live = fuzz.live
    with live.client() as client:
        file_id = f"fuzz-{uuid.uuid4().hex[:8]}"
        headers = {**live.auth(USER), "Content-Type": "text/plain"}
        assert client.post(f"/v1/file/{file_id}", content=b"fuzz\n", headers=headers).is_success
        signed = client.get(
            "/v1/files/signed-url",
            params={"filename": "a.csv"},
            headers={"api-key": fuzz.api_key, "user-id": SIGNED_URL_USER},
        )
        assert signed.status_code == 200, signed.text
        schedule = str(uuid.uuid4())
        attached = client.get(
            "/api/v1/presigned-urls/",
            params={"method_name": "post_s3_object", "schedule": schedule, "filename": "a.pdf"},
            headers=POOL.headers(USER),
        )
        assert attached.status_code == 200, attached.text
        item = client.post(
            "/catalogue/items/",
            json={"name": "fuzzed", "executor_type": "DUCKDB", "spec": [], "sample": []},
            headers={"Authorization": f"Bearer {fuzz.cosphere_admin}"},
        )
        assert item.status_code == 201, item.text
        auth_request = client.post("/accounts/auth_requests/")
        assert auth_request.status_code == 201, auth_request.text
        _wait_ready(client, file_id, live.auth(USER))
    fuzz.known = {
        "request_uuid": [auth_request.json()["request_uuid"]],
        "file_id": [file_id, signed.json()["file_id"]],
        "schedule": [schedule],
        "item_id": [item.json()["id"]],
    }


def _wait_ready(client: httpx.Client, file_id: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 20
    while client.get(f"/v1/file/{file_id}", headers=headers).status_code != 200:
        assert time.monotonic() < deadline, f"{file_id} never became ready"
        time.sleep(0.05)
