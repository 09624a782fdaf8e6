"""Calling the signed-url face (seed 001) as a back-end would, and looking behind it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from filedock.ports.blob_signing import BlobSigner
from filedock.ports.objectstore_local import TEMP_DIR_NAME
from filedock.ports.objectstore_s3 import S3ObjectStore
from filedock.ports.presign import UploadLimits
from tests.fixtures.server import LiveServer

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b"% padding\n" * 2000
CSV = b"name,size\nreport,12\nsummary,7\n" * 100
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass
class Backend:
    """One back-end (an API key) speaking for one end user (a UUID)."""

    server: LiveServer
    api_key: str
    user: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def headers(self) -> dict[str, str]:
        return {"api-key": self.api_key, "user-id": self.user}

    def as_user(self, user: str) -> Backend:
        return Backend(self.server, self.api_key, user)

    def get(self, path: str, **params: Any) -> httpx.Response:
        with self.server.client() as client:
            return client.get(path, params=params, headers=self.headers)

    def delete(self, path: str) -> httpx.Response:
        with self.server.client() as client:
            return client.delete(path, headers=self.headers)

    def upload_url(self, filename: str, **params: Any) -> dict[str, Any]:
        response = self.get("/v1/files/signed-url", filename=filename, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def put(self, ticket: dict[str, Any], data: bytes) -> httpx.Response:
        return httpx.put(
            ticket["file_url"], content=data, headers=ticket["upload_headers"], timeout=30
        )

    def wait_settled(self, file_id: str, timeout: float = 30) -> dict[str, Any]:
        """Poll the status until processing has decided (as the seed tells clients to)."""
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = self.get(f"/v1/files/{file_id}/status")
            assert response.status_code == 200, response.text
            body = response.json()
            if body["status"] not in ("pending", "uploaded", "processing"):
                return body
            time.sleep(0.1)
        raise AssertionError(f"{file_id} never settled; last status {body}")


def form_for(server: LiveServer, key: str, content_type: str) -> tuple[str, dict[str, str]]:
    """A browser form upload of `key`, signed the way the server's own store signs one.

    The signed-url face hands out PUT URLs only; the form faces (issue 4) will hand out these.
    """
    limits = UploadLimits(10_485_760, content_type)
    storage = server.env.get("FILEDOCK_STORAGE_URL", "")
    if not storage.startswith("s3://"):
        expires_at = datetime.now(UTC) + timedelta(minutes=5)
        return blob_signer(server).post_form(key, expires_at, limits)
    bucket, _, prefix = storage.removeprefix("s3://").partition("/")
    store = S3ObjectStore(
        bucket,
        prefix,
        endpoint_url=server.env["FILEDOCK_S3_ENDPOINT_URL"],
        region=server.env["FILEDOCK_S3_REGION"],
        access_key_id=server.env["AWS_ACCESS_KEY_ID"],
        secret_access_key=server.env["AWS_SECRET_ACCESS_KEY"],
    )
    signed = store.presign_post(key, expires_in=timedelta(minutes=5), limits=limits)
    return signed.url, signed.fields


def upload_key(server: LiveServer, ticket: dict[str, Any]) -> str:
    """The storage key a signed-url ticket's upload goes to, on either store."""
    path = urlsplit(ticket["file_url"]).path
    storage = server.env.get("FILEDOCK_STORAGE_URL", "")
    if storage.startswith("s3://"):
        bucket_and_prefix = storage.removeprefix("s3://").rstrip("/")
        return path.removeprefix(f"/{bucket_and_prefix}/")
    return path.removeprefix("/_blobs/")


def blob_signer(server: LiveServer, **kwargs: Any) -> BlobSigner:
    """The signer the server uses (same secret, same public URL), for forging test URLs."""
    return BlobSigner.from_app_secret(server.secret, server.base_url, **kwargs)


def key_of(url: str) -> str:
    """The storage key in a `/_blobs/` URL."""
    return urlsplit(url).path.removeprefix("/_blobs/")


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {**query_of(url), **changes}
    return parts._replace(query=str(httpx.QueryParams(query))).geturl()


def local_objects(server: LiveServer) -> list[str]:
    """Every object the local store holds, unfinished writes included."""
    root = server.data_dir / "objects"
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def unfinished_writes(server: LiveServer) -> list[str]:
    return [p for p in local_objects(server) if p.startswith(f"{TEMP_DIR_NAME}/")]


def s3_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    """An S3-style XML refusal with `status` (and `code`), leaking nothing."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/xml"
    assert code is None or f"<Code>{code}</Code>" in response.text
    assert "Traceback" not in response.text
