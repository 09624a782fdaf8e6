"""`filedock s3 cors`: the bucket's CORS rule for browsers holding signed URLs, on moto's S3.

Browsers PUT and POST straight to the bucket, so the bucket, not filedock, must allow their
origin; the command writes that rule from FILEDOCK_CORS_ORIGINS and the origin of
FILEDOCK_PUBLIC_URL (filedock's own /ui/ page uploads from there). Read back with
`get_bucket_cors`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.s3 import S3Endpoint

ORIGINS = "https://app.example.org,http://localhost:5173"
PUBLIC_URL = "https://files.example.org/filedock"
OWN_ORIGIN = "https://files.example.org"


def s3_cors(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    env = {**base, "FILEDOCK_DATA_DIR": str(tmp_path), "FILEDOCK_PUBLIC_URL": PUBLIC_URL}
    env.update({f"FILEDOCK_{name.upper()}": value for name, value in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "filedock", "s3", "cors"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def on_bucket(endpoint: S3Endpoint, bucket: str) -> dict[str, str]:
    return {
        "storage_url": f"s3://{bucket}/objects",
        "s3_endpoint_url": endpoint.url,
        "s3_region": endpoint.region,
    }


def bucket_rules(endpoint: S3Endpoint, bucket: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = endpoint.client().get_bucket_cors(Bucket=bucket)["CORSRules"]
    return rules


def test_the_rule_names_the_origins_and_what_signed_urls_need_and_is_printed(
    tmp_path: Path, s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    done = s3_cors(tmp_path, cors_origins=ORIGINS, **on_bucket(s3_endpoint, s3_bucket))
    assert done.returncode == 0, done.stderr
    (rule,) = bucket_rules(s3_endpoint, s3_bucket)
    assert rule["ID"] == "filedock"
    assert rule["AllowedOrigins"] == [
        "https://app.example.org",
        "http://localhost:5173",
        OWN_ORIGIN,
    ]
    assert {"GET", "HEAD", "PUT", "POST"} <= set(rule["AllowedMethods"])
    assert rule["AllowedHeaders"] == ["*"]
    assert rule["ExposeHeaders"] == ["ETag", "Content-Length", "Content-Range", "Location"]
    assert json.loads(done.stdout) == rule
    assert s3_bucket in done.stderr and "applied" in done.stderr


def test_any_origin_is_written_as_a_star(
    tmp_path: Path, s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    done = s3_cors(tmp_path, cors_origins="*", **on_bucket(s3_endpoint, s3_bucket))
    assert done.returncode == 0, done.stderr
    assert [rule["AllowedOrigins"] for rule in bucket_rules(s3_endpoint, s3_bucket)] == [["*"]]


def test_running_it_again_replaces_its_own_rule_and_keeps_the_buckets_others(
    tmp_path: Path, s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    cdn = {"ID": "cdn", "AllowedOrigins": ["https://cdn.example.org"], "AllowedMethods": ["GET"]}
    s3_endpoint.client().put_bucket_cors(Bucket=s3_bucket, CORSConfiguration={"CORSRules": [cdn]})
    first = s3_cors(tmp_path, cors_origins=ORIGINS, **on_bucket(s3_endpoint, s3_bucket))
    again = s3_cors(
        tmp_path, cors_origins="https://new.example.org", **on_bucket(s3_endpoint, s3_bucket)
    )
    assert (first.returncode, again.returncode) == (0, 0), again.stderr
    rules = {rule["ID"]: rule["AllowedOrigins"] for rule in bucket_rules(s3_endpoint, s3_bucket)}
    assert rules == {
        "cdn": ["https://cdn.example.org"],
        "filedock": ["https://new.example.org", OWN_ORIGIN],
    }
    assert "1 other rule(s) kept" in again.stderr


def test_a_local_store_is_refused_in_one_line(tmp_path: Path) -> None:
    done = s3_cors(tmp_path, cors_origins=ORIGINS)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("filedock: FILEDOCK_STORAGE_URL:") and "s3://" in line


def test_without_cors_origins_the_rule_names_filedocks_own_address_for_its_ui(
    tmp_path: Path, s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    done = s3_cors(tmp_path, **on_bucket(s3_endpoint, s3_bucket))
    assert done.returncode == 0, done.stderr
    assert [rule["AllowedOrigins"] for rule in bucket_rules(s3_endpoint, s3_bucket)] == [
        [OWN_ORIGIN]
    ]


def test_a_missing_bucket_fails_in_one_line(tmp_path: Path, s3_endpoint: S3Endpoint) -> None:
    done = s3_cors(tmp_path, cors_origins=ORIGINS, **on_bucket(s3_endpoint, "no-such-bucket-here"))
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("filedock: cannot set the bucket's CORS rules")
