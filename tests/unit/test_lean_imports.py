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


def test_the_served_app_does_not_load_xml(tmp_path: Path) -> None:
    # The blobs face escapes its XML through `html` (loaded anyway): `xml.sax` cost 0.2 MB.
    modules = loaded_after(
        "import sys\n"
        "sys.modules.setdefault('rich', None)\n"  # as filedock.server does
        "from filedock.app import asgi\n"
        "asgi()\n",
        tmp_path,
    )
    assert "filedock.faces.blobs" in modules
    assert not {name for name in modules if name == "xml" or name.startswith("xml.")}
