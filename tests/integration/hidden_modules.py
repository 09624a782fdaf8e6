"""Subprocesses that run as on a machine where some installed packages are missing.

The suite's .venv has every extra installed; what a smaller install does is shown by hiding
modules from a child process. A `sitecustomize` module on PYTHONPATH runs when the
interpreter starts, before any other import; it puts `None` in `sys.modules` under each
hidden name, which is CPython's own mark for "this module cannot be imported": `import
obstore` then raises ModuleNotFoundError and `importlib.util.find_spec("obstore")` answers
None, exactly as when the package is not installed. Everything else is the real thing:
the installed filedock and its other dependencies. The names travel in the environment, so
every process the child starts (`serve` re-executes itself, Granian starts workers) runs
without them too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Not FILEDOCK_*: the settings refuse variables they do not know.
HIDDEN_VARIABLE = "TEST_HIDDEN_MODULES"

SITECUSTOMIZE = f"""\
import os
import sys

for _name in os.environ.get({HIDDEN_VARIABLE!r}, "").split(","):
    if _name:
        sys.modules[_name] = None
"""

# What each extra installs (pyproject.toml), by import name; what the base install lacks.
S3 = ("obstore", "botocore", "boto3")
POSTGRES = ("asyncpg",)
CATALOGUE = ("duckdb", "sqlglot")
ENGINES = ("pyarrow", "pyspark", "pyathena", "pandas")
EVERY_EXTRA = (*S3, *POSTGRES, *CATALOGUE, *ENGINES)


def env_without(folder: Path, *modules: str, **variables: str) -> dict[str, str]:
    """The environment of a child process in which `modules` cannot be imported.

    `folder` receives the `sitecustomize.py`; FILEDOCK_* variables of this process are left
    out, `variables` added.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    path = [str(folder), *filter(None, [env.get("PYTHONPATH")])]
    env.update(PYTHONPATH=os.pathsep.join(path), **{HIDDEN_VARIABLE: ",".join(modules)})
    env.update(variables)
    return env


def run_filedock(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`filedock ARGS` through the installed entry point."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "filedock"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_python(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
