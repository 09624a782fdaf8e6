"""`filedock upload|download|ls|rm|share|extract`: a server's files and extracts, for people.

Built on `filedock.client`; the server and credentials come from `--url`, `--api-key`,
`--user-id`, `--token` or `FILEDOCK_URL`, `FILEDOCK_API_KEY`, `FILEDOCK_USER_ID`,
`FILEDOCK_TOKEN`. Results go to stdout (ids, links, paths), progress and messages to stderr;
a failure is one line on stderr and exit 1 (2 for bad usage), never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from filedock.client import Client, FileInfo

Url = Annotated[
    str | None,
    typer.Option("--url", help="Server address (FILEDOCK_URL; default http://127.0.0.1:8000)."),
]
ApiKey = Annotated[str | None, typer.Option("--api-key", help="API key (FILEDOCK_API_KEY).")]
UserId = Annotated[
    str | None, typer.Option("--user-id", help="End user's UUID (FILEDOCK_USER_ID).")
]
Token = Annotated[
    str | None, typer.Option("--token", help="cosphere account token (FILEDOCK_TOKEN).")
]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Where to save it.")]

# Longest first, so `>=` is never read as `>` followed by a value starting with `=`.
OPERATORS = (">=", "<=", "!=", ">", "<", "=")
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
FORMATS = ("csv", "parquet")


def register(app: typer.Typer) -> None:
    """Add these commands to the `filedock` app."""
    app.command("upload")(upload)
    app.command("download")(download)
    app.command("ls")(list_files)
    app.command("rm")(remove)
    app.command("share")(share)
    app.command("extract")(extract)


def upload(
    files: Annotated[list[Path], typer.Argument(help="Files to upload.", show_default=False)],
    temporary: Annotated[
        bool, typer.Option("--temporary", help="Removed by the server after 24 h.")
    ] = False,
    url: Url = None,
    api_key: ApiKey = None,
    user_id: UserId = None,
) -> None:
    """Upload files (a progress bar each), wait for processing, print `id status name`.

    Exit 1 unless every file ends `ready`.
    """
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        _fail(f"{missing[0]}: no such file")
    all_ready = True
    with _reported(), _client(url, api_key, user_id) as client, _bars() as bars:
        for path in files:
            info = _upload_one(client, bars, path, persist=not temporary)
            all_ready &= info.ready
            reason = f"  ({info.reason})" if info.reason else ""
            _out(f"{info.file_id}  {info.status}  {path.name}{reason}")
    if not all_ready:
        raise typer.Exit(1)


def download(
    file_id: Annotated[str, typer.Argument(help="The file's id.")],
    output: Output = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Start over instead of resuming a partial file.")
    ] = False,
    url: Url = None,
    api_key: ApiKey = None,
    user_id: UserId = None,
) -> None:
    """Download a file (its own name here, or -o PATH); resumes PATH.part; prints the path."""
    with _reported(), _client(url, api_key, user_id) as client, _bars() as bars:
        task = bars.add_task(file_id[:8], total=None)
        saved = client.download(
            file_id,
            output,
            resume=not restart,
            progress=lambda done, total: bars.update(task, completed=done, total=total),
        )
    _out(str(saved))


def list_files(url: Url = None, api_key: ApiKey = None, user_id: UserId = None) -> None:
    """List your files, newest first: id, status, size, created, name."""
    with _reported(), _client(url, api_key, user_id) as client:
        files = sorted(client.list_files(page_size=200), key=lambda f: f.created_at, reverse=True)
    rows = [("id", "status", "size", "created", "name")] + [_row(file) for file in files]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        _out("  ".join([*(row[c].ljust(widths[c]) for c in range(4)), row[4]]))


def remove(
    file_id: Annotated[str, typer.Argument(help="The file's id.")],
    url: Url = None,
    api_key: ApiKey = None,
    user_id: UserId = None,
) -> None:
    """Delete a file: its bytes and its record."""
    with _reported(), _client(url, api_key, user_id) as client:
        client.delete(file_id)
    typer.echo(f"filedock: deleted {file_id}", err=True)


def share(
    file_id: Annotated[str, typer.Argument(help="The file's id.")],
    expires: Annotated[
        str, typer.Option("--expires", help="How long the link works: 30s, 10m, 1h, 7d at most.")
    ] = "5m",
    url: Url = None,
    api_key: ApiKey = None,
    user_id: UserId = None,
) -> None:
    """Print a signed link anyone can download the file with, until it expires."""
    lifetime = parse_duration(expires)
    if lifetime is None:
        _fail(f"--expires: {expires!r} is not a duration like 30s, 10m, 1h or 7d", exit_code=2)
    with _reported(), _client(url, api_key, user_id) as client:
        _out(client.share(file_id, lifetime))


def extract(
    item_id: Annotated[int, typer.Argument(help="The catalogue item's id.")],
    columns: Annotated[str, typer.Option("--columns", help="Columns to keep: a,b,c.")],
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="A filter like 'price>=78'; repeat for more (all must hold)."),
    ] = None,
    sample: Annotated[float, typer.Option("--sample", help="Share of rows kept: 0 to 1.")] = 1.0,
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    output: Output = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Ask for an extract of a catalogue item, wait for it, download it; prints the path."""
    if format not in FORMATS:
        _fail(f"--format: {format!r} is not one of {', '.join(FORMATS)}", exit_code=2)
    names = [name.strip() for name in columns.split(",") if name.strip()]
    if not names:
        _fail("--columns: name at least one column", exit_code=2)
    filters = [parse_filter(text) for text in where or []]
    from filedock.client import Client

    with _reported(), Client(url, token=token) as client:
        with _stderr().status(f"extract of item {item_id}: waiting for the server…"):
            request = client.extract(item_id, names, filters, sample=sample, format=format)
        with _bars() as bars:
            task = bars.add_task(f"extract {request.id}", total=request.real_size)
            saved = client.fetch_extract(
                request,
                output,
                progress=lambda done, total: bars.update(task, completed=done, total=total),
            )
    _out(str(saved))


def parse_filter(text: str) -> tuple[str, str, Any]:
    """`name op value` (ops `>=,<=,!=,>,<,=`): the value is a JSON number, true or false
    when it reads as one, else the text as it is."""
    position = min((text.find(op) for op in OPERATORS if op in text), default=-1)
    if position <= 0:
        _fail(f"--where: {text!r} is not like 'price>=78' (ops: {' '.join(OPERATORS)})", 2)
    name = text[:position].strip()
    operator = next(op for op in OPERATORS if text.startswith(op, position))
    raw = text[position + len(operator) :].strip()
    if not name:
        _fail(f"--where: {text!r} names no column", exit_code=2)
    try:
        value = json.loads(raw)
    except ValueError:
        return name, operator, raw
    return name, operator, value if isinstance(value, int | float | bool) else raw


def parse_duration(text: str) -> timedelta | None:
    """`30s`, `10m`, `1h`, `7d`; None for anything else (zero included)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        return None
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


# Helpers ----------------------------------------------------------------------------------


def _upload_one(client: Client, bars: Progress, path: Path, *, persist: bool) -> FileInfo:
    task = bars.add_task(path.name, total=path.stat().st_size)

    def moved(done: int, total: int | None) -> None:
        bars.update(task, completed=done)
        if done == total:
            bars.update(task, description=f"{path.name} (processing)")

    info = client.upload(path, persist=persist, progress=moved)
    bars.update(task, description=f"{path.name} ({info.status})")
    return info


def _row(file: FileInfo) -> tuple[str, str, str, str, str]:
    size = "-" if file.size is None else str(file.size)
    created = file.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return file.file_id, file.status, size, created, file.filename or "-"


def _client(url: str | None, api_key: str | None, user_id: str | None) -> Client:
    from filedock.client import Client

    return Client(url, api_key=api_key, user_id=user_id)


def _bars() -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=_stderr(),
        # Gone once done: what remains is the result on stdout, or the one line of a failure.
        transient=True,
    )


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _reported() -> Iterator[None]:
    """Any failure of the client, or of local files, as one line and exit 1."""
    from filedock.client import FiledockError

    try:
        yield
    except FiledockError as exc:
        _fail(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")
    except ValueError as exc:  # e.g. bytes without a name, an answer that is not JSON
        _fail(str(exc))


def _out(line: str) -> None:
    typer.echo(line)


def _fail(message: str, exit_code: int = 1) -> NoReturn:
    typer.echo(f"filedock: {message}", err=True)
    sys.exit(exit_code)
