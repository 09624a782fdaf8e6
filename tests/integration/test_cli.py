"""The CLI contract later issues and reviewers script against."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import jwt


def filedock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    return subprocess.run(
        [sys.executable, "-m", "filedock", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_create_prints_only_a_token_the_server_accepts(tmp_path: Path) -> None:
    result = filedock(
        "token",
        "create",
        "--user",
        "42",
        "--role",
        "admin",
        "--ttl",
        "15m",
        "--data-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.count(".") == 2
    secret = (tmp_path / "jwt-secret").read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["https://hasura.io/jwt/claims"]["x-hasura-user-id"] == "42"
    assert claims["https://hasura.io/jwt/claims"]["x-hasura-default-role"] == "admin"
    assert 890 <= claims["exp"] - claims["iat"] <= 900


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = filedock("migrate", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "filedock.db").execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert {"files", "jobs", "alembic_version"} <= tables


def test_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path) -> None:
    result = filedock(
        "serve", "--data-dir", str(tmp_path), env={"FILEDOCK_MAX_UPLOAD_BYTES": "lots"}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FILEDOCK_MAX_UPLOAD_BYTES" in lines[0] and "'lots'" in lines[0]


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    result = filedock("migrate", "--data-dir", str(tmp_path), env={"FILEDOCK_STORAGE_ULR": "x"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "filedock: FILEDOCK_STORAGE_ULR: unknown setting (see docs/configuration.md)"
    ]


def test_a_shell_set_up_for_the_client_still_runs_server_commands(tmp_path: Path) -> None:
    # docs/quickstart.md exports these, then makes an API key and an account in that shell.
    client = {
        "FILEDOCK_URL": "http://127.0.0.1:8000",
        "FILEDOCK_API_KEY": "fdk_something",
        "FILEDOCK_USER_ID": "4e56e5ac-5180-4a20-a667-ce2167936aed",
        "FILEDOCK_TOKEN": "eyJ.e30.x",
    }
    data = str(tmp_path)
    result = filedock("apikey", "create", "--name", "laptop", "--data-dir", data, env=client)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_bad_storage_url_is_refused(tmp_path: Path) -> None:
    result = filedock(
        "migrate", "--data-dir", str(tmp_path), env={"FILEDOCK_STORAGE_URL": "ftp://x"}
    )
    assert result.returncode == 2 and "FILEDOCK_STORAGE_URL" in result.stderr


def test_serve_refuses_a_non_http_s3_endpoint_before_listening(tmp_path: Path) -> None:
    result = filedock(
        "serve",
        "--data-dir",
        str(tmp_path),
        "--port",
        "1",
        env={"FILEDOCK_STORAGE_URL": "s3://bucket/p", "FILEDOCK_S3_ENDPOINT_URL": "ftp://x"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FILEDOCK_S3_ENDPOINT_URL" in lines[0] and "'ftp://x'" in lines[0]


def test_token_create_refuses_a_bad_ttl(tmp_path: Path) -> None:
    result = filedock(
        "token", "create", "--user", "1", "--ttl", "forever", "--data-dir", str(tmp_path)
    )
    assert result.returncode == 2 and result.stdout == "" and "--ttl" in result.stderr
