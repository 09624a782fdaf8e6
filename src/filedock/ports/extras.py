"""filedock's optional parts (its pip extras), and what stands in for a backend whose extra is
not installed.

The base install serves files on the embedded default (SQLite, a local folder). A setting
that asks for a backend of an extra that is missing stops start-up naming the extra
(runtime.py, db/session.py); the catalogue, which every server offers, answers its profile
and extract requests with the same advice instead, so the rest of the server still runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

from filedock.ports.catalogue import DatasetProfile, DatasetUnreadable
from filedock.ports.executor import (
    ExecutorNotConfigured,
    ExportReport,
    ExtractQuery,
    SizeEstimate,
    Started,
)

# The modules each extra installs that filedock imports (pyproject.toml's extras).
EXTRA_MODULES: Final = {
    "s3": ("obstore", "botocore"),
    "postgres": ("asyncpg",),
    "catalogue": ("duckdb", "sqlglot"),
    "spark": ("pyspark", "pyarrow"),
    "athena": ("pyathena", "pyarrow"),
}


def installed(extra: str) -> bool:
    """Whether every module of `extra` can be imported; none is loaded to find out."""
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES[extra])


def install_hint(extra: str) -> str:
    return f"pip install 'filedock[{extra}]'"


def needs_extra(what: str, extra: str) -> str:
    """A sentence saying that `what` needs `extra` and how to install it."""
    return f"{what} needs the {extra} extra: {install_hint(extra)}"


class CatalogueNotInstalled:
    """Profiler and DUCKDB executor of a server without the catalogue extra (DuckDB,
    sqlglot): every call says what to install."""

    def __init__(self) -> None:
        engine = needs_extra("the catalogue's DuckDB engine", "catalogue")
        self._reason = f"this server cannot read datasets: {engine}"

    async def profile(self, location: str) -> DatasetProfile:
        raise DatasetUnreadable(self._reason)

    async def estimate(self, query: ExtractQuery) -> SizeEstimate:
        raise ExecutorNotConfigured(self._reason)

    async def export(self, query: ExtractQuery, target: Path, *, started: Started) -> ExportReport:
        raise ExecutorNotConfigured(self._reason)
