"""The files page (`/ui/`) in a real headless Chromium, against a real server scanning with a
real clamd: SQLite with the local store, and PostgreSQL with S3 (moto), where the page sends
the bytes across origins to the bucket, allowed by `filedock s3 cors` as an operator runs it.

A person signs in with a link from `filedock ui-link`, drops or chooses files, watches them
upload and get processed, then downloads, shares and deletes them. Every test also checks
that the page broke no rule of its CSP and threw no error, and that it reached no host but
the server and the store. The run refreshes docs/screenshots/ui-files.png (on the local store).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.browser import accessibility_violations
from tests.fixtures.server import LiveServer
from tests.integration.signed_url_support import EICAR

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-s3"], indirect=True)
SERVER_SCANS = True
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT_MS = 30_000


@dataclass
class Visit:
    """One person's tab on the files page, and what the browser saw go wrong."""

    page: Any
    server: LiveServer
    user: str
    elsewhere: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def row(self, name: str) -> Any:
        return self.page.locator("#file-rows tr[data-file-id]", has_text=name)

    def transfer(self, name: str) -> Any:
        return self.page.locator(f'#transfers li[data-name="{name}"] .status')

    def choose(self, *files: Path) -> None:
        self.page.set_input_files("#file-input", [str(path) for path in files])

    def drop(self, name: str, content: bytes) -> None:
        """A file dragged from the desktop and dropped on the drop zone."""
        self.page.evaluate(
            """([name, bytes]) => {
                const transfer = new DataTransfer();
                transfer.items.add(new File([new Uint8Array(bytes)], name));
                const zone = document.getElementById("drop");
                for (const type of ["dragenter", "dragover", "drop"]) {
                    const init = {dataTransfer: transfer, bubbles: true};
                    zone.dispatchEvent(new DragEvent(type, init));
                }
            }""",
            [name, list(content)],
        )

    def wait_for_status(self, name: str, status: str) -> None:
        self.transfer(name).filter(has_text=status).wait_for(timeout=WAIT_MS)
        self.row(name).locator(f".status-{status}").wait_for(timeout=WAIT_MS)

    def file_id(self, name: str) -> str:
        value = self.row(name).get_attribute("data-file-id")
        assert value
        return str(value)

    def assert_nothing_went_wrong(self) -> None:
        assert self.csp_violations == []
        assert self.page_errors == []
        assert self.elsewhere == []


@pytest.fixture(scope="module")
def store_allows_the_page(server: LiveServer) -> None:
    # On S3 the bucket, not filedock, answers the browser's PUT: the operator's one step.
    if server.env.get("FILEDOCK_STORAGE_URL", "").startswith("s3://"):
        server.cli("s3", "cors")


@pytest.fixture
def visit(chromium: Any, server: LiveServer, store_allows_the_page: None) -> Iterator[Visit]:
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = context.new_page()
    user = f"ui-{uuid.uuid4().hex[:12]}"
    seen = Visit(page, server, user)
    allowed = {urlsplit(server.base_url).netloc}
    endpoint = server.env.get("FILEDOCK_S3_ENDPOINT_URL")
    if endpoint:
        allowed.add(urlsplit(endpoint).netloc)

    def only_server_and_store(route: Any) -> None:
        if urlsplit(route.request.url).netloc in allowed:
            route.continue_()
        else:
            seen.elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_server_and_store)
    page.on(
        "console",
        lambda m: seen.csp_violations.append(m.text) if "Content Security" in m.text else None,
    )
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    link = server.cli("ui-link", "--user", user, "--expires", "1h")
    assert link.startswith(f"{server.base_url}/ui/#token=")
    page.goto(link)
    page.locator("#who-name").filter(has_text=user).wait_for(timeout=WAIT_MS)
    yield seen
    context.close()


def test_the_link_signs_in_and_leaves_no_token_in_the_address_bar(visit: Visit) -> None:
    assert visit.page.url == f"{visit.server.base_url}/ui/"
    assert "token" not in visit.page.url
    assert visit.page.locator("#signin").is_hidden()
    visit.page.locator("#files-message").filter(has_text="No files yet.").wait_for()
    visit.assert_nothing_went_wrong()


def test_dropped_and_chosen_files_upload_to_their_signed_urls_and_become_ready(
    visit: Visit, tmp_path: Path
) -> None:
    chosen = tmp_path / "notes.txt"
    chosen.write_bytes(b"chosen with the file picker\n" * 1000)
    dropped = b"name,price\napple,3\n"

    visit.choose(chosen)
    visit.drop("prices.csv", dropped)
    visit.wait_for_status("notes.txt", "ready")
    visit.wait_for_status("prices.csv", "ready")

    assert visit.page.locator("#transfers progress").evaluate_all(
        "bars => bars.map(bar => bar.value)"
    ) == [100, 100]
    # The same person, the same files, through the hasura face with a token of the same user.
    with visit.server.client(headers=visit.server.auth(visit.user)) as api:
        for name, content in (("notes.txt", chosen.read_bytes()), ("prices.csv", dropped)):
            response = api.get(f"/v1/file/{visit.file_id(name)}")
            assert response.status_code == 200 and response.content == content
    visit.assert_nothing_went_wrong()


def test_download_saves_the_same_bytes(visit: Visit, tmp_path: Path) -> None:
    content = bytes(range(256)) * 4096  # 1 MiB that no text conversion would keep
    original = tmp_path / "table.bin"
    original.write_bytes(content)
    visit.choose(original)
    visit.wait_for_status("table.bin", "ready")

    with visit.page.expect_download(timeout=WAIT_MS) as started:
        visit.row("table.bin").get_by_role("button", name="Download table.bin").click()
    saved = Path(started.value.path())
    assert started.value.suggested_filename == "table.bin"
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(content).digest()
    visit.assert_nothing_went_wrong()


def test_a_share_link_downloads_the_file_without_signing_in(visit: Visit) -> None:
    visit.drop("shared.txt", b"for a colleague\n")
    visit.wait_for_status("shared.txt", "ready")
    visit.page.select_option("#share-lifetime", "3600")

    visit.row("shared.txt").get_by_role("button", name="Share shared.txt").click()
    link = visit.page.get_by_label("Share link for shared.txt")
    link.wait_for(timeout=WAIT_MS)
    url = link.input_value()
    assert "expires_in" not in url  # a signed URL, not an API call
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200 and response.content == b"for a colleague\n"
    visit.assert_nothing_went_wrong()


def test_the_eicar_string_is_refused_as_infected_and_offers_no_download(
    visit: Visit, server: LiveServer
) -> None:
    visit.drop("report.csv", b"quarter,revenue\nQ1,10\n")
    visit.drop("eicar.txt", EICAR)
    visit.wait_for_status("report.csv", "ready")
    visit.wait_for_status("eicar.txt", "infected")

    row = visit.row("eicar.txt")
    assert row.get_by_role("button", name="Download eicar.txt").count() == 0
    assert row.get_by_role("button", name="Share eicar.txt").count() == 0
    assert "infected" in visit.transfer("eicar.txt").inner_text()
    with visit.server.client(headers=visit.server.auth(visit.user)) as api:
        assert api.get(f"/v1/file/{visit.file_id('eicar.txt')}").status_code in (403, 409, 422)
    visit.assert_nothing_went_wrong()
    if not server.env.get("FILEDOCK_STORAGE_URL", "").startswith("s3://"):
        # docs/quickstart.md shows the page with a file ready and shared, and one refused.
        visit.row("report.csv").get_by_role("button", name="Share report.csv").click()
        visit.page.get_by_label("Share link for report.csv").wait_for()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SCREENSHOTS / "ui-files.png"), full_page=True)


def test_the_page_breaks_no_accessibility_rule_in_any_state(visit: Visit) -> None:
    page = visit.page
    assert accessibility_violations(page) == []  # signed in, nothing uploaded yet
    visit.drop("report.csv", b"quarter,revenue\nQ1,10\n")
    visit.drop("eicar.txt", EICAR)
    visit.wait_for_status("report.csv", "ready")
    visit.wait_for_status("eicar.txt", "infected")
    visit.row("report.csv").get_by_role("button", name="Share report.csv").click()
    page.get_by_label("Share link for report.csv").wait_for()
    assert accessibility_violations(page) == []
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Token").wait_for()
    assert accessibility_violations(page) == []


def test_delete_removes_the_file_from_the_list_and_the_server(visit: Visit) -> None:
    visit.drop("old.txt", b"no longer needed\n")
    visit.wait_for_status("old.txt", "ready")
    file_id = visit.file_id("old.txt")

    visit.row("old.txt").get_by_role("button", name="Delete old.txt").click()
    visit.page.locator("#files-message").filter(has_text="old.txt was deleted.").wait_for()
    assert visit.row("old.txt").count() == 0
    with visit.server.client(headers=visit.server.auth(visit.user)) as api:
        assert api.get(f"/v1/file/{file_id}").status_code == 404
    visit.assert_nothing_went_wrong()


def test_the_file_picker_opens_from_the_keyboard(visit: Visit) -> None:
    page = visit.page
    # Subscribed before any key: Playwright turns Chromium's file-chooser interception on
    # fire-and-forget when the first "filechooser" listener is added, so a chooser opened by a
    # Space pressed right after `expect_file_chooser` can beat it and never be reported (15 of 60
    # tries on a bare page here; 0 of 60 subscribed first). This test failed that way in CI.
    page.on("filechooser", lambda _chooser: None)
    page.locator("#files-message").filter(has_text="No files yet.").wait_for(timeout=WAIT_MS)
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file-input":
            break
    assert page.evaluate("document.activeElement.id") == "file-input"
    with page.expect_file_chooser(timeout=5_000) as chooser:
        page.keyboard.press("Space")
    assert chooser.value.is_multiple()
    visit.assert_nothing_went_wrong()


def test_a_token_this_server_did_not_sign_shows_the_sign_in_form(
    chromium: Any, server: LiveServer
) -> None:
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.base_url}/ui/#token=eyJhbGciOiJIUzI1NiJ9.e30.forged")

    message = page.locator("#signin-error")
    message.filter(has_text="not valid here").wait_for(timeout=WAIT_MS)
    assert page.locator("#upload").is_hidden() and page.locator("#files").is_hidden()
    # A pasted good token signs in from the form.
    page.get_by_label("Token").fill(server.token("pasted-user"))
    page.get_by_role("button", name="Sign in").click()
    page.locator("#who-name").filter(has_text="pasted-user").wait_for(timeout=WAIT_MS)
    assert errors == []
    context.close()


def test_an_upload_the_store_never_answers_says_so_and_leaves_the_file_pending(
    visit: Visit,
) -> None:
    # The browser cannot reach the store (a network fault, or a bucket without the CORS rule
    # of `filedock s3 cors`): the page reads no answer at all.
    visit.page.route(lambda url: "/ui_uploads/" in url, lambda route: route.abort())
    visit.drop("lost.txt", b"never arrives\n")

    visit.transfer("lost.txt").filter(has_text="did not take the upload").wait_for(
        timeout=WAIT_MS
    )
    visit.page.get_by_role("button", name="Refresh").click()
    visit.row("lost.txt").locator(".status-pending").wait_for(timeout=WAIT_MS)
    assert visit.row("lost.txt").get_by_role("button", name="Download lost.txt").count() == 0
    assert visit.page_errors == [] and visit.csp_violations == []
