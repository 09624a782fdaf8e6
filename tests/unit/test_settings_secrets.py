"""Secrets among the settings never show in their repr or str (a log line, a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from filedock.config import Settings

SECRETS = {
    "jwt_secret": "jwt-secret-jwt-secret-jwt-secret-0001",
    "metrics_token": "metrics-token-0002",
    "hasura_gateway_secret": "gateway-secret-0003",
    "bucket_notification_token": "bucket-token-0004",
}
DB_PASSWORD = "db-password-0005"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in [name for name in __import__("os").environ if name.startswith("FILEDOCK_")]:
        monkeypatch.delenv(name)
    return Settings(
        data_dir=tmp_path,
        database_url=f"postgresql://filedock:{DB_PASSWORD}@db:5432/filedock",
        **SECRETS,  # type: ignore[arg-type]
    )


def test_repr_and_str_of_the_settings_hide_every_secret(settings: Settings) -> None:
    for shown in (repr(settings), str(settings)):
        for secret in [*SECRETS.values(), DB_PASSWORD]:
            assert secret not in shown
    assert "db:5432" in repr(settings)  # the rest of the URL is still worth reading


def test_secrets_are_secret_strings_that_still_give_their_value(settings: Settings) -> None:
    for name, value in SECRETS.items():
        held = getattr(settings, name)
        assert isinstance(held, SecretStr) and held.get_secret_value() == value
    # The database URL stays usable as it is.
    assert DB_PASSWORD in settings.resolved_database_url
