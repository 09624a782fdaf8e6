"""Paths and methods no route serves answer in the envelope of the face they are under."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)


def call(server: LiveServer, method: str, path: str) -> httpx.Response:
    with server.client() as client:
        return client.request(method, path)


def test_unknown_paths_and_methods_answer_in_each_faces_own_envelope(server: LiveServer) -> None:
    hasura = call(server, "PATCH", "/v1/file/some-id")
    assert hasura.status_code == 405 and set(hasura.json()) == {"error"}

    signed = call(server, "GET", "/v1/files/a/b/c")
    assert signed.status_code == 404
    assert signed.json()["error_code"] == "attachment_document_does_not_exist"

    for path in ("/accounts/nothing/", "/catalogue/nothing", "/downloader/nothing"):
        cosphere = call(server, "GET", path)
        assert cosphere.status_code == 404, path
        assert cosphere.json()["@event"] == "COULD_NOT_FIND_RESOURCE"
        assert cosphere.json()["@type"] == "error"

    schedules = call(server, "GET", "/api/v1/nothing/")
    assert schedules.status_code == 404
    assert schedules.json()["errors"][0]["detail"] == "Not found."

    command = call(server, "POST", "/api/v2/s3/other_command")
    assert command.status_code == 404 and command.json()["status"] == "rejected"

    hooks = call(server, "GET", "/_hooks/nothing")
    assert hooks.status_code == 404 and set(hooks.json()) == {"error"}


def test_unserved_methods_answer_405_in_the_faces_envelope_with_allow(
    server: LiveServer,
) -> None:
    signed = call(server, "POST", "/v1/files/signed-url")
    assert signed.status_code == 405
    assert signed.json()["error_code"] == "method_not_allowed"
    assert "GET" in signed.headers["allow"]

    catalogue = call(server, "PATCH", "/catalogue/items/")
    assert catalogue.status_code == 405
    assert catalogue.json()["@event"] == "METHOD_NOT_ALLOWED"

    blob_post = call(server, "POST", "/_blobs/uploads/some-key")
    assert blob_post.status_code == 405
    assert blob_post.headers["content-type"] == "application/xml"
    assert "<Code>MethodNotAllowed</Code>" in blob_post.text


def test_allow_names_every_method_the_path_serves_across_its_routes(
    server: LiveServer,
) -> None:
    # GET and HEAD are separate routes (their own operation ids), PUT and DELETE others again.
    blob = call(server, "POST", "/_blobs/uploads/some-key")
    assert blob.headers["allow"] == "DELETE, GET, HEAD, PUT"
    hasura = call(server, "PATCH", "/v1/file/some-id")
    assert hasura.headers["allow"] == "DELETE, GET, HEAD, POST"
    catalogue = call(server, "PATCH", "/catalogue/items/")
    assert catalogue.headers["allow"] == "GET, POST"


def test_paths_outside_every_face_keep_the_plain_not_found(server: LiveServer) -> None:
    other = call(server, "GET", "/no-such-thing")
    assert other.status_code == 404 and other.json() == {"detail": "Not Found"}
