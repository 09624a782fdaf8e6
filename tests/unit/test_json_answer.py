"""`JSONAnswer` (the busiest routes' answer) renders exactly what Starlette's JSONResponse
renders: same bytes, same headers, the same refusal of what JSON cannot hold."""

from __future__ import annotations

import math
from typing import Any

import pytest
from starlette.responses import JSONResponse

from filedock.faces.answers import JSONAnswer

BODIES: list[Any] = [
    {"file_id": "3f1c", "file_limits": {"allowed_types": ["image/png"], "max_size": 10}},
    {"name": "Ünïcödé \u2028 \"quoted\" \\ back", "n": [1, 2.5, None, True, False]},
    [],
    "text",
]


@pytest.mark.parametrize("body", BODIES)
def test_a_json_answer_is_byte_for_byte_a_json_response(body: Any) -> None:
    answer = JSONAnswer(body, 201, {"X-Extra": "1"})
    response = JSONResponse(body, 201, {"X-Extra": "1"})
    assert answer.body == response.body
    assert answer.raw_headers == response.raw_headers
    assert answer.status_code == response.status_code == 201


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("status", [200, 201, 404, 204, 304, 101])
def test_a_plain_json_answer_has_a_json_responses_headers_for_every_status(
    body: Any, status: int
) -> None:
    answer = JSONAnswer(body, status)
    response = JSONResponse(body, status)
    assert answer.body == response.body
    assert answer.raw_headers == response.raw_headers
    assert answer.status_code == response.status_code == status


def test_a_json_answer_refuses_what_json_cannot_hold_as_json_response_does() -> None:
    for value in (math.nan, math.inf):
        with pytest.raises(ValueError):
            JSONResponse({"n": value})
        with pytest.raises(ValueError):
            JSONAnswer({"n": value})
