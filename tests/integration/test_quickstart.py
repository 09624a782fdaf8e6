"""docs/quickstart.md, run as written: its shell blocks, in order, in one bash, in a fresh
folder, as a newcomer pastes them into a terminal, against a real `filedock serve`.

Two lines are not pasted: `bash scripts/serve` (the test starts the same server itself, in
that folder, with the settings the block gives it) and `source .venv/bin/activate` (the
test's own venv is first on PATH). The address is the test server's instead of port 8000
(in the blocks, and as FILEDOCK_PUBLIC_URL, which `ui-link` prints links to). Then the
links the browser sections print are opened in a real headless Chromium as the sections
describe (tests/integration/test_ui_*_browser.py try every button in depth).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.server import LiveServer, server_env

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
NOT_PASTED = ("bash scripts/serve", "source .venv/bin/activate")


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", QUICKSTART.read_text(), flags=re.S)


def pasted(block: str, base_url: str) -> str:
    lines = [line for line in block.splitlines() if not any(n in line for n in NOT_PASTED)]
    return "\n".join(lines).replace("http://127.0.0.1:8000", base_url) + "\n"


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    folder = tmp_path_factory.mktemp("quickstart")
    blocks = shell_blocks()
    assert "bash scripts/serve" in blocks[0]
    first = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", pasted(blocks[0], "")], cwd=folder, check=False
    )
    assert first.returncode == 0
    # As `scripts/serve` in that folder: ./data, its own secret file, the block's settings.
    env = server_env(folder / "data", catalogue_data_roots=str(folder / "data" / "datasets"))
    del env["FILEDOCK_JWT_SECRET"]
    server = LiveServer(data_dir=folder / "data", env=env)
    server.start()
    yield server, folder
    server.stop()


@pytest.fixture(scope="module")
def terminal(newcomer: tuple[LiveServer, Path]) -> subprocess.CompletedProcess[str]:
    """Every block after the first, pasted into one shell in the folder."""
    server, folder = newcomer
    script = "".join(pasted(block, server.base_url) for block in shell_blocks()[1:])
    shell = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    shell["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{shell['PATH']}"
    # What `ui-link` prints links to; the newcomer's default, port 8000, is the server's.
    shell["FILEDOCK_PUBLIC_URL"] = server.base_url
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=shell,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_the_terminal_steps_upload_share_download_and_extract(
    newcomer: tuple[LiveServer, Path], terminal: subprocess.CompletedProcess[str]
) -> None:
    server, folder = newcomer
    assert terminal.returncode == 0, terminal.stderr[-3000:]
    assert "Traceback" not in terminal.stderr
    out = terminal.stdout
    assert re.search(r"^[0-9a-f-]{36}  ready  report\.csv$", out, flags=re.M)
    assert "same bytes" in out
    assert (folder / "expensive.csv").read_text().splitlines() == [
        "product,price",
        "apple,80",
        "cake,92",
        "dates,78",
    ]
    assert [link.split("#")[0] for link in printed_links(terminal)] == [
        f"{server.base_url}/ui/",
        f"{server.base_url}/ui/catalogue/",
    ]


def printed_links(terminal: subprocess.CompletedProcess[str]) -> list[str]:
    return re.findall(r"^(http://\S+/ui/\S*#token=\S+)$", terminal.stdout, flags=re.M)


def test_the_printed_links_open_the_pages_signed_in(
    terminal: subprocess.CompletedProcess[str], chromium: Any
) -> None:
    files_link, catalogue_link = printed_links(terminal)
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(files_link)
    page.locator("#who-name").filter(has_text="ann").wait_for(timeout=30_000)
    page.goto(catalogue_link)
    page.get_by_text("you@example.org").first.wait_for(timeout=30_000)
    page.get_by_label("Name contains").fill("shop")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Choose").first.wait_for(timeout=30_000)
    assert errors == []
    context.close()
