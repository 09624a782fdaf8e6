"""The `filedock apikey` contract: scripts capture the key from stdout, errors are one line."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from filedock.config import Settings
from filedock.core.api_keys import ApiKeyService
from filedock.core.errors import Unauthenticated
from filedock.db.api_keys import SqlApiKeyStore
from filedock.db.session import create_engine, session_factory
from tests.integration.test_cli import filedock


@pytest.fixture(params=["sqlite", "postgres"])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for the CLI; an empty FILEDOCK_DATABASE_URL means the data folder's SQLite."""
    if request.param == "postgres":
        return {"FILEDOCK_DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {}


def apikey(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return filedock("apikey", *args, "--data-dir", str(tmp_path), env=env)


async def authenticate(tmp_path: Path, env: dict[str, str], presented: str) -> str:
    """The name of the key `presented` authenticates as, checked against the CLI's database."""
    url = Settings(
        data_dir=tmp_path, database_url=env.get("FILEDOCK_DATABASE_URL", "")
    ).resolved_database_url
    engine = create_engine(url)
    try:
        service = ApiKeyService(SqlApiKeyStore(session_factory(engine)), cache_seconds=0)
        return (await service.authenticate(presented)).name
    finally:
        await engine.dispose()


async def test_create_prints_only_a_key_that_authenticates_until_revoked(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    created = apikey(tmp_path, database_env, "create", "--name", "billing")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n" and re.fullmatch(r"fdk_[A-Za-z0-9_-]{43}", key)
    assert "only once" in created.stderr and key not in created.stderr
    assert await authenticate(tmp_path, database_env, key) == "billing"

    revoked = apikey(tmp_path, database_env, "revoke", "--name", "billing")
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(Unauthenticated):
        await authenticate(tmp_path, database_env, key)


def test_duplicate_name_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    assert apikey(tmp_path, {}, "create", "--name", "billing").returncode == 0
    again = apikey(tmp_path, {}, "create", "--name", "billing")
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.strip().splitlines() == [
        "filedock: an API key named 'billing' exists already"
    ]


def test_list_shows_names_prefixes_and_revocations_never_keys(tmp_path: Path) -> None:
    billing = apikey(tmp_path, {}, "create", "--name", "billing").stdout.strip()
    reports = apikey(tmp_path, {}, "create", "--name", "reports").stdout.strip()
    assert apikey(tmp_path, {}, "revoke", "--name", "billing").returncode == 0
    listed = apikey(tmp_path, {}, "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["name", "prefix", "created", "revoked"]
    cells = [row.split() for row in rows]
    assert [(c[0], c[1]) for c in cells] == [("billing", billing[:8]), ("reports", reports[:8])]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", cells[0][3])
    assert cells[1][3] == "-"
    for key in (billing, reports):
        assert key not in listed.stdout and key[8:] not in listed.stdout


def test_revoking_an_unknown_name_exits_1(tmp_path: Path) -> None:
    result = apikey(tmp_path, {}, "revoke", "--name", "ghost")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["filedock: no API key named 'ghost'"]


def test_bad_name_is_refused_as_bad_usage_and_nothing_is_printed(tmp_path: Path) -> None:
    result = apikey(tmp_path, {}, "create", "--name", "has space")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("filedock: --name: must be 1 to 100")


def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {"FILEDOCK_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    result = apikey(tmp_path, env, "list")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("filedock: the database is unavailable")
