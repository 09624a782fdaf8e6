"""The long-lived serving process that `filedock serve` becomes once the ground is ready.

`serve` validates the settings, checks the store and migrates the database in a process that
carries Typer, Pydantic, SQLAlchemy and Alembic. It then replaces itself with this module
(`os.execv`, same pid, so signals and supervisors see one process), so what start-up loaded
is not carried while serving.

Usage (internal): python -m filedock.server HOST PORT WORKERS

One worker (the default): this process serves, Granian embedded in its own event loop, with
no master process beside it; the server's memory is this one process's (a master would cost
about 25 MB more, resident twice over: the interpreter, Granian and OpenSSL). A crash ends
the process and the supervisor starts it again. More workers: this process is Granian's
master, holding only Granian, and supervises worker processes that each import the
application itself and are replaced when one dies.

`serve` hands over the start block (start_block.py) in `START_BLOCK_VARIABLE`, printed once
by this process when it listens, before the application starts; workers never see it.

Metrics: with more workers each is a process of its own, so this process gives them a folder
for prometheus_client's multiprocess mode (`METRICS_DIR_VARIABLE`), made empty for each run,
where each worker writes its counts and from which any worker answers a scrape for all. One
worker keeps them in memory, unless the operator names such a folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from typing import Any

from granian.constants import Interfaces
from granian.errors import FatalError
from granian.server import Server
from granian.server.embed import Server as EmbeddedServer

from filedock.event_loop import WakeOnceLoop

# Connections each worker serves at once (Granian's `backpressure`; more wait in the listen
# backlog). Granian's default divides 1024 by the workers, so more workers would each hold
# fewer, down to FILEDOCK_MAX_CONCURRENT_UPLOADS: uploads could then take every connection.
CONNECTIONS_PER_WORKER = 1024

# Not FILEDOCK_*: settings refuse variables they do not know.
START_BLOCK_VARIABLE = "_FILEDOCK_START_BLOCK"
# prometheus_client's own name; read by each worker when it first imports the library.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def main(argv: list[str]) -> None:
    host, port, workers = argv
    start_block = os.environ.pop(START_BLOCK_VARIABLE, "")
    made_here = _metrics_dir(int(workers))
    try:
        if int(workers) == 1:
            _serve_alone(host, port, start_block)
        else:
            _serve_workers(host, port, workers, start_block)
    finally:
        if made_here is not None:
            shutil.rmtree(made_here, ignore_errors=True)


def _metrics_dir(workers: int) -> str | None:
    """Set up the multiprocess metrics folder the workers inherit, if one is needed; returns
    the folder made here (to be removed at exit), else None.

    One worker with none named keeps its metrics in memory: no files to share, and a
    request's counts cost half as much (about 2.5 µs). One an operator names (a tmpfs, say)
    is used, its last run's files removed: counts of processes that are gone would otherwise
    be added to this run's. Otherwise a new folder under the system's temp folder, never
    shared with another server.
    """
    given = os.environ.get(METRICS_DIR_VARIABLE)
    if workers == 1 and not given:
        return None
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.remove(os.path.join(given, name))
        return None
    made = tempfile.mkdtemp(prefix="filedock-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = made
    return made


def application() -> Any:
    """The ASGI application a serving process runs (Granian's factory)."""
    # structlog loads rich (and pygments through it) whenever it is installed, for tracebacks
    # on a terminal that a server never prints: about 4 MB of a process that idles near
    # 100 MB. None in sys.modules makes `import rich` fail as if it were not installed, which
    # structlog and httpx handle; the file commands, which do use rich, run elsewhere.
    sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
    from filedock.app import asgi

    return asgi()


def _serve_alone(host: str, port: str, start_block: str) -> None:
    """One worker: serve in this process, Granian embedded in its event loop."""
    try:
        with asyncio.Runner(loop_factory=WakeOnceLoop) as runner:
            stopped_by_itself = runner.run(_embedded(host, int(port), start_block))
    except FatalError:
        # The application's start-up failed; Granian has logged why.
        stopped_by_itself = True
    except RuntimeError as exc:
        _exit_if_bind_failed(exc, host, port)
        raise
    if stopped_by_itself:
        # As Granian's master does when its worker keeps dying: exit with an error, so the
        # service manager sees a failure (and restarts it, if so configured).
        sys.exit(1)


async def _embedded(host: str, port: int, start_block: str) -> bool:
    """Serve until SIGTERM or SIGINT; whether the application stopped by itself instead."""
    server = EmbeddedServer(application, **_granian_settings(host, port))
    if start_block:
        # Called once the socket is bound, before the application starts.
        server.on_startup(lambda: print(start_block, file=sys.stderr, flush=True))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Through the loop: a plain signal handler would not wake it to stop.
        loop.add_signal_handler(signum, server.stop)
    await server.serve()
    return bool(server.interrupt_children)


def _serve_workers(host: str, port: str, workers: str, start_block: str) -> None:
    """Two or more workers: this process is Granian's master, each worker a process."""
    server = Server(
        "filedock.server:application",
        **_granian_settings(host, int(port)),
        workers=int(workers),
        # A worker that dies (OOM killer, kill -9) is replaced; without this the master
        # stops the others and exits. A worker dying again within 5.5 s of its respawn
        # still stops the server (Granian's crash-loop guard), so a broken app does not spin.
        respawn_failed_workers=True,
    )
    if start_block:
        # Granian calls it in this process once the socket is bound, before any worker starts.
        server.on_startup(lambda: print(start_block, file=sys.stderr, flush=True))
    try:
        server.serve()
    except RuntimeError as exc:
        _exit_if_bind_failed(exc, host, port)
        raise


def _granian_settings(host: str, port: int) -> dict[str, Any]:
    """What either shape of server is given: the address, ASGI through the factory, the
    connections a worker serves, Granian's own logging (filedock logs each request itself)."""
    return {
        "address": host,
        "port": port,
        "interface": Interfaces.ASGI,
        "factory": True,
        "backpressure": CONNECTIONS_PER_WORKER,
        "log_access": False,
        "log_dictconfig": _granian_logging(os.environ.get("FILEDOCK_LOG_FORMAT")),
    }


def _exit_if_bind_failed(exc: RuntimeError, host: str, port: str) -> None:
    """One line and exit 1 when Granian could not bind (a port taken since `serve` checked)."""
    # Granian reports a failed bind this way.
    if "(os error" not in str(exc):
        return
    # Its text carries a Rust backtrace when RUST_BACKTRACE is set: the first line says
    # it, worded as `serve`'s own check words it once the errno is dropped.
    reason = str(exc).strip().splitlines()[0].split(" (os error")[0]
    print(f"filedock: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
    sys.exit(1)


class JsonLineFormatter(logging.Formatter):
    """Granian's own lines (workers started, stopped) in the shape of filedock's JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": "granian",
            "timestamp": datetime.fromtimestamp(record.created, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def _granian_logging(log_format: str | None) -> dict[str, Any] | None:
    """Granian's logging: JSON lines when filedock logs JSON; its own readable lines else."""
    if log_format != "json":
        return None
    return {
        # By name, not the class: Granian hands this to each worker process, which imports it.
        "formatters": {"json": {"()": "filedock.server.JsonLineFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {"_granian": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }


if __name__ == "__main__":
    main(sys.argv[1:])
