"""What a process loads only when it needs it (issue 14, a leaner worker): each check runs in
a fresh interpreter, so nothing another test imported can hide a module loaded too early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def loaded_after(code: str, tmp_path: Path) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"FILEDOCK_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stdout.split())


def test_building_the_extract_engines_loads_neither_duckdb_nor_sqlglot(tmp_path: Path) -> None:
    modules = loaded_after(
        "from filedock.config import load_settings\n"
        "from filedock.runtime import extract_executors, open_object_store\n"
        "settings = load_settings()\n"
        "extract_executors(settings, open_object_store(settings))\n",
        tmp_path,
    )
    assert "filedock.runtime" in modules
    assert not {"duckdb", "sqlglot", "pyarrow"} & modules


def test_importing_filedock_does_not_read_package_metadata(tmp_path: Path) -> None:
    modules = loaded_after("import filedock", tmp_path)
    assert "filedock" in modules and "importlib.metadata" not in modules
