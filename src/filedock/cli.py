"""The `filedock` command: serve, migrate, and mint tokens for scripts."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from filedock.config import Settings, SettingsError, load_settings

cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="filedock: a self-hosted file service."
)
token_cli = typer.Typer(no_args_is_help=True, help="Bearer tokens for scripts and tests.")
cli.add_typer(token_cli, name="token")

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def main() -> None:
    cli()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
) -> None:
    """Migrate the database if needed, then serve every face."""
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    settings = _settings()
    from filedock.db.migrate import upgrade
    from filedock.observability import configure_logging

    _check_storage(settings)
    configure_logging(settings.log_level)
    upgrade(settings.resolved_database_url)
    # The server imports the app in its worker; settings travel there through the environment.
    os.environ["FILEDOCK_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["FILEDOCK_JWT_SECRET"] = settings.jwt_secret
    # Become the lean serving process: what start-up loaded is not carried while serving.
    sys.stdout.flush()
    sys.stderr.flush()
    args = [sys.executable, "-m", "filedock.server", host, str(port), str(workers)]
    os.execv(sys.executable, args)


@cli.command()
def migrate(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Bring the database to the newest schema."""
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    from filedock.db.migrate import upgrade

    upgrade(_settings().resolved_database_url)
    typer.echo("database is up to date", err=True)


@token_cli.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="The user id the token names.")],
    role: Annotated[str, typer.Option(help="The role, e.g. user or admin.")] = "user",
    ttl: Annotated[str, typer.Option(help="Lifetime: 30s, 15m, 1h, 7d.")] = "1h",
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Print a Bearer token signed with this installation's secret, and nothing else."""
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    lifetime = _parse_duration(ttl)
    if not user.strip():
        _die("--user: must not be empty")
    from filedock.auth.tokens import issue_token

    settings = _settings()
    typer.echo(
        issue_token(
            settings.jwt_secret,
            user,
            role,
            lifetime,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _die(str(exc))


def _check_storage(settings: Settings) -> None:
    """Build the object store once, so a bad storage setting is one line, not a traceback."""
    import asyncio

    from filedock.runtime import open_object_store

    try:
        store = open_object_store(settings)
    except (SettingsError, ValueError) as exc:
        message = str(exc)
        _die(message if message.startswith("FILEDOCK_") else f"FILEDOCK_STORAGE_URL: {message}")
    asyncio.run(store.close())


def _parse_duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        _die(f"--ttl: {text!r} is not a duration like 30s, 15m, 1h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _die(message: str) -> NoReturn:
    typer.echo(f"filedock: {message}", err=True)
    sys.exit(2)
