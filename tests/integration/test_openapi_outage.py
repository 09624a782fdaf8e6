"""With the database gone, every operation still answers as the OpenAPI document says: the
"try again later" of each face (503, the schedules seed's 410, readiness' 503) is documented
where it happens, in the face's envelope, and never a 500.

The server reaches PostgreSQL through a proxy the test cuts (tests/fixtures/pg_proxy.py), as in
test_outage_faces.py; the requests are schemathesis' valid cases of each operation, sent as
nobody and as each valid caller of its face.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fixtures.pg_proxy import PgProxy
from tests.fixtures.server import LiveServer, server_env
from tests.integration.openapi_support import (
    Callers,
    check_documented,
    describe,
    load_operations,
    operation_name,
    server_settings,
)

EXAMPLES_PER_OPERATION = 8
OPERATIONS = load_operations()
# Answers that need no database (a signature checked, a token refused, the process alive).
_WITHOUT_DATABASE = frozenset({200, 204, 400, 401, 403, 404, 405})


@pytest.fixture
def callers(tmp_path: Path, postgres_url: str, pg_proxy: PgProxy) -> Iterator[Callers]:
    settings = {**server_settings(tmp_path), "database_url": pg_proxy.url_for(postgres_url)}
    live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path, **settings))
    live.start()
    try:
        yield Callers.of(live)
    finally:
        live.stop()


@dataclass
class Outage:
    """What the operations answered while the database was gone."""

    callers: Callers
    undocumented: dict[str, str] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)

    def send_cases_of(self, operation: Any) -> None:
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=_cases(operation))
        def send(case: Any) -> None:
            for who, headers in self.callers.identities(operation.path):
                live = self.callers.live
                response = case.call(base_url=live.base_url, headers=headers, timeout=30)
                described = describe(who, case, response)
                if response.status_code not in _WITHOUT_DATABASE:
                    self.unavailable.add(f"{operation_name(operation)} {response.status_code}")
                if response.status_code == 500:
                    self.server_errors.append(described)
                check_documented(self.undocumented, case, response, headers, described)

        send()


def _cases(operation: Any) -> Any:
    """Valid cases; for the schedules' presigned URLs also ones whose query reaches the
    database (generated ones rarely name a UUID)."""
    cases = operation.as_strategy()
    if operation.path == "/api/v1/presigned-urls/":
        query = {"method_name": "get_s3_object", "document": str(uuid.uuid4())}
        cases |= operation.as_strategy(query=query)
    return cases


def test_every_operation_answers_a_database_outage_as_documented(
    callers: Callers, pg_proxy: PgProxy
) -> None:
    time.sleep(5.5)  # the API key cache (5 s) must not answer for the database
    pg_proxy.cut()
    outage = Outage(callers)
    for operation in OPERATIONS:
        outage.send_cases_of(operation)

    assert not outage.server_errors, "500s:\n" + "\n".join(outage.server_errors[:10])
    undocumented = "\n".join(outage.undocumented.values())
    assert not undocumented, f"answers the document does not describe:\n{undocumented}"
    # The outage was felt on every face that needs the database.
    for answer in (
        "GET /v1/file/{file_id} 503",
        "GET /v1/files/signed-url 503",
        "POST /api/v2/s3/create_signed_url 503",
        "GET /api/v1/presigned-urls/ 410",
        "PUT /api/v1/schedules/{schedule}/participants/ 410",
        "GET /catalogue/items/{item_id} 503",
        "POST /downloader/requests/ 503",
        "POST /accounts/auth_requests/ 503",
        "GET /readyz 503",
    ):
        assert answer in outage.unavailable, f"{answer} not seen: {sorted(outage.unavailable)}"
