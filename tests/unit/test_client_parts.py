"""The client's and the CLI's pure parts: reading each face's error body, credentials from
the environment, `--where` filters and `--expires` durations. The client against a real
server: tests/integration/test_client.py and test_cli_files.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from filedock.cli_files import parse_duration, parse_filter
from filedock.client import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    FiledockError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from filedock.client._protocol import Credentials
from filedock.client.errors import error_from_response


def answer(
    status: int, body: Any = None, *, text: str | None = None, xml: bool = False
) -> httpx.Response:
    if xml:
        return httpx.Response(status, text=text, headers={"Content-Type": "application/xml"})
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("response", "kind", "code", "detail"),
    [
        (
            answer(401, {"error_code": "unauthorized", "detail": "Missing or invalid API key"}),
            AuthenticationError,
            "unauthorized",
            "Missing or invalid API key",
        ),
        (
            answer(
                400,
                {
                    "@event": "BODY_DID_NOT_VALIDATE",
                    "@type": "error",
                    "errors": {"spec": ["unknown column nope"]},
                    "user_id": 3,
                },
            ),
            BadRequestError,
            "BODY_DID_NOT_VALIDATE",
            "spec: unknown column nope",
        ),
        (
            answer(404, {"@event": "COULD_NOT_FIND_CATALOGUEITEM", "@type": "error"}),
            NotFoundError,
            "COULD_NOT_FIND_CATALOGUEITEM",
            "could not find catalogueitem",
        ),
        (
            answer(409, {"error": "the file is processing"}),
            ConflictError,
            "http_409",
            "the file is processing",
        ),
        (
            answer(
                403,
                text="<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
                "<Message>Request has expired</Message></Error>",
                xml=True,
            ),
            PermissionDeniedError,
            "AccessDenied",
            "Request has expired",
        ),
        (
            answer(429, {"message": "Rate limit exceeded!"}),
            RateLimitError,
            "http_429",
            "Rate limit exceeded!",
        ),
        (answer(502, text="Bad Gateway"), ServerError, "http_502", "Bad Gateway"),
        (answer(418, [1, 2]), FiledockError, "http_418", "I'm a teapot"),
    ],
)
def test_each_faces_error_body_becomes_one_error_with_status_code_and_detail(
    response: httpx.Response, kind: type[FiledockError], code: str, detail: str
) -> None:
    error = error_from_response(response)
    assert type(error) is kind
    assert (error.status, error.code, error.detail) == (response.status_code, code, detail)
    assert str(error) == f"{detail} ({response.status_code} {code})"


def test_credentials_come_from_the_environment_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FILEDOCK_URL", "https://files.example.org/")
    monkeypatch.setenv("FILEDOCK_API_KEY", "fdk_env")
    monkeypatch.setenv("FILEDOCK_USER_ID", "u-env")
    monkeypatch.delenv("FILEDOCK_TOKEN", raising=False)
    found = Credentials.resolve(None, None, "u-given", None)
    assert found.base_url == "https://files.example.org"
    assert found.file_headers() == {"api-key": "fdk_env", "user-id": "u-given"}
    with pytest.raises(ConfigurationError, match="FILEDOCK_TOKEN"):
        found.downloader_headers()
    assert Credentials.resolve(None, None, None, "t").downloader_headers() == {
        "Authorization": "Bearer t"
    }


def test_a_server_address_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILEDOCK_URL", raising=False)
    assert Credentials.resolve(None, None, None, None).base_url == "http://127.0.0.1:8000"
    for wrong in ("nonsense", "ftp://host", "http://"):
        with pytest.raises(ConfigurationError, match="not an http"):
            Credentials.resolve(wrong, None, None, None)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("price>=78", ("price", ">=", 78)),
        ("price <= 7.5", ("price", "<=", 7.5)),
        ("product!=cake", ("product", "!=", "cake")),
        ("available=true", ("available", "=", True)),
        ("weight>-1e3", ("weight", ">", -1000.0)),
        ("born_on<2021-01-01", ("born_on", "<", "2021-01-01")),
        ("name=", ("name", "=", "")),
        ("note=a=b", ("note", "=", "a=b")),
        ('code="7"', ("code", "=", '"7"')),
        ("x=null", ("x", "=", "null")),
    ],
)
def test_where_is_name_operator_value_typed_as_json_numbers_and_booleans(
    text: str, parsed: tuple[str, str, Any]
) -> None:
    assert parse_filter(text) == parsed


@pytest.mark.parametrize("text", ["price", ">=5", " =3", ""])
def test_a_where_without_a_name_or_operator_is_bad_usage(text: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_filter(text)
    assert stopped.value.code == 2


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        ("1x", None),
        ("0s", None),
        ("h", None),
        ("-1h", None),
    ],
)
def test_durations_are_a_number_and_a_unit(text: str, lifetime: timedelta | None) -> None:
    assert parse_duration(text) == lifetime
