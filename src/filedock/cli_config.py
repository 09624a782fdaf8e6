"""`filedock config check`: the settings a server started here would run with.

One line a setting, `FILEDOCK_NAME=value  # where it came from` (`environment`, `.env`,
`default`, or the file the generated signing secret is kept in), secrets and URL passwords
masked, so the output can be pasted into an issue. Nothing is written: the data folder and
its secret are made by the first command that needs them, not by a check.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from filedock.config import (
    ENV_PREFIX,
    SECRET_SETTINGS,
    URL_SETTINGS,
    Settings,
    SettingsError,
    read_settings,
)
from filedock.config_view import MASK, shown_value, sources_of

config_cli = typer.Typer(no_args_is_help=True, help="The settings of this installation.")

# Where `load_settings` keeps the signing secret when FILEDOCK_JWT_SECRET is not set.
_SECRET_FILE = "jwt-secret"
_DERIVED: dict[str, Callable[[Settings], str]] = {
    "database_url": lambda settings: f"sqlite:///{settings.data_dir.resolve() / 'filedock.db'}",
    "storage_url": lambda settings: settings.resolved_storage_url,
}


def register(app: typer.Typer) -> None:
    """Add `filedock config …` to the `filedock` app."""
    app.add_typer(config_cli, name="config")


@config_cli.command("check")
def check(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Check the settings and print the effective ones, secrets masked; exit 2 if one is bad."""
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    try:
        settings = read_settings()
    except SettingsError as exc:
        typer.echo(f"filedock: {exc}", err=True)
        sys.exit(2)
    for line in settings_lines(settings):
        typer.echo(line)


def settings_lines(settings: Settings) -> list[str]:
    """`NAME=value  # source` for every setting, in the order the model declares them."""
    names = {field: ENV_PREFIX + field.upper() for field in Settings.model_fields}
    sources = sources_of(names.values())
    lines = []
    for field, name in names.items():
        value = shown_value(
            getattr(settings, field), secret=field in SECRET_SETTINGS, url=field in URL_SETTINGS
        )
        source = sources[name]
        if field == "jwt_secret" and source == "default":
            value, source = _kept_secret(settings.data_dir)
        elif field in _DERIVED and not value:
            # What an unset location means here, rather than an empty line.
            value, source = _DERIVED[field](settings), "default, in the data folder"
        lines.append(f"{name}={value}  # {source}")
    return lines


def _kept_secret(data_dir: Path) -> tuple[str, str]:
    """The signing secret kept in the data folder: masked if it is there yet, and where."""
    path = data_dir.resolve() / _SECRET_FILE
    if path.is_file():
        return MASK, str(path)
    return "", f"{path}, made at first start"
