"""A database that cannot be reached becomes the metadata port's `MetadataUnavailable`.

Only outages are turned: a broken constraint, a bad statement or any other database error is
re-raised as it is, since retrying later would not help and hiding it would hide a bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from filedock.ports.metadata import MetadataUnavailable

# PostgreSQL error codes outside class 08 that mean "not now", not "not like this".
_UNAVAILABLE_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: the server is shutting down and ended the session
        "57P02",  # crash_shutdown: another server process crashed; the server restarts
        "57P03",  # cannot_connect_now: the server is starting up, shutting down or recovering
        "53300",  # too_many_connections: every connection slot is taken for now
    }
)
# Class 08, connection exception: the connection could not be made, or was lost (asyncpg
# reports a connection dropped mid-query as 08003).
_CONNECTION_EXCEPTION_CLASS = "08"

# SQLite primary result codes (an extended code keeps its primary code in the low byte).
_SQLITE_OUTAGES = frozenset(
    {
        5,  # SQLITE_BUSY: still locked by another writer after the busy timeout; try later
        6,  # SQLITE_LOCKED: a table is locked by another connection of this process
        10,  # SQLITE_IOERR: the file system under the database failed
        13,  # SQLITE_FULL: the disk is full; writes succeed again once space is freed
        14,  # SQLITE_CANTOPEN: directory gone, permissions, unmounted
    }
)


@contextmanager
def unavailable_on_connection_errors() -> Iterator[None]:
    """Raise `MetadataUnavailable` in place of a database outage; re-raise anything else."""
    try:
        yield
    except (DBAPIError, PoolTimeout, OSError) as exc:
        if _is_outage(exc):
            raise MetadataUnavailable("the database is unavailable") from exc
        raise


def _is_outage(exc: DBAPIError | PoolTimeout | OSError) -> bool:
    if isinstance(exc, PoolTimeout):
        return True  # every pooled connection stayed busy: the database is not keeping up
    if isinstance(exc, OSError):
        return True  # the socket failed (refused, reset, timed out) before the driver wrapped it
    if exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection die and dropped it from the pool
    driver_error = exc.orig
    if isinstance(driver_error, OSError):
        return True
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)
    if isinstance(sqlstate, str):
        return (
            sqlstate.startswith(_CONNECTION_EXCEPTION_CLASS) or sqlstate in _UNAVAILABLE_SQLSTATES
        )
    sqlite_code = getattr(driver_error, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in _SQLITE_OUTAGES
    return False
