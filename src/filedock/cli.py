"""The `filedock` command: serve, work the queue, migrate, and mint credentials for scripts."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from filedock.cli_config import register as register_config_commands
from filedock.cli_files import register as register_file_commands
from filedock.config import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from filedock.core.accounts import AccountService
    from filedock.core.api_keys import ApiKeyService
    from filedock.ports.objectstore import ObjectStore

T = TypeVar("T")

cli = typer.Typer(no_args_is_help=True, help="filedock: a self-hosted file service.")
token_cli = typer.Typer(no_args_is_help=True, help="Bearer tokens for scripts and tests.")
cli.add_typer(token_cli, name="token")
apikey_cli = typer.Typer(no_args_is_help=True, help="API keys for trusted back-ends.")
cli.add_typer(apikey_cli, name="apikey")
account_cli = typer.Typer(no_args_is_help=True, help="Accounts of the cosphere API.")
cli.add_typer(account_cli, name="account")
s3_cli = typer.Typer(no_args_is_help=True, help="The S3 bucket of an s3:// store.")
cli.add_typer(s3_cli, name="s3")
register_config_commands(cli)

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def main() -> None:
    try:
        cli()
    except SettingsError as exc:
        # Raised where a backend is opened, e.g. a setting that needs an extra not installed.
        _die(str(exc))


def _print_version(wanted: bool) -> None:
    if wanted:
        from filedock import __version__

        typer.echo(f"filedock {__version__}")
        raise typer.Exit()


@cli.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """filedock: a self-hosted file service."""


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes: 1 serves from this process; 2 or more run under a "
            "master that replaces one that dies."
        ),
    ] = 1,
) -> None:
    """Migrate the database if needed, then serve every face."""
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    settings = _settings()
    from filedock.db.migrate import upgrade
    from filedock.observability import configure_logging, resolve_log_format
    from filedock.server import START_BLOCK_VARIABLE
    from filedock.start_block import start_block

    _check_storage(settings)
    _check_libmagic()
    _check_port(host, port)
    # `auto` is decided once, here: the server and its workers write to this same stderr.
    log_format = resolve_log_format(settings.log_format)
    configure_logging(settings.log_level, log_format)
    upgrade(settings.resolved_database_url)
    # The server imports the app in its worker; settings travel there through the environment.
    os.environ["FILEDOCK_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["FILEDOCK_JWT_SECRET"] = settings.jwt_secret.get_secret_value()
    os.environ["FILEDOCK_LOG_FORMAT"] = log_format
    public_url = settings.public_url
    if "public_url" not in settings.model_fields_set:
        # Signed URLs must point where this server listens, not at the default port.
        public_url = os.environ["FILEDOCK_PUBLIC_URL"] = _local_url(host, port)
    os.environ[START_BLOCK_VARIABLE] = start_block(
        settings,
        url=public_url,
        listening=_address(host, port),
        workers=workers,
        log_format=log_format,
    )
    # Become the lean serving process: what start-up loaded is not carried while serving.
    sys.stdout.flush()
    sys.stderr.flush()
    args = [sys.executable, "-m", "filedock.server", host, str(port), str(workers)]
    os.execv(sys.executable, args)


@cli.command()
def worker(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
    stop_grace: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds a stop (SIGTERM, SIGINT) gives running jobs to finish before they "
            "are handed back to the queue.",
        ),
    ] = 10.0,
) -> None:
    """Migrate the database if needed, then work the job queue without serving HTTP."""
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    settings = _settings()
    _check_storage(settings)
    _check_libmagic()
    from sqlalchemy.exc import SQLAlchemyError

    from filedock.ports.metadata import MetadataUnavailable
    from filedock.worker_process import run_worker

    try:
        run_worker(settings, stop_grace=timedelta(seconds=stop_grace))
    except (MetadataUnavailable, SQLAlchemyError, OSError) as exc:
        # Only start-up gets here (migrating): once working, an outage delays jobs instead.
        _die(f"the database is unavailable: {_first_line(exc)}", exit_code=1)


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
            settings.jwt_secret.get_secret_value(),
            user,
            role,
            lifetime,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )


@apikey_cli.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="A unique name: who holds the key.")],
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Print a new API key on stdout, and nothing else; it is shown only this once."""
    key, plaintext = _with_api_keys(data_dir, lambda keys: keys.create(name))
    typer.echo(plaintext)
    typer.echo(
        f"filedock: API key {key.name!r} created (prefix {key.prefix}); "
        "it is shown only once, store it now",
        err=True,
    )


@apikey_cli.command("list")
def apikey_list(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """List every key: name, prefix, created, revoked (never the key itself)."""
    keys = _with_api_keys(data_dir, lambda service: service.list())
    rows = [("name", "prefix", "created", "revoked")] + [
        (key.name, key.prefix, _when(key.created_at), _when(key.revoked_at)) for key in keys
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        # The last column is not padded, so lines carry no trailing spaces.
        typer.echo("  ".join([*(row[c].ljust(widths[c]) for c in range(3)), row[3]]))


@apikey_cli.command("revoke")
def apikey_revoke(
    name: Annotated[str, typer.Option(help="The name of the key to revoke.")],
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Revoke a key: servers refuse it within 5 seconds. Revoking twice is fine."""
    _with_api_keys(data_dir, lambda keys: keys.revoke(name))
    typer.echo(f"filedock: API key {name!r} revoked", err=True)


@account_cli.command("create")
def account_create(
    email: Annotated[str, typer.Option(help="The account's email (its sign-in).")],
    account_type: Annotated[
        str, typer.Option("--type", help="ADMIN or RESEARCHER.")
    ] = "RESEARCHER",
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Create an account; print its id on stdout, and nothing else."""
    from filedock.core.accounts import parse_account_type

    account = _with_accounts(
        data_dir, lambda accounts: accounts.create(email, parse_account_type(account_type))
    )
    typer.echo(account.id)
    typer.echo(f"filedock: {account.type.value} account {account.email} created", err=True)


@account_cli.command("token")
def account_token(
    email: Annotated[str, typer.Option(help="The email of the account.")],
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Print a Bearer token for the account on stdout, and nothing else."""

    async def issue(accounts: AccountService) -> str:
        return accounts.issue_token(await accounts.find_by_email(email))

    typer.echo(_with_accounts(data_dir, issue))


@cli.command("ui-link")
def ui_link(
    user: Annotated[
        str | None, typer.Option(help="For /ui/ (files): the user id the link signs in as.")
    ] = None,
    email: Annotated[
        str | None, typer.Option(help="For /ui/catalogue/: the cosphere account's email.")
    ] = None,
    expires: Annotated[str, typer.Option(help="Lifetime of a --user link: 30m, 8h, 7d.")] = "8h",
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Print a link that signs a person in to a browser page, and nothing else.

    The token rides in the link's fragment, which the browser never sends to a server. A
    --user link holds a Bearer token of this installation (its files are those of the
    hasura face's same user); an --email link holds the account's token, which lives
    FILEDOCK_ACCOUNT_TOKEN_HOURS.
    """
    if (user is None) == (email is None):
        _die("give --user (the files page) or --email (the catalogue page), one of them")
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    base = _settings().public_url.rstrip("/")
    if email is not None:

        async def issue(accounts: AccountService) -> str:
            return accounts.issue_token(await accounts.find_by_email(email))

        typer.echo(f"{base}/ui/catalogue/#token={_with_accounts(data_dir, issue)}")
        return
    assert user is not None
    if not user.strip():
        _die("--user: must not be empty")
    lifetime = _parse_duration(expires, option="--expires")
    from filedock.auth.tokens import issue_token

    settings = _settings()
    token = issue_token(
        settings.jwt_secret.get_secret_value(),
        user,
        "user",
        lifetime,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    typer.echo(f"{base}/ui/#token={token}")


@s3_cli.command("cors")
def s3_cors(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (FILEDOCK_DATA_DIR).")] = None,
) -> None:
    """Let browsers use the bucket's signed URLs: pages on FILEDOCK_CORS_ORIGINS, and
    filedock's own /ui/ at FILEDOCK_PUBLIC_URL. Print the rule."""
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    settings = _settings()
    if not settings.resolved_storage_url.startswith("s3://"):
        _die("FILEDOCK_STORAGE_URL: `s3 cors` needs an s3:// store; local files are served here")
    import json
    from urllib.parse import urlsplit

    own = urlsplit(settings.public_url)
    listed = settings.cors_origin_list()
    own_origin = f"{own.scheme}://{own.netloc}"
    origins = list(listed) if listed == ("*",) else list(dict.fromkeys([*listed, own_origin]))

    from filedock.ports.objectstore import StoreUnavailable
    from filedock.ports.objectstore_s3 import S3ObjectStore

    store = _open_store(settings)
    assert isinstance(store, S3ObjectStore)
    try:
        rule, kept = store.allow_browsers(origins)
    except StoreUnavailable as exc:
        _die(str(exc), exit_code=1)
    typer.echo(json.dumps(rule, indent=2))
    typer.echo(
        f"filedock: bucket {store.bucket}: CORS rule {rule['ID']!r} applied, "
        f"{kept} other rule(s) kept",
        err=True,
    )


def _with_api_keys(data_dir: Path | None, action: Callable[[ApiKeyService], Awaitable[T]]) -> T:
    def run(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Awaitable[T]:
        from filedock.core.api_keys import ApiKeyService
        from filedock.db.api_keys import SqlApiKeyStore

        return action(ApiKeyService(SqlApiKeyStore(sessions)))

    return _on_database(data_dir, run)


def _with_accounts(data_dir: Path | None, action: Callable[[AccountService], Awaitable[T]]) -> T:
    def run(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Awaitable[T]:
        from filedock.runtime import account_service

        return action(account_service(settings, sessions))

    return _on_database(data_dir, run)


def _on_database(
    data_dir: Path | None,
    action: Callable[[Settings, async_sessionmaker[AsyncSession]], Awaitable[T]],
) -> T:
    """Migrate the database (as `serve` does), then run `action`.

    Failures are one line on stderr: exit 1, or 2 for a bad option value.
    """
    if data_dir is not None:
        os.environ["FILEDOCK_DATA_DIR"] = str(data_dir)
    from sqlalchemy.exc import SQLAlchemyError

    from filedock.core.errors import DomainError, InvalidInput
    from filedock.db.migrate import upgrade
    from filedock.ports.metadata import MetadataUnavailable

    settings = _settings()
    url = settings.resolved_database_url
    try:
        upgrade(url)
        return asyncio.run(_run_on_database(settings, url, action))
    except InvalidInput as exc:
        # A bad option value is bad usage, like a bad --ttl: exit 2.
        _die(f"--{exc.first_field}: {exc.first_message}")
    except DomainError as exc:
        _die(exc.message, exit_code=1)
    except (MetadataUnavailable, SQLAlchemyError, OSError) as exc:
        _die(f"the database is unavailable: {_first_line(exc)}", exit_code=1)


async def _run_on_database(
    settings: Settings,
    url: str,
    action: Callable[[Settings, async_sessionmaker[AsyncSession]], Awaitable[T]],
) -> T:
    from filedock.db.session import create_engine, session_factory

    engine = create_engine(url)
    try:
        return await action(settings, session_factory(engine))
    finally:
        await engine.dispose()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _die(str(exc))


def _check_storage(settings: Settings) -> None:
    """Build the object store once, so a bad storage setting is one line, not a traceback."""
    asyncio.run(_open_store(settings).close())


def _open_store(settings: Settings) -> ObjectStore:
    from filedock.runtime import open_object_store

    try:
        return open_object_store(settings)
    except (SettingsError, ValueError) as exc:
        message = str(exc)
        _die(message if message.startswith("FILEDOCK_") else f"FILEDOCK_STORAGE_URL: {message}")


def _check_libmagic() -> None:
    from filedock.core.sniffing import LibmagicMissing, require_libmagic

    try:
        require_libmagic()
    except LibmagicMissing as exc:
        _die(str(exc))


def _check_port(host: str, port: int) -> None:
    """Bind the address once, so a busy port is one line, not Granian's traceback."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As Granian binds: a port whose last connections are in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        _die(f"cannot listen on {host}:{port}: {exc.strerror or exc}", exit_code=1)


def _local_url(host: str, port: int) -> str:
    reachable = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in reachable and not reachable.startswith("["):
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_duration(text: str, *, option: str = "--ttl") -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        _die(f"{option}: {text!r} is not a duration like 30s, 15m, 1h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _die(message: str, *, exit_code: int = 2) -> NoReturn:
    """One line on stderr. Exit 2 for bad usage or settings, 1 when the operation failed."""
    typer.echo(f"filedock: {message}", err=True)
    sys.exit(exit_code)


# A server's files and extracts through the client (upload, download, ls, rm, share,
# extract); last, so `filedock --help` lists them after the server's own commands.
register_file_commands(cli)
