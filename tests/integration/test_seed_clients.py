"""Clients written from each seed document alone, with credentials added, on every backend.

Each test replays its seed's requests as the document shows them (paths, headers, bodies,
the order a client would make them) and checks what the document promises. Where a seed uses a
placeholder (`filename=string`), the document's own description is followed (`report.pdf`).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import CSV, PDF, Backend

POOL = CognitoPool.create()
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    return POOL.settings_in(data_dir)


pytestmark = pytest.mark.parametrize(
    "server", ["sqlite-local", "postgres-local", "sqlite-s3"], indirect=True
)


def test_seed_004_upload_download_delete(server: LiveServer) -> None:
    file_id = f"05c40f1e-cdaf-4e29-8976-{uuid.uuid4().hex[:6]}"
    auth = server.auth("42")
    with server.client() as client:
        made = client.post(
            f"/v1/file/{file_id}", content=PNG, headers={**auth, "Content-Type": "image/png"}
        )
        assert made.status_code == 200, made.text
        body = made.json()
        assert set(body) == {
            "file_id",
            "content_type",
            "file_status",
            "file_size",
            "user_id",
            "user_role",
            "created_at",
        }
        assert (body["file_id"], body["file_status"], body["user_id"]) == (file_id, "uploaded", 42)
        # Read right after the upload, as a client of the seed would: no 409 in the seed.
        read = client.get(f"/v1/file/{file_id}", headers=auth)
        assert read.status_code == 200 and read.content == PNG
        assert read.headers["content-type"] == "image/png"
        removed = client.delete(f"/v1/file/{file_id}", headers=auth)
        assert removed.status_code == 200 and removed.json()["file_id"] == file_id


def test_seed_001_signed_url_put_poll_download(server: LiveServer) -> None:
    backend = Backend(server, server.create_api_key(f"seed-{uuid.uuid4().hex[:6]}"))
    answer = backend.get("/v1/files/signed-url", filename="report.csv")
    assert answer.status_code == 200, answer.text
    ticket = answer.json()
    assert {"expires_in", "file_id", "file_limits", "file_url"} <= set(ticket)
    # `curl -T report.csv "$file_url"`: a PUT with no Content-Type of its own.
    put = httpx.put(ticket["file_url"], content=CSV, timeout=30)
    assert put.status_code in (200, 204), put.text
    assert backend.wait_settled(ticket["file_id"])["status"] == "ready"
    url = backend.get(f"/v1/files/{ticket['file_id']}/download-url").json()["url"]
    assert httpx.get(url, timeout=30).content == CSV


def test_seed_002_command_then_form_post(server: LiveServer) -> None:
    command = {
        "uuid": str(uuid.uuid4()),
        "command": "CreateSignedS3FormData",
        "data": None,
        "async": False,
    }
    with server.client() as client:
        accepted = client.post(
            "/api/v2/s3/create_signed_url",
            content=json.dumps(command),
            headers={
                **server.auth("7"),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["content-type"] == "application/json; charset=utf-8"
    assert accepted.headers["cache-control"] == "no-cache"
    data: dict[str, Any] = accepted.json()["data"]
    assert data["fields"]["success_action_status"] == "201"
    files = {"file": ("a.pdf", PDF)}
    posted = httpx.post(data["url"], data=data["fields"], files=files, timeout=30)
    assert posted.status_code == 201, posted.text
    if "/_blobs/" in data["url"]:
        # Our own store answers as S3 does (moto, standing in for S3, sends no body here).
        assert "<PostResponse>" in posted.text and data["fields"]["key"] in posted.text


def test_seed_000_post_get_delete_as_the_seed_shows(server: LiveServer) -> None:
    # A schedule per run (the seed's own id would be shared between backends' runs).
    sub, schedule = str(uuid.uuid4()), str(uuid.uuid4())
    headers = {
        **POOL.headers(sub),
        "Accept": "application/json, */*",
        "Content-Type": "application/vnd.api+json",
    }
    with server.client() as client:
        # HTTPie sent a small JSON body with its GETs; the server must not mind.
        attached = client.request(
            "GET",
            "/api/v1/presigned-urls/",
            params={"schedule": schedule, "method_name": "post_s3_object", "filename": "file.pdf"},
            headers=headers,
            content=b"{}",
        )
        assert attached.status_code == 200, attached.text
        assert attached.headers["allow"] == "GET, HEAD, OPTIONS"
        assert attached.headers["x-frame-options"] == "SAMEORIGIN"
        assert "Origin" in attached.headers["vary"]
        data = attached.json()["data"]
        form = data["presigned_data"]
        assert "success_action_status" not in form["fields"]
        posted = httpx.post(form["url"], data=form["fields"], files={"file": PDF}, timeout=30)
        assert posted.status_code == 204, posted.text

        got = client.get(
            "/api/v1/presigned-urls/",
            params={"method_name": "get_s3_object", "document": data["id"]},
            headers=headers,
        )
        assert got.status_code == 200, got.text  # right after the upload: no 409 in the seed
        assert httpx.get(got.json()["data"]["url"], timeout=30).content == PDF
        delete_url = client.get(
            "/api/v1/presigned-urls/",
            params={"method_name": "delete_s3_object", "document": data["id"]},
            headers=headers,
        )
        assert delete_url.status_code == 200 and set(delete_url.json()["data"]) == {"url"}
        removed = client.delete(
            f"/api/v1/schedules/{schedule}/documents/",
            params={"document": data["id"]},
            headers=headers,
        )
        assert removed.status_code == 204, removed.text


def test_seed_003_auth_request_and_a_catalogue_item_named_as_in_the_seed(
    server: LiveServer,
) -> None:
    with server.client() as client:
        created = client.post("/accounts/auth_requests/")
        assert created.status_code == 201
        assert created.json()["@event"] == "AUTH_REQUEST_CREATED"
    email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    server.cli("account", "create", "--email", email, "--type", "ADMIN")
    token = server.cli("account", "token", "--email", email)
    name = f"Dr. Joselyn Franecki PhD {uuid.uuid4().hex[:4]}"
    with server.client() as client:
        item = client.post(
            "/catalogue/items/",
            json={"name": name, "executor_type": "ATHENA", "spec": [], "sample": []},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert item.status_code == 201, item.text
    assert item.json()["@event"] == "CATALOGUEITEM_CREATED" and item.json()["name"] == name


# Seed 003's downloader: the keys each body shows, and what filedock adds (docs/compatibility.md).
SEED_REQUEST_KEYS = {
    "@type", "catalogue_item", "created_by", "estimated_size", "executor_job_id",
    "is_cancelled", "real_size", "spec", "uri",
}  # fmt: skip
SEED_ITEM_KEYS = {
    "@type", "created_by", "executor_type", "maintained_by", "name", "sample", "spec",
    "updated_by",
}  # fmt: skip


def test_seed_003_download_requests_as_the_seed_shows(server: LiveServer) -> None:
    """The seed's item (DATABRICKS, product/price) and its requests, bodies as in the document.

    No Spark is configured on the embedded default: the requests are accepted as the seed shows
    and then fail, saying which setting runs them."""
    email = f"admin-{uuid.uuid4().hex[:6]}@example.org"
    account_id = int(server.cli("account", "create", "--email", email, "--type", "ADMIN"))
    headers = {"Authorization": f"Bearer {server.cli('account', 'token', '--email', email)}"}
    blank = {"distribution": None, "size": None}
    columns = [
        {**blank, "is_nullable": True, "name": "product", "type": "STRING"},
        {**blank, "is_nullable": False, "name": "price", "type": "INTEGER"},
    ]
    with server.client(headers=headers) as client:
        item = client.post(
            "/catalogue/items/",
            json={
                "name": f"Dr. Joselyn Franecki PhD {uuid.uuid4().hex[:4]}",
                "executor_type": "DATABRICKS",
                "spec": columns,
                "sample": [],
                "location": "s3://seed-datasets/products/",
            },
        ).json()
        spec = {"columns": ["product", "price"], "filters": [], "randomize_ratio": 0.9}
        created = client.post(
            "/downloader/requests/", json={"catalogue_item_id": item["id"], "spec": spec}
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["@event"] == "DOWNLOADREQUEST_CREATED" and body["@type"] == "download_request"
        assert set(body) - {"@event"} == SEED_REQUEST_KEYS | {"id", "status", "failure"}
        assert set(body["catalogue_item"]) == SEED_ITEM_KEYS | {"id", "location", "key_columns"}
        assert body["catalogue_item"]["spec"] == columns
        assert body["catalogue_item"]["executor_type"] == "DATABRICKS"
        assert body["created_by"] == {
            "@type": "account", "email": email, "id": account_id, "type": "ADMIN",
        }  # fmt: skip
        assert body["spec"] == spec | {"format": "csv"}
        assert (body["is_cancelled"], body["uri"], body["real_size"]) == (False, None, None)

        at_least_78 = [{"name": "price", "operator": ">=", "value": 78}]
        exactly_18 = [{"name": "price", "operator": "=", "value": 18}]
        for filters, ratio in ((at_least_78, 1), (exactly_18, 0.8)):
            one = {"columns": ["product"], "filters": filters, "randomize_ratio": ratio}
            made = client.post(
                "/downloader/requests/", json={"catalogue_item_id": item["id"], "spec": one}
            )
            assert made.status_code == 201, made.text
        listed = client.get("/downloader/requests/").json()
        assert listed["@event"] == "DOWNLOADREQUESTS_BULK_READ"
        assert listed["@type"] == "download_requests_list"
        assert [r["spec"]["randomize_ratio"] for r in listed["requests"]] == [0.9, 1, 0.8]

        read = client.get(f"/downloader/requests/{body['id']}").json()
        assert read["@event"] == "DOWNLOADREQUEST_READ"
        for _ in range(100):
            if read["status"] == "failed":
                break
            time.sleep(0.1)
            read = client.get(f"/downloader/requests/{body['id']}").json()
        assert read["status"] == "failed" and "FILEDOCK_SPARK_REMOTE" in read["failure"]

        estimate = client.post(
            "/downloader/requests/estimate/", json={"catalogue_item_id": item["id"], "spec": spec}
        )
        # No engine here to count with: said on the field, not a constant.
        assert estimate.status_code == 400
        assert estimate.json()["@event"] == "BODY_DID_NOT_VALIDATE"
        rendered = client.post(
            "/downloader/requests/render_ui_data/", json={"catalogue_item_id": item["id"]}
        ).json()
        assert rendered["@event"] == "DOWNLOAD_REQUEST_UI_DATA_RENDERED"
        assert [c["name"] for c in rendered["columns_operators"]] == ["product", "price"]

        for request in listed["requests"]:
            gone = client.delete(f"/downloader/requests/{request['id']}")
            assert gone.json() == {"@event": "DOWNLOADREQUEST_DELETED", "@type": "empty"}
        missing = client.delete("/downloader/requests/69506")
        assert missing.status_code == 404
        assert missing.json() == {
            "@event": "COULD_NOT_FIND_DOWNLOADREQUEST", "@type": "error", "user_id": account_id,
        }  # fmt: skip
