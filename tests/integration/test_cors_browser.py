"""A web app on another origin calls filedock from a real headless Chromium, as its users'
browsers would: CORS decides, in the browser, what the page's `fetch` may do.

The app is a tiny HTTP server of the test on another loopback port (two of them: one origin
FILEDOCK_CORS_ORIGINS lists, one it does not). Its page asks the app's own back-end for a
seed 001 upload URL (the back-end holds the API key; the page never sees it), then PUTs the
file straight to filedock's `file_url`, as an ordinary browser upload. A second page script
downloads a file from the hasura face with an `Authorization` header, which needs a preflight.
The hosts are `localhost` and filedock is `127.0.0.1`: another site, not only another origin.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures.server import LiveServer, free_port
from tests.integration.signed_url_support import PDF, Backend

APP_PORT, STRANGER_PORT = free_port(), free_port()
APP_ORIGIN = f"http://localhost:{APP_PORT}"
STRANGER_ORIGIN = f"http://localhost:{STRANGER_PORT}"
SERVER_SETTINGS = {"cors_origins": APP_ORIGIN}
pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>an app</title><script>
// Upload: a URL from our own back-end, then the bytes straight to filedock.
window.uploadThroughTicket = async (filename, text) => {
  let ticket = null;
  try {
    const asked = await fetch("/ticket?filename=" + encodeURIComponent(filename));
    ticket = await asked.json();
    const put = await fetch(ticket.file_url, {
      method: ticket.upload_method, headers: ticket.upload_headers, body: new Blob([text]),
    });
    return {fileId: ticket.file_id, status: put.status};
  } catch (error) {
    return {fileId: ticket && ticket.file_id, error: error.name + ": " + error.message};
  }
};
// Download from the hasura face with the user's Bearer token.
window.readFile = async (url, token) => {
  try {
    const got = await fetch(url, {headers: {Authorization: "Bearer " + token}});
    return {status: got.status, etag: got.headers.get("ETag"), body: await got.text()};
  } catch (error) {
    return {error: error.name + ": " + error.message};
  }
};
</script></head><body>an app on another origin</body></html>
"""


class WebApp(BaseHTTPRequestHandler):
    """The app: its page, and its back-end's one endpoint that asks filedock for a URL."""

    backend: ClassVar[Backend | None] = None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/app.html":
            self._send(200, "text/html; charset=utf-8", PAGE)
        elif url.path == "/ticket" and self.backend is not None:
            filename = parse_qs(url.query)["filename"][0]
            ticket = self.backend.upload_url(filename)
            self._send(200, "application/json", json.dumps(ticket).encode())
        else:
            self._send(404, "text/plain", b"not here")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def web_apps(server: LiveServer) -> Iterator[None]:
    """The app on both ports, its back-end holding an API key of the module's server."""
    WebApp.backend = Backend(server, server.create_api_key(f"web-app-{uuid.uuid4().hex[:8]}"))
    servers = [
        ThreadingHTTPServer(("127.0.0.1", port), WebApp) for port in (APP_PORT, STRANGER_PORT)
    ]
    threads = [threading.Thread(target=http.serve_forever, daemon=True) for http in servers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for http in servers:
            http.shutdown()
            http.server_close()
        WebApp.backend = None


@pytest.fixture
def open_page(chromium: Any, web_apps: None) -> Iterator[Any]:
    """Opens the app's page from an origin: `open_page(origin)`."""
    context = chromium.new_context()

    def open_at(origin: str) -> Any:
        page = context.new_page()
        response = page.goto(f"{origin}/app.html")
        assert response is not None and response.status == 200
        return page

    yield open_at
    context.close()


def test_a_page_on_a_listed_origin_uploads_straight_to_its_signed_url(
    server: LiveServer, open_page: Any
) -> None:
    page = open_page(APP_ORIGIN)
    result = page.evaluate("text => window.uploadThroughTicket('report.pdf', text)", PDF.decode())
    assert result.get("error") is None and result["status"] == 200, result
    assert WebApp.backend is not None
    settled = WebApp.backend.wait_settled(result["fileId"])
    assert settled["status"] == "ready", settled


def test_a_page_on_an_unlisted_origin_is_refused_by_the_browser(
    server: LiveServer, open_page: Any
) -> None:
    page = open_page(STRANGER_ORIGIN)
    result = page.evaluate("text => window.uploadThroughTicket('report.pdf', text)", PDF.decode())
    # The preflight was refused, so the browser never sent the PUT: nothing arrived.
    assert result["error"].startswith("TypeError"), result
    assert WebApp.backend is not None
    status = WebApp.backend.get(f"/v1/files/{result['fileId']}/status")
    assert status.json()["status"] == "pending", status.text


def ready_hasura_file(server: LiveServer, user: str) -> str:
    file_id = str(uuid.uuid4())
    with server.client() as client:
        posted = client.post(
            f"/v1/file/{file_id}",
            content=PDF,
            headers={**server.auth(user), "Content-Type": "application/pdf"},
        )
        assert posted.status_code == 200, posted.text
        deadline = time.monotonic() + 20
        while client.get(f"/v1/file/{file_id}", headers=server.auth(user)).status_code == 409:
            assert time.monotonic() < deadline, "the file never became ready"
            time.sleep(0.05)
    return f"{server.base_url}/v1/file/{file_id}"


def test_a_page_on_a_listed_origin_reads_a_file_with_a_bearer_token(
    server: LiveServer, open_page: Any
) -> None:
    url = ready_hasura_file(server, "42")
    page = open_page(APP_ORIGIN)
    result = page.evaluate(
        "([url, token]) => window.readFile(url, token)", [url, server.token("42")]
    )
    assert result.get("error") is None and result["status"] == 200, result
    assert result["body"] == PDF.decode()
    # Exposed to the page's script, as a resumable download needs it.
    assert result["etag"], result


def test_a_page_on_an_unlisted_origin_cannot_send_the_token(
    server: LiveServer, open_page: Any
) -> None:
    url = ready_hasura_file(server, "42")
    page = open_page(STRANGER_ORIGIN)
    result = page.evaluate(
        "([url, token]) => window.readFile(url, token)", [url, server.token("42")]
    )
    assert result["error"].startswith("TypeError"), result


def test_the_page_can_read_an_error_answer_from_a_listed_origin(
    server: LiveServer, open_page: Any
) -> None:
    page = open_page(APP_ORIGIN)
    missing = f"{server.base_url}/v1/file/{uuid.uuid4()}"
    result = page.evaluate(
        "([url, token]) => window.readFile(url, token)", [missing, server.token("42")]
    )
    assert result.get("error") is None and result["status"] == 404, result
    assert "error" in json.loads(result["body"])
