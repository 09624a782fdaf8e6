"""The OpenAPI document as a code generator reads it: unique short operation ids, the security
of every authenticated operation, no FastAPI 422 the API never sends, the right media types.

Built in process from the app, as `/openapi.json` serves it (the integration tests check real
answers against it: tests/integration/test_openapi_fuzz.py).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filedock.app import create_app
from filedock.config import Settings
from filedock.faces import schedules, schedules_openapi, signed_url

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
FACES = ("hasura", "signed_url", "s3_command", "schedules", "cosphere", "blobs", "ops", "hooks")


def build_document() -> tuple[dict[str, Any], list[str]]:
    """The document of a fresh app, and the warnings building it raised."""
    app = create_app(Settings(data_dir=Path("/nonexistent")), migrate=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        document = app.openapi()
    return document, [str(w.message) for w in caught]


DOCUMENT, BUILD_WARNINGS = build_document()


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def test_the_document_builds_without_warnings() -> None:
    assert BUILD_WARNINGS == []


def test_operation_ids_are_unique_and_name_their_face() -> None:
    ids = Counter(operation["operationId"] for _, _, operation in operations())

    assert len(ids) >= 40, "the document lost operations"
    assert [name for name, count in ids.items() if count > 1] == []
    for name in ids:
        assert re.fullmatch(r"[a-z0-9_]{3,48}", name), name
        assert name.startswith(tuple(f"{face}_" for face in FACES)), name


@pytest.mark.parametrize(
    ("method", "path", "operation_id"),
    [
        ("GET", "/v1/file/{file_id}", "hasura_download_file"),
        ("HEAD", "/v1/file/{file_id}", "hasura_download_file_head"),
        ("GET", "/v1/files/signed-url", "signed_url_request_upload_url"),
        ("POST", "/downloader/requests/", "cosphere_create_download_request"),
    ],
)
def test_operations_have_the_names_clients_are_generated_with(
    method: str, path: str, operation_id: str
) -> None:
    assert DOCUMENT["paths"][path][method.lower()]["operationId"] == operation_id


def test_fastapi_validation_errors_are_nowhere_in_the_document() -> None:
    assert "HTTPValidationError" not in str(DOCUMENT)
    assert "ValidationError" not in DOCUMENT["components"]["schemas"]
    documented_422 = [
        operation["operationId"]
        for _, _, operation in operations()
        if "422" in operation["responses"]
    ]
    # The one 422 the API sends: a download URL of a file processing refused (seed 001's code).
    assert documented_422 == ["signed_url_download_url"]
    answer = DOCUMENT["paths"]["/v1/files/{file_id}/download-url"]["get"]["responses"]["422"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SignedUrlError"}


def test_every_operation_that_can_answer_401_names_its_security_scheme() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    secured = set()
    for method, path, operation in operations():
        security = operation.get("security", [])
        for requirement in security:
            assert set(requirement) <= set(schemes), (method, path, requirement)
        if "401" in operation["responses"]:
            assert any(security), f"{method} {path} answers 401 but names no scheme"
            secured.add(operation["operationId"])
        else:
            assert not security, f"{method} {path} names a scheme but never answers 401"
    # Every face's credentials are there for Swagger UI's Authorize button.
    assert {"bearer", "apiKey", "userId", "cognitoAccessToken", "cognitoIdToken"} <= set(schemes)
    assert {"cosphereToken", "metricsToken", "bucketNotificationToken"} <= set(schemes)
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "api-key")
    assert len(secured) >= 30


@pytest.mark.parametrize(
    ("operation_id", "requirement"),
    [
        ("hasura_upload_file", {"bearer": []}),
        ("signed_url_file_status", {"apiKey": [], "userId": []}),
        ("schedules_presigned_urls", {"cognitoAccessToken": [], "cognitoIdToken": []}),
        ("schedules_declare_participants", {"apiKey": []}),
        ("s3_command_create_signed_url", {"bearer": []}),
        ("cosphere_create_download_request", {"cosphereToken": []}),
        ("hooks_bucket_events", {"bucketNotificationToken": []}),
    ],
)
def test_each_face_asks_for_its_own_credentials(
    operation_id: str, requirement: dict[str, list[str]]
) -> None:
    (operation,) = [op for _, _, op in operations() if op["operationId"] == operation_id]
    assert requirement in operation["security"]


def test_anonymous_operations_ask_for_no_credentials() -> None:
    anonymous = {op["operationId"] for _, _, op in operations() if not op.get("security")}
    assert anonymous == {
        "ops_healthz",
        "ops_readyz",
        "cosphere_create_auth_request",
        "cosphere_render_authenticate_ui",
        "cosphere_attach_account",
        "cosphere_create_auth_token",
        # The signature in the URL or form is the credential.
        "blobs_get_object",
        "blobs_get_object_head",
        "blobs_put_object",
        "blobs_delete_object",
        "blobs_post_form",
    }


def test_metrics_are_prometheus_text_not_json() -> None:
    answers = DOCUMENT["paths"]["/metrics"]["get"]["responses"]
    assert list(answers["200"]["content"]) == ["text/plain"]


@pytest.mark.parametrize(
    ("method", "path", "status", "media_type"),
    [
        ("GET", "/v1/file/{file_id}", "200", "*/*"),
        ("GET", "/_blobs/{key}", "200", "*/*"),
        ("GET", "/_blobs/{key}", "403", "application/xml"),
        ("POST", "/_blobs/", "201", "application/xml"),
        ("GET", "/accounts/auth_requests/{request_uuid}/authenticate/ui/", "200", "text/html"),
        ("GET", "/accounts/auth_requests/{request_uuid}/authenticate/ui/", "400", "text/html"),
        ("GET", "/api/v1/presigned-urls/", "200", "application/vnd.api+json"),
        ("GET", "/api/v1/presigned-urls/", "403", "application/vnd.api+json"),
        ("GET", "/v1/files/signed-url", "429", "application/json"),
    ],
)
def test_answers_have_the_media_type_the_face_sends(
    method: str, path: str, status: str, media_type: str
) -> None:
    answer = DOCUMENT["paths"][path][method.lower()]["responses"][status]
    assert list(answer["content"]) == [media_type]


def test_deletes_document_the_status_they_answer() -> None:
    paths = DOCUMENT["paths"]
    assert set(paths["/v1/files/{file_id}"]["delete"]["responses"]) >= {"204"}
    assert "200" not in paths["/v1/files/{file_id}"]["delete"]["responses"]
    assert "200" not in paths["/api/v1/schedules/{schedule}/documents/"]["delete"]["responses"]


def test_every_body_has_a_schema_and_every_reference_resolves() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for method, path, operation in operations():
        documented = [
            *operation["responses"].values(),
            *([operation["requestBody"]] if "requestBody" in operation else []),
        ]
        for answer in documented:
            for media_type, body in answer.get("content", {}).items():
                assert body.get("schema"), f"{method} {path}: {media_type} has no schema"
        if method == "HEAD":
            assert all("content" not in a for a in operation["responses"].values()), path
    for name in re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", str(DOCUMENT)):
        assert name in schemas, name


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/catalogue/items/"),
        ("PUT", "/catalogue/items/{item_id}"),
        ("POST", "/_hooks/bucket-events"),
        ("POST", "/downloader/requests/"),
    ],
)
def test_json_request_bodies_are_documented(method: str, path: str) -> None:
    body = DOCUMENT["paths"][path][method.lower()]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["$ref"].startswith("#/components/")


def test_the_documented_error_codes_and_media_types_are_the_faces_own() -> None:
    schema = DOCUMENT["components"]["schemas"]["SignedUrlError"]
    documented = set(schema["properties"]["error_code"]["enum"])
    # The face's table (signed_url._ERRORS) is what it answers with.
    assert documented == {code for code, _ in signed_url._ERRORS.values()}
    assert schedules_openapi.JSON_API == schedules.JSON_API


def test_every_operation_is_under_a_described_face_tag() -> None:
    described = {tag["name"] for tag in DOCUMENT["tags"] if tag["description"]}
    for method, path, operation in operations():
        assert len(operation["tags"]) == 1 and set(operation["tags"]) <= described, (method, path)


def test_the_browser_pages_and_docs_stay_out_of_the_document() -> None:
    for path in DOCUMENT["paths"]:
        assert not path.startswith(("/ui", "/_assets", "/docs", "/redoc")), path
    assert "/" not in DOCUMENT["paths"]
