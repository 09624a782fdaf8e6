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


def main(argv: list[str]) -> None:
    host, port, workers = argv
    Server(
        "filedock.app:asgi",
        address=host,
        port=int(port),
        interface=Interfaces.ASGI,
        factory=True,
        workers=int(workers),
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
