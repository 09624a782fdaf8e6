"""`/docs` and `/redoc` in a real headless Chromium that may reach nothing but the server:
every request to another host is aborted and recorded. Swagger UI and ReDoc must still draw
every operation, and nothing may have tried to leave the machine, nor broken the pages' CSP.

The run also refreshes the screenshots in docs/screenshots/ (the landing page and /docs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class OfflinePage:
    page: Any
    blocked: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture
def offline(chromium: Any, server: LiveServer) -> Iterator[OfflinePage]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = OfflinePage(page)
    own = urlsplit(server.base_url).netloc

    def only_the_server(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own:
            route.continue_()
        else:
            seen.blocked.append(url)
            route.abort()

    page.route("**/*", only_the_server)
    page.on(
        "console",
        lambda m: seen.csp_violations.append(m.text) if "Content Security" in m.text else None,
    )
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    yield seen
    context.close()


def operation_count(server: LiveServer) -> int:
    schema = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(1 for item in schema["paths"].values() for method in item if method in methods)


def test_swagger_ui_draws_every_operation_with_nothing_fetched_from_elsewhere(
    server: LiveServer, offline: OfflinePage
) -> None:
    page = offline.page
    response = page.goto(f"{server.base_url}/docs")
    assert response is not None and response.status == 200
    page.locator(".opblock").first.wait_for(timeout=20_000)

    operations = operation_count(server)
    assert operations > 30
    assert page.locator(".opblock").count() == operations
    signed_url = page.locator('.opblock-summary-path[data-path="/v1/files/signed-url"]')
    assert signed_url.count() >= 1
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("filedock")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "docs.png"))

    assert offline.blocked == []
    assert offline.csp_violations == []
    assert offline.page_errors == []


def test_redoc_draws_every_operation_with_nothing_fetched_from_elsewhere(
    server: LiveServer, offline: OfflinePage
) -> None:
    page = offline.page
    response = page.goto(f"{server.base_url}/redoc")
    assert response is not None and response.status == 200
    rendered = page.locator("[data-section-id^='operation/']")
    rendered.first.wait_for(timeout=30_000)

    assert rendered.count() == operation_count(server)
    assert page.get_by_text("/v1/files/signed-url").count() >= 1

    assert offline.blocked == []
    # ReDoc always draws Redocly's logo from its CDN (hiding it when it fails to load): the
    # page's CSP refuses it before any request is made. Nothing else may be refused.
    assert all(REDOCLY_LOGO in violation for violation in offline.csp_violations)
    assert offline.page_errors == []


def test_the_landing_page_renders_under_its_policy_and_leads_to_the_docs(
    server: LiveServer, offline: OfflinePage
) -> None:
    page = offline.page
    response = page.goto(f"{server.base_url}/")
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text() == "filedock"
    # Its nonce'd style applies (a blocked one would leave the browser's default margin).
    assert page.locator("body").evaluate("b => getComputedStyle(b).margin") == "0px"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "landing.png"), full_page=True)

    page.get_by_role("link", name="API docs").click()
    page.locator(".opblock").first.wait_for(timeout=20_000)
    assert urlsplit(page.url).path == "/docs"

    assert offline.blocked == []
    assert offline.csp_violations == []
    assert offline.page_errors == []
