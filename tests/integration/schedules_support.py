"""Calling the schedules face (seed 000) as its clients do, with Cognito token pairs."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import PDF

JSON_API = "application/vnd.api+json"


class Caller:
    """A user of the schedules face: tokens from `pool` for `sub` (None: no tokens at all)."""

    def __init__(
        self, server: LiveServer, pool: CognitoPool, sub: str | None, *, admin: bool = False
    ) -> None:
        self.server = server
        self.headers = {} if sub is None else pool.headers(sub, admin=admin)

    def presigned(self, **params: str) -> httpx.Response:
        with self.server.client() as client:
            return client.get("/api/v1/presigned-urls/", params=params, headers=self.headers)

    def documents(self, schedule: str) -> httpx.Response:
        with self.server.client() as client:
            return client.get(f"/api/v1/schedules/{schedule}/documents/", headers=self.headers)

    def remove(self, schedule: str, document: str) -> httpx.Response:
        with self.server.client() as client:
            return client.delete(
                f"/api/v1/schedules/{schedule}/documents/",
                params={"document": document},
                headers=self.headers,
            )

    def attach(self, schedule: str, filename: str = "file.pdf") -> dict[str, Any]:
        response = self.presigned(
            method_name="post_s3_object", schedule=schedule, filename=filename
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def read_url(self, document: str) -> httpx.Response:
        return self.presigned(method_name="get_s3_object", document=document)


def upload(attached: dict[str, Any], data: bytes = PDF) -> httpx.Response:
    form = attached["presigned_data"]
    return httpx.post(form["url"], data=form["fields"], files={"file": ("f", data)}, timeout=30)


def wait_readable(caller: Caller, document: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = caller.read_url(document)
        if response.status_code == 200:
            return str(response.json()["data"]["url"])
        assert response.status_code == 409, response.text
        time.sleep(0.2)
    raise AssertionError(f"document {document} never became readable")


def json_api_error(response: httpx.Response, status: int, detail: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(JSON_API)
    (error,) = response.json()["errors"]
    assert set(error) == {"detail", "source", "status"} and "pointer" in error["source"]
    assert detail is None or error["detail"] == detail, error
    return str(error["detail"])
