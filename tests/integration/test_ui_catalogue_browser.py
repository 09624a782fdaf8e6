"""`/ui/catalogue/` in a real headless Chromium that may reach nothing but the server: a
researcher signs in (a `filedock ui-link` link, a pasted token, or the auth request), finds
a catalogue item, builds a request, sees its estimate, follows it and downloads the result.

Every request to another host is aborted and recorded, and every test checks that the page
broke no rule of its CSP and threw no error.

Only "sqlite-local": a browser test is slow, and the page only talks to the cosphere API,
whose behaviour on PostgreSQL and S3 the API tests cover (test_cosphere_downloader,
test_cli_files); with S3 the result's signed link would also lead to the store's host, which
the offline browser here refuses by design.

The run also refreshes docs/screenshots/ui-catalogue.png (a finished request).
"""

from __future__ import annotations

import csv
import io
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fixtures.browser import accessibility_violations
from tests.fixtures.oidc import OidcProvider
from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)

PROVIDER = OidcProvider.create()
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ROWS = 300
PRODUCTS = ["apple", "bread", "cake", "dates"]
# Long enough for a DuckDB extract on a loaded CI machine; the page polls every few seconds.
EXTRACT_TIMEOUT_MS = 60_000


def shop_rows() -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {"id": i, "product": rng.choice(PRODUCTS), "price": rng.randint(0, 100)}
        for i in range(ROWS)
    ]


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    datasets = data_dir / "datasets"
    datasets.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(shop_rows()), datasets / "shop.parquet")
    # An OpenID Connect client: the page then offers the auth request's sign-in too.
    return {"catalogue_data_roots": str(datasets), **PROVIDER.settings_in(data_dir)}


@dataclass
class OfflinePage:
    page: Any
    context: Any
    blocked: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.blocked == []
        assert self.csp_violations == []
        assert self.page_errors == []


@pytest.fixture
def offline(chromium: Any, server: LiveServer) -> Iterator[OfflinePage]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    seen = OfflinePage(page, context)
    own = urlsplit(server.base_url).netloc

    def only_the_server(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own:
            route.continue_()
        else:
            seen.blocked.append(url)
            route.abort()

    # On the context, so pages the page opens (the auth request's sign-in) are held too.
    context.route("**/*", only_the_server)
    page.on(
        "console",
        lambda m: seen.csp_violations.append(m.text) if "Content Security" in m.text else None,
    )
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    yield seen
    context.close()


@pytest.fixture(scope="module")
def admin_token(server: LiveServer) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
    server.cli("account", "create", "--email", email, "--type", "ADMIN")
    return server.cli("account", "token", "--email", email)


def create_item(server: LiveServer, admin_token: str, dataset: str) -> str:
    """A DUCKDB item of the shop's columns reading `dataset` (under datasets/); its name."""
    name = f"shop {uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "executor_type": "DUCKDB",
        "spec": [
            {"name": column, "type": kind, "is_nullable": False, "size": None, "distribution": None}
            for column, kind in (("id", "INTEGER"), ("product", "STRING"), ("price", "INTEGER"))
        ],
        "sample": [],
        "location": str(server.data_dir / "datasets" / dataset),
    }
    with server.client() as client:
        created = client.post(
            "/catalogue/items/", json=body, headers={"Authorization": f"Bearer {admin_token}"}
        )
    assert created.status_code == 201, created.text
    return name


@pytest.fixture(scope="module")
def item_name(server: LiveServer, admin_token: str) -> str:
    return create_item(server, admin_token, "shop.parquet")


@pytest.fixture
def researcher(server: LiveServer) -> str:
    email = f"researcher-{uuid.uuid4().hex[:8]}@example.org"
    server.cli("account", "create", "--email", email)
    return email


def sign_in_by_link(server: LiveServer, offline: OfflinePage, email: str) -> None:
    link = server.cli("ui-link", "--email", email)
    assert link.startswith(f"{server.base_url}/ui/catalogue/#token="), link
    response = offline.page.goto(link)
    assert response is not None and response.status == 200
    offline.page.locator("#who").wait_for(state="visible", timeout=10_000)
    assert email in offline.page.locator("#who-name").inner_text()


def choose(page: Any, item_name: str) -> None:
    page.get_by_label("Name contains").fill(item_name)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("button", name=f"Choose {item_name}").click()
    page.locator("#request").wait_for(state="visible", timeout=10_000)
    assert page.locator("#item-name").inner_text() == item_name


def add_filter(page: Any, column: str, operator: str, value: str) -> None:
    page.get_by_role("button", name="Add filter").click()
    row = page.locator("#filters .filter").last
    row.get_by_label("Column").select_option(column)
    row.get_by_label("Operator").select_option(operator)
    row.get_by_label("Value").fill(value)


def test_an_extract_requested_in_the_catalogue_page_downloads_the_filtered_rows(
    server: LiveServer, offline: OfflinePage, item_name: str, researcher: str
) -> None:
    page = offline.page
    sign_in_by_link(server, offline, researcher)
    # The token left the address bar (and so the history) as soon as the page read it.
    assert "#token" not in page.url and "token=" not in page.url
    assert urlsplit(page.url).path == "/ui/catalogue/"

    choose(page, item_name)
    columns = page.locator("#columns input[type=checkbox]")
    assert columns.count() == 3
    assert all(columns.nth(i).is_checked() for i in range(3))
    page.locator("#columns").get_by_label("product").uncheck()
    add_filter(page, "price", ">=", "78")
    operators = page.locator("#filters .filter").last.get_by_label("Operator")
    assert ">=" in operators.locator("option").all_inner_texts()
    page.get_by_label("Sample ratio").fill("1")

    page.get_by_role("button", name="Estimate").click()
    estimate = page.locator("#estimate-result")
    estimate.filter(has_text=re.compile(r"Estimated size: [\d.]+ (B|KiB|MiB)")).wait_for(
        timeout=20_000
    )

    page.get_by_role("button", name="Request extract").click()
    download = page.get_by_role("link", name="Download result")
    download.wait_for(state="visible", timeout=EXTRACT_TIMEOUT_MS)
    assert page.locator("#run-status").inner_text() == "done"
    assert re.fullmatch(r"Size: [\d.]+ (B|KiB)\.", page.locator("#run-detail").inner_text())
    assert page.locator("#cancel").is_hidden()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ui-catalogue.png"), full_page=True)

    with page.expect_download() as downloading:
        download.click()
    saved = downloading.value
    assert saved.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(saved.path()).read_text())))
    want = [
        {"id": str(row["id"]), "price": str(row["price"])}
        for row in shop_rows()
        if row["price"] >= 78
    ]
    assert want and sorted(rows, key=lambda r: int(r["id"])) == want
    offline.assert_clean()


def test_the_page_breaks_no_accessibility_rule_in_any_state(
    server: LiveServer, offline: OfflinePage, item_name: str, researcher: str
) -> None:
    page = offline.page
    page.goto(f"{server.base_url}/ui/catalogue/")
    page.get_by_label("Account token").wait_for()
    assert accessibility_violations(page) == []  # signed out
    page.goto("about:blank")  # the link then loads the page anew, not as a fragment change
    sign_in_by_link(server, offline, researcher)
    assert accessibility_violations(page) == []  # signed in, nothing searched
    choose(page, item_name)
    add_filter(page, "price", "<", "cheap")
    page.get_by_role("button", name="Estimate").click()
    page.locator("[aria-invalid=true]").first.wait_for(timeout=20_000)
    assert accessibility_violations(page) == []  # the form, showing the server's complaint
    page.locator("#filters .filter").last.get_by_label("Value").fill("78")
    page.get_by_role("button", name="Request extract").click()
    page.get_by_role("link", name="Download result").wait_for(timeout=EXTRACT_TIMEOUT_MS)
    assert accessibility_violations(page) == []  # the finished request
    offline.assert_clean()


def test_a_refused_token_shows_the_sign_in_form_which_takes_a_good_one(
    server: LiveServer, offline: OfflinePage, researcher: str
) -> None:
    page = offline.page
    response = page.goto(f"{server.base_url}/ui/catalogue/#token=not-a-real-token")
    assert response is not None and response.status == 200
    error = page.locator("#signin-error")
    error.filter(has_text="refused").wait_for(timeout=10_000)
    assert "expired" in error.inner_text()
    assert "#token" not in page.url
    assert page.locator("#search").is_hidden() and page.locator("#who").is_hidden()
    # The refused token is forgotten: a reload asks to sign in, without an error.
    page.reload()
    page.locator("#signin").wait_for(state="visible", timeout=10_000)
    assert page.locator("#signin-error").inner_text() == ""

    page.get_by_label("Account token").fill(server.cli("account", "token", "--email", researcher))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.locator("#search").wait_for(state="visible", timeout=10_000)
    assert researcher in page.locator("#who-name").inner_text()
    assert page.locator("#signin").is_hidden()
    offline.assert_clean()


def test_a_bad_filter_value_shows_the_servers_validation_message(
    server: LiveServer, offline: OfflinePage, item_name: str, researcher: str
) -> None:
    page = offline.page
    sign_in_by_link(server, offline, researcher)
    choose(page, item_name)
    add_filter(page, "price", "<", "cheap")
    errors = page.locator("#form-errors")

    page.get_by_role("button", name="Estimate").click()
    errors.filter(has_text="A valid integer is required.").wait_for(timeout=10_000)
    assert errors.inner_text().strip() == "Filter 1 value: A valid integer is required."
    value = page.locator("#filters .filter").last.get_by_label("Value")
    assert value.get_attribute("aria-invalid") == "true"
    assert page.locator("#estimate-result").inner_text() == ""

    page.get_by_label("Sample ratio").fill("2")
    page.get_by_role("button", name="Request extract").click()
    errors.filter(has_text="Sample ratio").wait_for(timeout=10_000)
    assert "Ensure this value is less than or equal to 1." in errors.inner_text()
    assert page.locator("#run").is_hidden()
    offline.assert_clean()


def test_a_failed_extract_shows_its_failure(
    server: LiveServer, offline: OfflinePage, admin_token: str, researcher: str
) -> None:
    page = offline.page
    # The item's dataset is not there: the request is accepted, and its job fails.
    missing = create_item(server, admin_token, "gone.parquet")
    sign_in_by_link(server, offline, researcher)
    choose(page, missing)
    page.get_by_role("button", name="Request extract").click()
    failure = page.locator("#run-failure")
    failure.wait_for(state="visible", timeout=EXTRACT_TIMEOUT_MS)
    assert page.locator("#run-status").inner_text() == "failed"
    assert "gone.parquet" in failure.inner_text()
    assert page.get_by_role("link", name="Download result").is_hidden()
    assert page.locator("#cancel").is_hidden()
    offline.assert_clean()


def test_signing_in_with_an_account_through_the_auth_request(
    server: LiveServer, offline: OfflinePage
) -> None:
    page = offline.page
    response = page.goto(f"{server.base_url}/ui/catalogue/")
    assert response is not None and response.status == 200
    button = page.get_by_role("button", name="Sign in with your account")
    button.wait_for(state="visible", timeout=10_000)

    with offline.context.expect_page() as opening:
        button.click()
    signin = opening.value
    signin.wait_for_url(re.compile(r"/accounts/auth_requests/[0-9a-f-]+/authenticate/ui/$"))
    signin.locator("#authenticate").wait_for(state="visible", timeout=10_000)
    # Google's script is blocked (offline): call the page's success handler as its callback
    # would, with an ID token of the tests' own provider.
    email = f"jacky-{uuid.uuid4().hex[:6]}@somewhere.org"
    signin.evaluate("token => window.filedockSignedIn(token)", PROVIDER.id_token(email))
    signin.locator("#done").wait_for(state="visible", timeout=10_000)

    # The catalogue page polls every 2 seconds and signs in by itself.
    page.locator("#search").wait_for(state="visible", timeout=15_000)
    assert email in page.locator("#who-name").inner_text()
    assert page.locator("#signin").is_hidden()
    # Only the sign-in page's Google script tried to leave the machine.
    assert all(urlsplit(url).netloc.endswith("google.com") for url in offline.blocked)
    offline.blocked.clear()
    offline.assert_clean()
