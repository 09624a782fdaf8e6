"""Schemathesis over the app's own /openapi.json against a real server: no 5xx, ever.

Cases are drawn from `schema.as_strategy()` with Hypothesis directly: schemathesis' own pytest
loader still reads a pytest-internal attribute that pytest 9 removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.fixtures.server import LiveServer, server_env

MAX_EXAMPLES = 150


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir, max_upload_bytes="65536"))
    live.start()
    yield live
    live.stop()


def test_no_generated_request_gets_a_server_error(fuzz_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6, "the OpenAPI document lost its operations"
    seen: set[str] = set()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy())
    def check(case: Any) -> None:
        seen.add(f"{case.method} {case.path}")
        # Each request goes as nobody, as a user and as an admin, to reach past auth.
        for who in ("anonymous", "user", "admin"):
            headers = {} if who == "anonymous" else fuzz_server.auth("fuzzer", who)
            response = case.call(base_url=fuzz_server.base_url, headers=headers, timeout=30)
            assert response.status_code < 500, (
                f"{who}: {case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:500]}"
            )
            assert "Traceback" not in response.text

    check()
    assert len(seen) >= 4, f"too few operations exercised: {sorted(seen)}"
