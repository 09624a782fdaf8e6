"""Schemathesis over the app's own OpenAPI document against a real server: no 5xx, ever, and
every answer one the document describes (its status, its media type, its headers, a body of
its schema), so that a client generated from the document can trust it.

Every operation is fuzzed on its own, with a bounded number of examples, and each generated
request goes out as nobody and with valid credentials of the operation's face (a Bearer token,
an API key with an end user, a Cognito token pair, a cosphere account token, the metrics and
bucket-notification tokens), user and admin where the face has both, so the bodies and
parameters really reach the code behind authentication. Path parameters are sometimes those
of things that exist (a ready file, a signed-url file, a schedule, a catalogue item). Cases are
valid ones and, from schemathesis' negative mode, invalid ones; besides the bodies the document
describes, the catalogue and the bucket hook also get bodies drawn here (openapi_bodies.py):
nearly valid ones that reach the later checks, and any JSON at all.

Cases are drawn from `operation.as_strategy()` with Hypothesis directly: schemathesis' own
pytest loader still reads a pytest-internal attribute that pytest 9 removed.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.fixtures.server import LiveServer, server_env
from tests.integration.openapi_bodies import EXTRA_BODIES
from tests.integration.openapi_support import (
    POOL,
    SIGNED_URL_USER,
    USER,
    Callers,
    check_documented,
    describe,
    load_operations,
    server_settings,
)
from tests.integration.openapi_support import operation_name as _name

# Per operation: about 45 operations, each example sent two to four times; FUZZ_EXAMPLES
# raises (or lowers) it for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
# Each operation is a test of its own; the live server serves the same document (checked by
# the first test).
OPERATIONS = load_operations()


@dataclass
class FuzzWorld:
    """The server, the callers of every face, and things that exist on it."""

    callers: Callers
    known: dict[str, list[Any]] = field(default_factory=dict)
    known_failures: list[str] = field(default_factory=list)
    undocumented: dict[str, str] = field(default_factory=dict)

    @property
    def live(self) -> LiveServer:
        return self.callers.live


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir, **server_settings(data_dir)))
    live.start()
    try:
        world = FuzzWorld(Callers.of(live))
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
def test_generated_requests_get_documented_answers_and_never_a_server_error(
    fuzz: FuzzWorld, operation: Any
) -> None:
    reached: set[str] = set()
    seen_before = set(fuzz.undocumented)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, fuzz))
    def check(case: Any) -> None:
        for who, headers in fuzz.callers.identities(operation.path):
            response = case.call(base_url=fuzz.live.base_url, headers=headers, timeout=30)
            if response.status_code not in (401, 403):
                reached.add(who)
            described = describe(who, case, response)
            if response.status_code >= 500 and (known := _known_failure(case)) is not None:
                fuzz.known_failures.append(f"{known}: {described}")
                continue
            assert response.status_code < 500, described
            assert b"Traceback" not in response.content, described
            check_documented(fuzz.undocumented, case, response, headers, described)

    known_before = len(fuzz.known_failures)
    check()
    for known in fuzz.known_failures[known_before:]:
        warnings.warn(f"known server error, fixed by another change: {known}", stacklevel=1)
    undocumented = [fuzz.undocumented[k] for k in sorted(set(fuzz.undocumented) - seen_before)]
    assert not undocumented, "answers the document does not describe:\n" + "\n".join(undocumented)
    valid = {who for who, _ in fuzz.callers.identities(operation.path)}
    valid -= {"anonymous", "generated user"}
    # Past authentication: some valid caller got an answer other than 401/403.
    assert not valid or reached & valid, f"no request got past authentication: {reached}"


def test_an_answer_the_document_does_not_describe_is_caught(fuzz: FuzzWorld) -> None:
    by_name = {_name(operation): operation for operation in OPERATIONS}
    readiness = by_name["GET /readyz"].Case().call(base_url=fuzz.live.base_url, timeout=30)
    assert readiness.status_code == 200
    caught: dict[str, str] = {}

    # JSON where the document promises Prometheus' text.
    check_documented(caught, by_name["GET /metrics"].Case(), readiness, {}, "/readyz")

    assert list(caught) == ["GET /metrics 200 FailureGroup"]
    assert "Undocumented Content-Type" in caught["GET /metrics 200 FailureGroup"]


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
    """Generated cases, valid and not (negative ones); also some whose path names something
    that exists, some with query parameters the handler needs but the document names loosely,
    and some with bodies drawn here."""
    strategies = [
        operation.as_strategy(),
        operation.as_strategy(GenerationMode.NEGATIVE).map(_framed),
    ]
    names = [p.name for p in operation.path_parameters]
    if names and all(name in fuzz.known for name in names):
        known = st.fixed_dictionaries({n: st.sampled_from(fuzz.known[n]) for n in names})
        strategies.append(known.flatmap(lambda p: operation.as_strategy(path_parameters=p)))
    query = _QUERIES.get(_name(operation))
    if query is not None:
        strategies.append(query(fuzz).flatmap(lambda q: operation.as_strategy(query=q)))
    body = EXTRA_BODIES.get(_name(operation))
    if body is not None:
        strategies.append(body.flatmap(lambda b: operation.as_strategy(body=b)))
    return st.one_of(strategies)


# Headers that frame the HTTP message itself: garbage in them is answered by the HTTP server
# (a bare 400) before any face sees the request, so no operation could document it.
_FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection"})


def _framed(case: Any) -> Any:
    for name in [name for name in case.headers or {} if name.lower() in _FRAMING]:
        del case.headers[name]
    return case


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


def _create_known_things(fuzz: FuzzWorld) -> None:
    live = fuzz.live
    with live.client() as client:
        file_id = f"fuzz-{uuid.uuid4().hex[:8]}"
        headers = {**live.auth(USER), "Content-Type": "text/plain"}
        assert client.post(f"/v1/file/{file_id}", content=b"fuzz\n", headers=headers).is_success
        signed = client.get(
            "/v1/files/signed-url",
            params={"filename": "a.csv"},
            headers={"api-key": fuzz.callers.api_key, "user-id": SIGNED_URL_USER},
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
            headers={"Authorization": f"Bearer {fuzz.callers.cosphere_admin}"},
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
