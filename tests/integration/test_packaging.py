"""What the installed distribution says about itself: one version everywhere, a licence,
shell completion, and a command line that starts on a machine without libmagic."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import httpx
import pytest

import filedock
from tests.fixtures.server import LiveServer
from tests.integration.hidden_modules import env_without, run_filedock, run_python

REPOSITORY = Path(__file__).resolve().parents[2]


def installed_version() -> str:
    return importlib.metadata.version("filedock")


def test_the_package_version_is_the_distributions() -> None:
    assert filedock.__version__ == installed_version()


def test_version_option_prints_the_installed_version_and_exits_0(tmp_path: Path) -> None:
    result = run_filedock(env_without(tmp_path / "site"), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"filedock {installed_version()}\n"


@pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)
def test_openapi_document_carries_the_installed_version(server: LiveServer) -> None:
    document = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    assert document["info"]["version"] == installed_version()


def test_the_version_is_written_only_in_pyproject() -> None:
    for name in ("app.py", "cli.py", "__init__.py"):
        source = REPOSITORY / "src" / "filedock" / name
        assert f'"{installed_version()}"' not in source.read_text(), source


def test_the_distribution_declares_apache_2_and_ships_the_licence_texts() -> None:
    metadata = importlib.metadata.metadata("filedock")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert set(metadata.get_all("License-File") or []) == {"LICENSE", "THIRD_PARTY_NOTICES.md"}
    licence = (REPOSITORY / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence


def test_third_party_notices_name_the_docs_bundles_fastapi_offline_installs() -> None:
    # /docs and /redoc serve these files from fastapi-offline's wheel, which carries its own
    # MIT licence but not Swagger UI's or ReDoc's.
    spec = importlib.util.find_spec("fastapi_offline")
    assert spec is not None and spec.origin is not None
    static = Path(spec.origin).parent / "static"
    notices = (REPOSITORY / "THIRD_PARTY_NOTICES.md").read_text()
    for bundle in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert (static / bundle).is_file(), bundle
        assert bundle in notices, bundle
    assert "Apache License 2.0" in notices and "MIT" in notices


def test_bash_completion_completes_command_names(tmp_path: Path) -> None:
    env = env_without(
        tmp_path / "site",
        _FILEDOCK_COMPLETE="complete_bash",
        COMP_WORDS="filedock mig",
        COMP_CWORD="1",
    )
    result = run_filedock(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["migrate"]


def test_help_works_where_libmagic_cannot_be_loaded(tmp_path: Path) -> None:
    result = run_filedock(env_without(tmp_path / "site", "magic"), "--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "upload" in result.stdout


def test_serve_without_libmagic_stops_in_one_line_before_listening(tmp_path: Path) -> None:
    env = env_without(tmp_path / "site", "magic")
    result = run_filedock(env, "serve", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("filedock: content sniffing needs the libmagic library"), line
    assert "libmagic1" in line and "Traceback" not in result.stderr


def test_sniffing_without_libmagic_names_the_missing_system_package(tmp_path: Path) -> None:
    result = run_python(
        env_without(tmp_path / "site", "magic"),
        "from filedock.core.sniffing import detect_type\ndetect_type(b'%PDF-1.7', None)\n",
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("filedock.core.sniffing.LibmagicMissing: "), last
    assert "libmagic1" in last and "Debian" in last, last
