"""The long-lived serving process that `filedock serve` becomes once the ground is ready.

`serve` validates the settings, checks the store and migrates the database in a process that
carries Typer, Pydantic, SQLAlchemy and Alembic. It then replaces itself with this module
(`os.execv`, same pid, so signals and supervisors see one process), so the Granian master
holds only Granian; each worker imports the application itself.

Usage (internal): python -m filedock.server HOST PORT WORKERS
"""

from __future__ import annotations

import sys

from granian.constants import Interfaces
from granian.server import Server

# Connections each worker serves at once (Granian's `backpressure`; more wait in the listen
# backlog). Granian's default divides 1024 by the workers, so more workers would each hold
# fewer, down to FILEDOCK_MAX_CONCURRENT_UPLOADS: uploads could then take every connection.
CONNECTIONS_PER_WORKER = 1024


def main(argv: list[str]) -> None:
    host, port, workers = argv
    server = Server(
        "filedock.app:asgi",
        address=host,
        port=int(port),
        interface=Interfaces.ASGI,
        factory=True,
        workers=int(workers),
        backpressure=CONNECTIONS_PER_WORKER,
        # A worker that dies (OOM killer, kill -9) is replaced; without this the master
        # stops the others and exits. A worker dying again within 5.5 s of its respawn
        # still stops the server (Granian's crash-loop guard), so a broken app does not spin.
        respawn_failed_workers=True,
        log_access=False,
    )
    try:
        server.serve()
    except RuntimeError as exc:
        # Granian reports a failed bind (a port taken since `serve` checked it) this way.
        if "(os error" not in str(exc):
            raise
        # Its text carries a Rust backtrace when RUST_BACKTRACE is set: the first line says
        # it, worded as `serve`'s own check words it once the errno is dropped.
        reason = str(exc).strip().splitlines()[0].split(" (os error")[0]
        print(f"filedock: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
