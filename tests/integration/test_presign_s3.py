"""Presigned requests of the S3 store, used by a plain HTTP client against moto's S3 server.

moto does not check signatures or POST policies: it accepts any of them. So these tests show
that the requests we sign are well formed and reach the right object, and they check what we
sign by reading the URLs and decoding the policies we produce. That forgeries, other methods,
expired and out-of-limit requests are refused is proven on the local store's signer, in
tests/unit/test_blob_signing.py.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from filedock.ports.objectstore import InvalidKey, ObjectNotFound, StoreUnavailable
from filedock.ports.objectstore_s3 import S3ObjectStore
from filedock.ports.presign import UploadLimits, attachment_disposition
from tests.fixtures.s3 import S3Endpoint
from tests.integration.object_store_support import S3_PREFIX, chunks, read_all, s3_store

FIVE_MINUTES = timedelta(minutes=5)
CSV = UploadLimits(max_bytes=1000, content_type="text/csv")


@pytest.fixture
async def store(s3_endpoint: S3Endpoint, s3_bucket: str) -> S3ObjectStore:
    return s3_store(s3_endpoint, s3_bucket)


def signed_query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def decoded_policy(fields: dict[str, str]) -> dict[str, object]:
    policy: dict[str, object] = json.loads(base64.b64decode(fields["policy"], validate=True))
    return policy


async def test_presigned_put_stores_the_object_under_the_prefix(
    store: S3ObjectStore, s3_endpoint: S3Endpoint
) -> None:
    request = store.presign("PUT", "uploads/a.csv", expires_in=FIVE_MINUTES, limits=CSV)

    async with httpx.AsyncClient() as client:
        response = await client.put(request.url, content=b"a,b\n1,2\n", headers=request.headers)

    assert response.status_code == 200
    assert await read_all(store, "uploads/a.csv") == b"a,b\n1,2\n"
    stored = s3_endpoint.client().head_object(Bucket=store.bucket, Key=f"{S3_PREFIX}/uploads/a.csv")
    assert stored["ContentType"] == "text/csv"


def test_presigned_put_signs_the_content_type_header(store: S3ObjectStore) -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    request = store.presign("PUT", "uploads/a.csv", expires_in=FIVE_MINUTES, limits=CSV)

    query = signed_query(request.url)
    assert request.method == "PUT"
    assert request.headers == {"Content-Type": "text/csv"}
    assert request.fields == {}
    # A client sending another type breaks the signature at S3 (moto does not check it).
    assert query["X-Amz-SignedHeaders"].split(";") == ["content-type", "host"]
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "300"
    assert unquote(urlsplit(request.url).path) == f"/{store.bucket}/{S3_PREFIX}/uploads/a.csv"
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    # The promised expiry is never later than S3's own.
    assert before + FIVE_MINUTES <= request.expires_at <= signed_at + FIVE_MINUTES


async def test_presigned_get_returns_the_bytes(store: S3ObjectStore) -> None:
    await store.write("docs/report.pdf", chunks(b"%PDF-1.7 ..."))
    request = store.presign("GET", "docs/report.pdf", expires_in=FIVE_MINUTES)

    async with httpx.AsyncClient() as client:
        response = await client.get(request.url, headers=request.headers)

    assert response.status_code == 200
    assert response.content == b"%PDF-1.7 ..."
    assert signed_query(request.url)["X-Amz-SignedHeaders"] == "host"


async def test_presigned_get_with_a_download_name_is_an_attachment(store: S3ObjectStore) -> None:
    await store.write("docs/report.pdf", chunks(b"%PDF"))
    name = 'Q1 "final" résumé.pdf'
    request = store.presign("GET", "docs/report.pdf", expires_in=FIVE_MINUTES, download_name=name)

    async with httpx.AsyncClient() as client:
        response = await client.get(request.url)

    disposition = attachment_disposition(name)
    # Part of the signed query, so a holder cannot rename (or inline) the download.
    assert signed_query(request.url)["response-content-disposition"] == disposition
    assert response.status_code == 200
    assert response.headers["content-disposition"] == disposition


async def test_presigned_delete_deletes(store: S3ObjectStore) -> None:
    await store.write("tmp/x", chunks(b"x"))
    request = store.presign("DELETE", "tmp/x", expires_in=FIVE_MINUTES)

    async with httpx.AsyncClient() as client:
        response = await client.delete(request.url)

    assert response.status_code == 204
    with pytest.raises(ObjectNotFound):
        await store.head("tmp/x")


@pytest.mark.parametrize(("success_status", "answer"), [(None, 204), ("201", 201)])
async def test_presigned_post_form_stores_the_object_and_answers_the_signed_status(
    store: S3ObjectStore, success_status: str | None, answer: int
) -> None:
    request = store.presign_post(
        "uploads/form.csv", expires_in=FIVE_MINUTES, limits=CSV, success_status=success_status
    )

    async with httpx.AsyncClient() as client:
        # httpx puts the `data` fields first and the file last, as S3 requires.
        response = await client.post(
            request.url,
            data=request.fields,
            files={"file": ("anything.csv", b"a,b\n", "text/csv")},
        )

    assert response.status_code == answer
    assert await read_all(store, "uploads/form.csv") == b"a,b\n"


def test_presigned_post_policy_carries_every_condition_exactly(store: S3ObjectStore) -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    request = store.presign_post(
        "uploads/form.csv", expires_in=FIVE_MINUTES, limits=CSV, success_status="201"
    )

    fields = request.fields
    policy = decoded_policy(fields)
    conditions = policy["conditions"]
    assert isinstance(conditions, list)
    signing = [c for c in conditions if isinstance(c, dict) and next(iter(c)).startswith("x-amz-")]
    assert sorted(c for condition in signing for c in condition) == [
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
    ]
    assert [c for c in conditions if c not in signing] == [
        ["content-length-range", 0, 1000],
        {"success_action_status": "201"},
        {"Content-Type": "text/csv"},
        {"bucket": store.bucket},
        {"key": f"{S3_PREFIX}/uploads/form.csv"},
    ]
    # Each condition has its field, with the value the condition demands.
    assert fields["key"] == f"{S3_PREFIX}/uploads/form.csv"
    assert fields["Content-Type"] == "text/csv"
    assert fields["success_action_status"] == "201"
    for condition in signing:
        ((name, value),) = condition.items()
        assert fields[name] == value
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert "x-amz-signature" in fields
    assert (request.method, request.headers) == ("POST", {})
    assert urlsplit(request.url).path == f"/{store.bucket}"
    expiration = datetime.strptime(str(policy["expiration"]), "%Y-%m-%dT%H:%M:%SZ")
    assert before + FIVE_MINUTES <= request.expires_at <= expiration.replace(tzinfo=UTC)


def test_presigned_post_without_a_content_type_binds_only_the_size(store: S3ObjectStore) -> None:
    request = store.presign_post("u/x", expires_in=FIVE_MINUTES, limits=UploadLimits(10))

    conditions = decoded_policy(request.fields)["conditions"]

    assert isinstance(conditions, list)
    assert ["content-length-range", 0, 10] in conditions
    assert not any(isinstance(c, dict) and "Content-Type" in c for c in conditions)
    assert "Content-Type" not in request.fields


def test_presigned_post_without_a_success_status_names_none(store: S3ObjectStore) -> None:
    # Seed 000's form: S3 then answers 204.
    request = store.presign_post("u/x", expires_in=FIVE_MINUTES, limits=CSV)

    conditions = decoded_policy(request.fields)["conditions"]

    assert isinstance(conditions, list)
    assert not any(isinstance(c, dict) and "success_action_status" in c for c in conditions)
    assert "success_action_status" not in request.fields


def test_a_store_without_a_prefix_signs_the_bare_key(
    s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    store = S3ObjectStore(
        s3_bucket,
        endpoint_url=s3_endpoint.url,
        region=s3_endpoint.region,
        access_key_id=s3_endpoint.access_key_id,
        secret_access_key=s3_endpoint.secret_access_key,
    )

    url = store.presign("GET", "k", expires_in=FIVE_MINUTES).url
    post = store.presign_post("k", expires_in=FIVE_MINUTES, limits=CSV)

    assert urlsplit(url).path == f"/{s3_bucket}/k"
    assert post.fields["key"] == "k"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", ".tmp/x", "a//b"])
def test_unsafe_keys_are_never_signed(store: S3ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.presign("GET", key, expires_in=FIVE_MINUTES)
    with pytest.raises(InvalidKey):
        store.presign_post(key, expires_in=FIVE_MINUTES, limits=CSV)


def test_a_form_key_that_s3_would_rename_is_refused(store: S3ObjectStore) -> None:
    # S3 substitutes the client's file name for ${filename}; botocore then signs only a prefix.
    with pytest.raises(InvalidKey):
        store.presign_post("uploads/${filename}", expires_in=FIVE_MINUTES, limits=CSV)


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("GET", {"limits": CSV}),
        ("DELETE", {"limits": CSV}),
        ("PUT", {"download_name": "a.csv"}),
        ("POST", {}),
        ("GET", {"expires_in": timedelta(days=8)}),
        ("GET", {"expires_in": timedelta(0)}),
    ],
)
def test_requests_that_cannot_be_signed_are_refused(
    store: S3ObjectStore, method: str, arguments: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        store.presign(method, "k", **{"expires_in": FIVE_MINUTES, **arguments})  # type: ignore[arg-type]


def test_missing_credentials_are_a_store_error_not_a_botocore_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # Nothing on this host may lend credentials: no files, no instance metadata.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3ObjectStore(
        "some-bucket",
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        access_key_id=None,
        secret_access_key=None,
    )

    with pytest.raises(StoreUnavailable):
        store.presign("GET", "k", expires_in=FIVE_MINUTES)
    with pytest.raises(StoreUnavailable):
        store.presign_post("k", expires_in=FIVE_MINUTES, limits=CSV)
