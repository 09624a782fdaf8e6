"""The hot routes' readers of a request: the same answers as the slower general ones."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

import pytest
from starlette.requests import Request

from filedock.core.end_users import parse_user_id
from filedock.core.errors import InvalidInput
from filedock.faces.context import header, query_values

QUERIES = [
    b"",
    b"filename=report.pdf",
    b"filename=report.pdf&persist=false",
    b"filename=a&filename=b",  # the last one wins
    b"filename=&persist",  # blank values kept
    b"&&filename=x&&",
    b"filename=a=b",
    b"filename=r%C3%A9sum%C3%A9.pdf",
    b"filename=two+words.txt",
    b"file%6eame=x",
    b"filename=caf\xc3\xa9.txt",  # unescaped bytes, as some clients send them
    b"persist=;x=1",
]


def _request(query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    return Request({"type": "http", "query_string": query, "headers": headers or []})


@pytest.mark.parametrize("query", QUERIES)
def test_query_values_are_what_starlettes_query_params_give(query: bytes) -> None:
    request = _request(query)
    expected = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    assert query_values(request) == expected
    assert query_values(request) == dict(request.query_params)


def test_header_is_the_first_of_its_name_as_starlette_reads_it() -> None:
    headers = [(b"api-key", b"one"), (b"user-id", b"caf\xe9"), (b"api-key", b"two")]
    request = _request(headers=headers)
    assert header(request, b"api-key") == request.headers.get("api-key") == "one"
    assert header(request, b"user-id") == request.headers.get("user-id") == "caf\xe9"
    assert header(request, b"missing") is None


@pytest.mark.parametrize(
    "given",
    [
        "0b6f1e1c-9a4e-4c1b-8f7e-2d3c4b5a6f70",
        "0B6F1E1C-9A4E-4C1B-8F7E-2D3C4B5A6F70",
        " 0b6f1e1c-9a4e-4c1b-8f7e-2d3c4b5a6f70 ",
        "0b6f1e1c9a4e4c1b8f7e2d3c4b5a6f70",
        "{0b6f1e1c-9a4e-4c1b-8f7e-2d3c4b5a6f70}",
        "urn:uuid:0b6f1e1c-9a4e-4c1b-8f7e-2d3c4b5a6f70",
    ],
)
def test_a_user_id_in_any_uuid_spelling_reads_as_its_canonical_form(given: str) -> None:
    assert parse_user_id(given) == str(uuid.UUID(given.strip()))


@pytest.mark.parametrize(
    "given",
    [
        "",
        "not-a-uuid",
        "0b6f1e1c-9a4e-4c1b-8f7e-2d3c4b5a6f7",  # a digit short
        "0b6f1e1c-9a4e-4c1b-8f7e-2d3c4b5a6g70",  # not hex
    ],
)
def test_a_user_id_that_is_no_uuid_is_refused(given: str) -> None:
    with pytest.raises(InvalidInput):
        parse_user_id(given)
