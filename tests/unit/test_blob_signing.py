"""Signed URLs and form policies of the local store: where refusals are proven.

moto's S3 does not check signatures or policies, so the guarantees every signed request makes
(one method, one key, an expiry, upload limits, no forgery) are shown here, on `BlobSigner`,
which the app's `/_blobs/` face calls. The last section checks `LocalObjectStore`'s wiring.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from starlette.datastructures import FormData, QueryParams

from filedock.ports.blob_signing import (
    BlobGrant,
    BlobSigner,
    MalformedSignedRequest,
    SignatureExpired,
    SignatureMismatch,
)
from filedock.ports.objectstore import InvalidKey
from filedock.ports.objectstore_local import LocalObjectStore
from filedock.ports.presign import SigningNotConfigured, UploadLimits, attachment_disposition

APP_SECRET = "an app secret that also signs the JWTs of this app"
BASE_URL = "https://files.example.org/filedock"
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)
LIMITS = UploadLimits(max_bytes=1000, content_type="text/csv")


class Clock:
    """A settable clock, so expiry is tested without sleeping."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> BlobSigner:
    return BlobSigner.from_app_secret(APP_SECRET, BASE_URL, clock=clock)


def split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(path before the key, decoded key, query) of a signed URL, as the face would see it."""
    parts = urlsplit(url)
    prefix = urlsplit(BASE_URL).path + "/_blobs/"
    assert parts.path.startswith(prefix)
    return prefix, unquote(parts.path[len(prefix) :]), dict(parse_qsl(parts.query))


def query_of(url: str) -> dict[str, str]:
    return split_url(url)[2]


# Round trips ---------------------------------------------------------------------------------


def test_get_round_trip_grants_the_download_name(signer: BlobSigner) -> None:
    request = signer.presign(
        "GET", "files/a b/é.pdf", expires_in=FIVE_MINUTES, download_name="é.pdf"
    )

    _, key, query = split_url(request.url)

    assert request.url.startswith(f"{BASE_URL}/_blobs/files/a%20b/%C3%A9.pdf?")
    assert (request.method, request.fields, request.headers) == ("GET", {}, {})
    assert request.expires_at == NOW + FIVE_MINUTES
    assert signer.verify("GET", key, query) == BlobGrant(
        method="GET", key="files/a b/é.pdf", expires_at=NOW + FIVE_MINUTES, download_name="é.pdf"
    )


def test_put_round_trip_grants_the_limits_and_asks_for_the_content_type(
    signer: BlobSigner,
) -> None:
    request = signer.presign("PUT", "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS)

    grant = signer.verify("PUT", "uploads/x", query_of(request.url))

    assert request.headers == {"Content-Type": "text/csv"}
    assert grant == BlobGrant(
        method="PUT",
        key="uploads/x",
        expires_at=NOW + FIVE_MINUTES,
        max_bytes=1000,
        content_type="text/csv",
    )


def test_put_without_a_content_type_grants_only_the_size(signer: BlobSigner) -> None:
    request = signer.presign(
        "PUT", "uploads/x", expires_in=FIVE_MINUTES, limits=UploadLimits(max_bytes=0)
    )

    grant = signer.verify("PUT", "uploads/x", query_of(request.url))

    assert request.headers == {}
    assert (grant.max_bytes, grant.content_type) == (0, None)


def test_delete_round_trip(signer: BlobSigner) -> None:
    request = signer.presign("DELETE", "uploads/x", expires_in=FIVE_MINUTES)

    grant = signer.verify("DELETE", "uploads/x", query_of(request.url))

    assert grant == BlobGrant(method="DELETE", key="uploads/x", expires_at=NOW + FIVE_MINUTES)


def test_starlette_query_params_are_accepted_as_they_come(signer: BlobSigner) -> None:
    request = signer.presign("PUT", "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS)

    grant = signer.verify("PUT", "uploads/x", QueryParams(urlsplit(request.url).query))

    assert grant.max_bytes == 1000


def test_expiry_is_whole_seconds_and_matches_the_url(signer: BlobSigner, clock: Clock) -> None:
    clock.now = NOW + timedelta(microseconds=900_000)

    request = signer.presign("GET", "k", expires_in=timedelta(seconds=10))

    assert request.expires_at == NOW + timedelta(seconds=10)
    assert query_of(request.url)["expires"] == str(int(request.expires_at.timestamp()))


def test_base_url_trailing_slash_is_ignored(clock: Clock) -> None:
    signer = BlobSigner.from_app_secret(APP_SECRET, BASE_URL + "/", clock=clock)

    assert signer.presign("GET", "k", expires_in=FIVE_MINUTES).url.startswith(
        f"{BASE_URL}/_blobs/k?"
    )


# Refusals: tampering, other method, other key, other secret --------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("expires", str(int((NOW + timedelta(days=365)).timestamp()))),
        ("max_bytes", "1001"),
        ("max_bytes", "999999999"),
        ("content_type", "text/html"),
        ("content_type", ""),
        ("filename", "other.csv"),
        ("signature", "0" * 64),
    ],
)
def test_changing_any_parameter_breaks_the_signature(
    signer: BlobSigner, name: str, value: str
) -> None:
    url = signer.sign_url("PUT", "uploads/x", expires_at=NOW + FIVE_MINUTES, limits=LIMITS)
    query = query_of(url)
    query[name] = value

    with pytest.raises(SignatureMismatch):
        signer.verify("PUT", "uploads/x", query)


@pytest.mark.parametrize("name", ["max_bytes", "content_type"])
def test_dropping_a_limit_breaks_the_signature(signer: BlobSigner, name: str) -> None:
    query = query_of(signer.presign("PUT", "k", expires_in=FIVE_MINUTES, limits=LIMITS).url)
    del query[name]

    with pytest.raises(SignatureMismatch):
        signer.verify("PUT", "k", query)


@pytest.mark.parametrize(
    ("name", "value"), [("max_bytes", "10"), ("content_type", "text/csv"), ("filename", "x.pdf")]
)
def test_adding_a_parameter_breaks_the_signature(signer: BlobSigner, name: str, value: str) -> None:
    query = query_of(signer.presign("GET", "k", expires_in=FIVE_MINUTES).url)
    query[name] = value

    with pytest.raises(SignatureMismatch):
        signer.verify("GET", "k", query)


def test_a_changed_download_name_breaks_the_signature(signer: BlobSigner) -> None:
    url = signer.presign("GET", "k", expires_in=FIVE_MINUTES, download_name="a.pdf").url
    query = query_of(url)
    query["filename"] = "evil.html"

    with pytest.raises(SignatureMismatch):
        signer.verify("GET", "k", query)


@pytest.mark.parametrize(
    ("signed", "used"),
    [("GET", "PUT"), ("GET", "DELETE"), ("GET", "HEAD"), ("PUT", "POST"), ("DELETE", "GET")],
)
def test_a_url_is_bound_to_its_method(signer: BlobSigner, signed: str, used: str) -> None:
    query = query_of(signer.presign(signed, "k", expires_in=FIVE_MINUTES).url)  # type: ignore[arg-type]

    with pytest.raises(SignatureMismatch):
        signer.verify(used, "k", query)


@pytest.mark.parametrize("other", ["k2", "K", "k/", "dir/k", "uploads/x"])
def test_a_url_is_bound_to_its_key(signer: BlobSigner, other: str) -> None:
    query = query_of(signer.presign("GET", "k", expires_in=FIVE_MINUTES).url)

    with pytest.raises(SignatureMismatch):
        signer.verify("GET", other, query)


def test_a_url_signed_with_another_secret_is_refused(signer: BlobSigner, clock: Clock) -> None:
    other = BlobSigner.from_app_secret(APP_SECRET + "!", BASE_URL, clock=clock)
    query = query_of(other.presign("GET", "k", expires_in=FIVE_MINUTES).url)

    with pytest.raises(SignatureMismatch):
        signer.verify("GET", "k", query)


def test_the_app_secret_itself_does_not_sign_urls(signer: BlobSigner, clock: Clock) -> None:
    # A holder of a token key (or a token) must not be able to mint URLs, and the reverse.
    raw = BlobSigner(APP_SECRET.encode(), BASE_URL, clock=clock)
    query = query_of(raw.presign("GET", "k", expires_in=FIVE_MINUTES).url)

    with pytest.raises(SignatureMismatch):
        signer.verify("GET", "k", query)


def test_the_signature_is_compared_in_constant_time(
    signer: BlobSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    request = signer.presign("GET", "k", expires_in=FIVE_MINUTES)
    signer.verify("GET", "k", query_of(request.url))
    post = signer.presign_post("k", expires_in=FIVE_MINUTES, limits=LIMITS)
    signer.verify_post(post.fields)

    assert [given for _, given in calls] == [
        query_of(request.url)["signature"],
        post.fields["x-filedock-signature"],
    ]


# Expiry -------------------------------------------------------------------------------------


def test_a_url_is_valid_until_the_second_before_it_expires(
    signer: BlobSigner, clock: Clock
) -> None:
    query = query_of(signer.presign("GET", "k", expires_in=FIVE_MINUTES).url)

    clock.now = NOW + FIVE_MINUTES - timedelta(microseconds=1)
    signer.verify("GET", "k", query)
    clock.now = NOW + FIVE_MINUTES
    with pytest.raises(SignatureExpired):
        signer.verify("GET", "k", query)


def test_a_tampered_expired_url_is_a_mismatch_not_an_expiry(
    signer: BlobSigner, clock: Clock
) -> None:
    # The signature is checked before any signed value is believed.
    query = query_of(signer.presign("GET", "k", expires_in=FIVE_MINUTES).url)
    query["filename"] = "x"
    clock.now = NOW + timedelta(days=1)

    with pytest.raises(SignatureMismatch):
        signer.verify("GET", "k", query)


# Malformed requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda q: q.pop("signature"), id="missing signature"),
        pytest.param(lambda q: q.pop("expires"), id="missing expiry"),
        pytest.param(lambda q: q.update(expires="soon"), id="non-numeric expiry"),
        pytest.param(lambda q: q.update(expires="-5"), id="negative expiry"),
        pytest.param(lambda q: q.update(expires=""), id="empty expiry"),
        pytest.param(lambda q: q.update(expires="1e9"), id="exponent expiry"),
        pytest.param(lambda q: q.update(max_bytes="10kB"), id="non-numeric size"),
        pytest.param(lambda q: q.update(expires="000" + q["expires"]), id="zero-padded expiry"),
        pytest.param(lambda q: q.update(max_bytes="0" + q["max_bytes"]), id="zero-padded size"),
        pytest.param(lambda q: q.update(signature="zz" * 32), id="signature not hex"),
        pytest.param(lambda q: q.update(signature="ab"), id="signature too short"),
        pytest.param(lambda q: q.update(method="GET"), id="unknown parameter"),
    ],
)
def test_malformed_query_is_refused_before_any_signature_check(
    signer: BlobSigner, change: Callable[[dict[str, str]], object]
) -> None:
    query = query_of(signer.presign("PUT", "k", expires_in=FIVE_MINUTES, limits=LIMITS).url)
    change(query)

    with pytest.raises(MalformedSignedRequest):
        signer.verify("PUT", "k", query)


@pytest.mark.parametrize("name", ["expires", "signature", "max_bytes"])
def test_a_repeated_parameter_is_refused(signer: BlobSigner, name: str) -> None:
    url = signer.presign("PUT", "k", expires_in=FIVE_MINUTES, limits=LIMITS).url
    query = urlsplit(url).query
    value = query_of(url)[name]

    with pytest.raises(MalformedSignedRequest):
        signer.verify("PUT", "k", QueryParams(f"{query}&{name}={value}"))


# Form uploads (POST policies) ---------------------------------------------------------------


def decoded_policy(fields: dict[str, str]) -> dict[str, object]:
    policy: dict[str, object] = json.loads(base64.b64decode(fields["policy"], validate=True))
    return policy


def resign(signer: BlobSigner, policy: dict[str, object]) -> dict[str, str]:
    """A policy re-encoded by someone without the secret: the old signature, new content."""
    return {"policy": base64.b64encode(json.dumps(policy).encode()).decode()}


def test_post_form_carries_an_s3_style_policy(signer: BlobSigner) -> None:
    request = signer.presign_post(
        "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS, success_status="201"
    )

    assert (request.method, request.url, request.headers) == ("POST", f"{BASE_URL}/_blobs/", {})
    assert request.expires_at == NOW + FIVE_MINUTES
    assert set(request.fields) == {
        "key",
        "Content-Type",
        "success_action_status",
        "policy",
        "x-filedock-signature",
    }
    assert request.fields["key"] == "uploads/x"
    assert request.fields["Content-Type"] == "text/csv"
    assert request.fields["success_action_status"] == "201"
    assert decoded_policy(request.fields) == {
        "expiration": "2030-01-02T03:09:05Z",
        "conditions": [
            {"key": "uploads/x"},
            ["content-length-range", 0, 1000],
            {"Content-Type": "text/csv"},
            {"success_action_status": "201"},
        ],
    }


def test_post_without_a_success_status_names_none_as_s3s_default_form(
    signer: BlobSigner,
) -> None:
    # Seed 000's form has no success_action_status: S3 then answers 204.
    request = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS)

    assert "success_action_status" not in request.fields
    assert decoded_policy(request.fields)["conditions"] == [
        {"key": "uploads/x"},
        ["content-length-range", 0, 1000],
        {"Content-Type": "text/csv"},
    ]
    assert signer.verify_post(request.fields).success_status is None


@pytest.mark.parametrize("status", ["200", "201", "204"])
def test_post_round_trip_grants_the_signed_success_status(signer: BlobSigner, status: str) -> None:
    fields = signer.presign_post(
        "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS, success_status=status
    ).fields

    assert fields["success_action_status"] == status
    assert signer.verify_post(fields).success_status == status


@pytest.mark.parametrize("status", ["202", "302", "201 ", "ok", ""])
def test_a_success_status_s3_does_not_know_is_never_signed(signer: BlobSigner, status: str) -> None:
    with pytest.raises(ValueError):
        signer.presign_post(
            "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS, success_status=status
        )


def test_post_round_trip_grants_the_limits(signer: BlobSigner) -> None:
    fields = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields

    assert signer.verify_post(fields) == BlobGrant(
        method="POST",
        key="uploads/x",
        expires_at=NOW + FIVE_MINUTES,
        max_bytes=1000,
        content_type="text/csv",
    )


def test_post_without_a_content_type_binds_only_the_size(signer: BlobSigner) -> None:
    request = signer.presign_post(
        "uploads/x", expires_in=FIVE_MINUTES, limits=UploadLimits(max_bytes=5)
    )

    grant = signer.verify_post(request.fields)

    assert "Content-Type" not in request.fields
    assert decoded_policy(request.fields)["conditions"] == [
        {"key": "uploads/x"},
        ["content-length-range", 0, 5],
    ]
    assert (grant.max_bytes, grant.content_type) == (5, None)


def test_post_accepts_a_starlette_form_with_its_file_and_any_name_case(
    signer: BlobSigner,
) -> None:
    fields = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields
    form = [(name.lower(), value) for name, value in fields.items()]

    grant = signer.verify_post(FormData([*form, ("x-ignore-note", "hi"), ("file", "…")]))

    assert grant.key == "uploads/x"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p["conditions"][1].__setitem__(2, 10**12), id="bigger size"),
        pytest.param(lambda p: p["conditions"].pop(2), id="content type dropped"),
        pytest.param(lambda p: p.update(expiration="2099-01-01T00:00:00Z"), id="later expiry"),
        pytest.param(lambda p: p["conditions"][0].update(key="other"), id="other key"),
    ],
)
def test_a_tampered_policy_is_refused(
    signer: BlobSigner, change: Callable[[dict[str, object]], object]
) -> None:
    fields = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields
    policy = decoded_policy(fields)
    change(policy)
    fields.update(resign(signer, policy))

    with pytest.raises(SignatureMismatch):
        signer.verify_post(fields)


def test_a_policy_signed_with_another_secret_is_refused(signer: BlobSigner, clock: Clock) -> None:
    other = BlobSigner.from_app_secret("another secret", BASE_URL, clock=clock)
    fields = other.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields

    with pytest.raises(SignatureMismatch):
        signer.verify_post(fields)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("key", "uploads/other"),
        ("key", "uploads/x/"),
        ("Content-Type", "text/html"),
        ("Content-Type", "TEXT/CSV"),
        ("success_action_status", "200"),
        ("success_action_status", "201 "),
    ],
)
def test_a_field_that_breaks_a_condition_is_refused(
    signer: BlobSigner, name: str, value: str
) -> None:
    fields = signer.presign_post(
        "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS, success_status="201"
    ).fields
    fields[name] = value

    with pytest.raises(SignatureMismatch):
        signer.verify_post(fields)


@pytest.mark.parametrize("name", ["key", "Content-Type", "success_action_status"])
def test_a_missing_conditioned_field_is_refused(signer: BlobSigner, name: str) -> None:
    fields = signer.presign_post(
        "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS, success_status="201"
    ).fields
    del fields[name]

    with pytest.raises(SignatureMismatch):
        signer.verify_post(fields)


def test_a_field_the_policy_does_not_name_is_refused(signer: BlobSigner) -> None:
    # As with S3: a form may not smuggle in settings (say, a redirect) its policy never allowed.
    fields = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields
    fields["success_action_redirect"] = "https://evil.example/"

    with pytest.raises(SignatureMismatch):
        signer.verify_post(fields)


def test_an_expired_policy_is_refused(signer: BlobSigner, clock: Clock) -> None:
    fields = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields

    clock.now = NOW + FIVE_MINUTES - timedelta(seconds=1)
    signer.verify_post(fields)
    clock.now = NOW + FIVE_MINUTES
    with pytest.raises(SignatureExpired):
        signer.verify_post(fields)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda f: f.pop("policy"), id="missing policy"),
        pytest.param(lambda f: f.pop("x-filedock-signature"), id="missing signature"),
        pytest.param(lambda f: f.update({"x-filedock-signature": "nope"}), id="bad signature"),
        pytest.param(lambda f: f.update({"content-type": "text/csv"}), id="name twice by case"),
        pytest.param(lambda f: f.update(policy="pølicy\udc80"), id="policy not ascii"),
    ],
)
def test_a_malformed_form_is_refused(
    signer: BlobSigner, change: Callable[[dict[str, str]], object]
) -> None:
    fields = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields
    change(fields)

    with pytest.raises(MalformedSignedRequest):
        signer.verify_post(fields)


def test_a_repeated_form_field_is_refused(signer: BlobSigner) -> None:
    fields = signer.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS).fields

    with pytest.raises(MalformedSignedRequest):
        signer.verify_post(FormData([*fields.items(), ("key", "uploads/x")]))


# Arguments and configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.presign("POST", "k", expires_in=FIVE_MINUTES), id="POST"),
        pytest.param(lambda s: s.presign("get", "k", expires_in=FIVE_MINUTES), id="lowercase"),
        pytest.param(
            lambda s: s.presign("GET", "k", expires_in=FIVE_MINUTES, limits=LIMITS),
            id="limits on GET",
        ),
        pytest.param(
            lambda s: s.presign("PUT", "k", expires_in=FIVE_MINUTES, download_name="a"),
            id="download name on PUT",
        ),
        pytest.param(lambda s: s.presign("GET", "k", expires_in=timedelta(0)), id="no time"),
        pytest.param(lambda s: s.presign("GET", "k", expires_in=timedelta(days=8)), id="8 days"),
        pytest.param(
            lambda s: s.presign("PUT", "k", expires_in=FIVE_MINUTES, limits=UploadLimits(-1, None)),
            id="negative size",
        ),
        pytest.param(
            lambda s: s.presign(
                "PUT", "k", expires_in=FIVE_MINUTES, limits=UploadLimits(1, "text/csv\r\nX: y")
            ),
            id="header injection",
        ),
        pytest.param(
            lambda s: s.presign("GET", "k", expires_in=FIVE_MINUTES, download_name="a\nb"),
            id="control character in name",
        ),
        pytest.param(
            lambda s: s.presign("GET", "k", expires_in=FIVE_MINUTES, download_name="../a"),
            id="path in name",
        ),
        pytest.param(
            lambda s: s.presign_post(
                "k", expires_in=FIVE_MINUTES, limits=UploadLimits(1, "no type")
            ),
            id="form with bad type",
        ),
    ],
)
def test_requests_that_cannot_be_signed_are_refused(
    signer: BlobSigner, call: Callable[[BlobSigner], object]
) -> None:
    with pytest.raises(ValueError):
        call(signer)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", ".tmp/x", "a//b", "a\\b"])
def test_unsafe_keys_are_never_signed(signer: BlobSigner, key: str) -> None:
    with pytest.raises(InvalidKey):
        signer.presign("GET", key, expires_in=FIVE_MINUTES)
    with pytest.raises(InvalidKey):
        signer.presign_post(key, expires_in=FIVE_MINUTES, limits=LIMITS)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: BlobSigner(b"short", BASE_URL), id="short secret"),
        pytest.param(lambda: BlobSigner.from_app_secret("", BASE_URL), id="empty app secret"),
        pytest.param(lambda: BlobSigner.from_app_secret("s", "files.example.org"), id="no scheme"),
        pytest.param(lambda: BlobSigner.from_app_secret("s", "ftp://h"), id="ftp"),
        pytest.param(lambda: BlobSigner.from_app_secret("s", "https://h/?a=1"), id="query"),
    ],
)
def test_bad_signer_settings_fail_at_construction(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


def test_object_url_is_the_unsigned_blobs_address_a_form_post_names(signer: BlobSigner) -> None:
    assert signer.object_url("uploads/a b.pdf") == f"{BASE_URL}/_blobs/uploads/a%20b.pdf"
    with pytest.raises(InvalidKey):
        signer.object_url("../etc/passwd")


def test_attachment_disposition_is_safe_for_any_name() -> None:
    # Quotes, "%" and non-ASCII never reach the plain fallback; the exact name travels
    # percent-encoded.
    assert attachment_disposition('r "q"é%;.csv') == (
        "attachment; filename=\"r _q___;.csv\"; filename*=UTF-8''r%20%22q%22%C3%A9%25%3B.csv"
    )


# LocalObjectStore wiring --------------------------------------------------------------------


def test_local_store_signs_through_its_signer(tmp_path: Path, signer: BlobSigner) -> None:
    store = LocalObjectStore(tmp_path / "objects", signer=signer)

    put = store.presign("PUT", "uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS)
    post = store.presign_post("uploads/x", expires_in=FIVE_MINUTES, limits=LIMITS)

    assert signer.verify("PUT", "uploads/x", query_of(put.url)).max_bytes == 1000
    assert signer.verify_post(post.fields).key == "uploads/x"


def test_local_store_without_a_signer_says_so(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")

    with pytest.raises(SigningNotConfigured):
        store.presign("GET", "k", expires_in=FIVE_MINUTES)
    with pytest.raises(SigningNotConfigured):
        store.presign_post("k", expires_in=FIVE_MINUTES, limits=LIMITS)


def test_local_store_refuses_to_sign_an_unsafe_key(tmp_path: Path, signer: BlobSigner) -> None:
    store = LocalObjectStore(tmp_path / "objects", signer=signer)

    with pytest.raises(InvalidKey):
        store.presign("GET", "../outside", expires_in=FIVE_MINUTES)
