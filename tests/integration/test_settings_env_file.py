"""Settings from a `.env` file are held to the environment's rules, and `filedock config check`
shows what a server would run with, secrets masked; the real command in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

JWT_SECRET = "a-jwt-secret-that-must-never-be-printed"
METRICS_TOKEN = "a-metrics-token-never-printed"
DB_PASSWORD = "a-database-password-never-printed"


def filedock(
    cwd: Path, *args: str, env: dict[str, str] | None = None, dotenv: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`filedock ARGS` run in `cwd`, with `dotenv` as the `.env` file there."""
    if dotenv is not None:
        (cwd / ".env").write_text(dotenv)
    base = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    return subprocess.run(
        [sys.executable, "-m", "filedock", *args],
        env={**base, "FILEDOCK_DATA_DIR": str(cwd / "data"), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unknown_variable_in_dotenv_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = filedock(tmp_path, "migrate", dotenv="FILEDOCK_STORAGE_ULR=/srv/objects\n")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "filedock: FILEDOCK_STORAGE_ULR: unknown setting in .env (see docs/configuration.md)"
    ]


def test_dotenv_names_are_read_whatever_their_case(tmp_path: Path) -> None:
    # pydantic-settings reads `filedock_log_level` as FILEDOCK_LOG_LEVEL: a typo so spelt
    # must be refused too, not slip through as a name nobody reads.
    result = filedock(tmp_path, "migrate", dotenv="filedock_log_levle=debug\n")
    assert result.returncode == 2
    assert "filedock_log_levle: unknown setting in .env" in result.stderr


def test_dotenv_may_hold_the_clients_variables_and_others_than_filedocks(tmp_path: Path) -> None:
    dotenv = (
        "FILEDOCK_URL=http://127.0.0.1:8000\nFILEDOCK_API_KEY=fdk_x\n"
        "AWS_REGION=eu-west-2\nexport FILEDOCK_LOG_LEVEL=warning\n"
    )
    result = filedock(tmp_path, "migrate", dotenv=dotenv)
    assert result.returncode == 0, result.stderr


def test_a_bad_value_in_dotenv_is_named_with_what_was_given(tmp_path: Path) -> None:
    result = filedock(tmp_path, "migrate", dotenv="FILEDOCK_MAX_UPLOAD_BYTES=lots\n")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "FILEDOCK_MAX_UPLOAD_BYTES" in lines[0] and "'lots'" in lines[0]


def test_config_check_prints_each_setting_its_value_and_where_it_came_from(
    tmp_path: Path,
) -> None:
    result = filedock(
        tmp_path,
        "config",
        "check",
        env={"FILEDOCK_LOG_LEVEL": "warning", "FILEDOCK_JWT_SECRET": JWT_SECRET},
        dotenv=f"FILEDOCK_MAX_UPLOAD_BYTES=1024\nFILEDOCK_METRICS_TOKEN={METRICS_TOKEN}\n",
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert lines["FILEDOCK_LOG_LEVEL"] == "warning  # environment"
    assert lines["FILEDOCK_MAX_UPLOAD_BYTES"] == "1024  # .env"
    assert lines["FILEDOCK_SWEEP_SECONDS"] == "60.0  # default"
    assert lines["FILEDOCK_JWT_SECRET"] == "********  # environment"
    assert lines["FILEDOCK_METRICS_TOKEN"] == "********  # .env"
    assert lines["FILEDOCK_HASURA_GATEWAY_SECRET"] == "  # default"
    # Every setting the server reads, and only those.
    assert set(lines) == set(check_names())
    assert JWT_SECRET not in result.stdout and METRICS_TOKEN not in result.stdout


def test_config_check_masks_a_database_password(tmp_path: Path) -> None:
    url = f"postgresql://filedock:{DB_PASSWORD}@db.example.org:5432/filedock"
    result = filedock(tmp_path, "config", "check", env={"FILEDOCK_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert DB_PASSWORD not in result.stdout
    assert (
        "FILEDOCK_DATABASE_URL=postgresql://filedock:********@db.example.org:5432/filedock"
        in result.stdout
    )


def test_config_check_says_where_the_generated_secret_lives_and_writes_nothing(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "data" / "jwt-secret"
    before = filedock(tmp_path, "config", "check")
    assert before.returncode == 0, before.stderr
    assert f"FILEDOCK_JWT_SECRET=  # {kept}, made at first start" in before.stdout.splitlines()
    assert not (tmp_path / "data").exists()
    assert filedock(tmp_path, "migrate").returncode == 0
    after = filedock(tmp_path, "config", "check")
    assert f"FILEDOCK_JWT_SECRET=********  # {kept}" in after.stdout.splitlines()
    assert kept.read_text().strip() not in after.stdout


def test_config_check_shows_where_unset_locations_point(tmp_path: Path) -> None:
    result = filedock(tmp_path, "config", "check")
    lines = result.stdout.splitlines()
    data, where = tmp_path / "data", "# default, in the data folder"
    assert f"FILEDOCK_DATABASE_URL=sqlite:///{data / 'filedock.db'}  {where}" in lines
    assert f"FILEDOCK_STORAGE_URL=file://{data / 'objects'}  {where}" in lines


def test_config_check_refuses_a_bad_setting_with_one_line(tmp_path: Path) -> None:
    result = filedock(tmp_path, "config", "check", env={"FILEDOCK_MAX_UPLOAD_BYTES": "lots"})
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("filedock: FILEDOCK_MAX_UPLOAD_BYTES: ")


def test_a_short_secret_is_refused_without_being_echoed(tmp_path: Path) -> None:
    result = filedock(tmp_path, "migrate", env={"FILEDOCK_METRICS_TOKEN": "tiny-secret"})
    assert result.returncode == 2
    assert "FILEDOCK_METRICS_TOKEN" in result.stderr and "tiny-secret" not in result.stderr


def check_names() -> list[str]:
    from filedock.config import ENV_PREFIX, Settings

    return [ENV_PREFIX + name.upper() for name in Settings.model_fields]
