"""The `filedock account` contract: scripts capture an id or a token from stdout, errors are one
line on stderr."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jwt
import pytest

from filedock.config import Settings
from filedock.db.session import create_engine, session_factory
from filedock.runtime import account_service
from tests.integration.test_cli import filedock


@pytest.fixture(params=["sqlite", "postgres"])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for the CLI; an empty FILEDOCK_DATABASE_URL means the data folder's SQLite."""
    if request.param == "postgres":
        return {"FILEDOCK_DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {}


def account(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return filedock("account", *args, "--data-dir", str(tmp_path), env=env)


async def authenticate(tmp_path: Path, env: dict[str, str], token: str) -> tuple[int, str, str]:
    """The account a token names, checked against the CLI's database as a server would."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=env.get("FILEDOCK_DATABASE_URL", ""),
        jwt_secret=(tmp_path / "jwt-secret").read_text().strip(),
    )
    engine = create_engine(settings.resolved_database_url)
    try:
        found = await account_service(settings, session_factory(engine)).authenticate(token)
        return found.id, found.email, found.type.value
    finally:
        await engine.dispose()


async def test_create_prints_the_id_and_token_prints_a_token_that_authenticates(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    created = account(
        tmp_path, database_env, "create", "--email", "Ann@Example.org", "--type", "ADMIN"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().isdigit() and created.stdout == created.stdout.strip() + "\n"
    account_id = int(created.stdout)
    second = account(tmp_path, database_env, "create", "--email", "bob@example.org")
    assert second.returncode == 0 and int(second.stdout) > account_id
    assert "RESEARCHER" in second.stderr

    issued = account(tmp_path, database_env, "token", "--email", "ann@example.org")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert issued.stdout == token + "\n" and token.count(".") == 2 and issued.stderr == ""
    assert await authenticate(tmp_path, database_env, token) == (
        account_id,
        "ann@example.org",
        "ADMIN",
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {"id", "email", "type", "exp"} <= set(claims)
    assert 24 * 3600 - 5 <= claims["exp"] - claims["iat"] <= 24 * 3600


def test_token_lifetime_follows_the_setting(tmp_path: Path) -> None:
    assert account(tmp_path, {}, "create", "--email", "ann@example.org").returncode == 0
    env = {"FILEDOCK_ACCOUNT_TOKEN_HOURS": "0.5"}
    token = account(tmp_path, env, "token", "--email", "ann@example.org").stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1800


def test_a_taken_email_exits_1_with_one_line(tmp_path: Path) -> None:
    assert account(tmp_path, {}, "create", "--email", "ann@example.org").returncode == 0
    again = account(tmp_path, {}, "create", "--email", "ANN@example.org", "--type", "ADMIN")
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.strip().splitlines() == [
        "filedock: an account with the email ann@example.org exists already"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--email", "not-an-email"), "filedock: --email: Enter a valid email address."),
        (
            ("--email", "ann@example.org", "--type", "OWNER"),
            "filedock: --type: must be one of ADMIN, RESEARCHER",
        ),
    ],
)
def test_bad_values_are_bad_usage_and_create_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = account(tmp_path, {}, "create", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [message]
    assert account(tmp_path, {}, "token", "--email", "ann@example.org").returncode == 1


def test_a_token_for_an_unknown_email_exits_1(tmp_path: Path) -> None:
    result = account(tmp_path, {}, "token", "--email", "nobody@example.org")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "filedock: no account with the email nobody@example.org"
    ]


def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {"FILEDOCK_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    result = account(tmp_path, env, "create", "--email", "ann@example.org")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("filedock: the database is unavailable")
