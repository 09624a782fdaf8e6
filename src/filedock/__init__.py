"""filedock: a self-hosted file and data-extract service."""

from importlib.metadata import PackageNotFoundError, version

try:
    # pyproject.toml is the one place the version is written; the installed metadata says it.
    __version__ = version("filedock")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
