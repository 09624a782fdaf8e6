"""Database failures become the metadata port's own error, so no SQLAlchemy error escapes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from filedock.ports.metadata import MetadataUnavailable


@contextmanager
def unavailable_on_connection_errors() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError, ConnectionError, OSError) as exc:
        raise MetadataUnavailable("the database is unavailable") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise MetadataUnavailable("the database is unavailable") from exc
        raise
