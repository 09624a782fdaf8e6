"""filedock: a self-hosted file and data-extract service."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Read on first use, not at import: importlib.metadata costs every process (each server
    # worker, each CLI call) tens of milliseconds it rarely needs.
    if name != "__version__":
        raise AttributeError(f"module 'filedock' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        # pyproject.toml is the one place the version is written; the installed metadata says it.
        return version("filedock")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
