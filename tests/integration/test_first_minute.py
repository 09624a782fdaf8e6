"""What a person finds at a new server's address: a landing page at `/` leading to the docs,
the operations endpoints and the APIs; `/docs` and `/redoc` built from assets the server
serves itself. Unknown paths keep answering in their face's envelope."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.parametrize("server", ["sqlite-local"], indirect=True)

FACE_PREFIXES = (
    "/v1/file/",
    "/v1/files/",
    "/api/v2/s3/",
    "/api/v1/",
    "/accounts/",
    "/catalogue/",
    "/downloader/",
    "/_blobs/",
)


class Page(HTMLParser):
    """The links, the resources a browser would load, and the inline scripts' nonces."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.inline_script_nonces: list[str | None] = []
        self.style_nonces: list[str | None] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag == "link" and found.get("href"):
            self.resources.append(str(found["href"]))
        if tag in ("script", "img", "iframe") and found.get("src"):
            self.resources.append(str(found["src"]))
        if tag == "script" and not found.get("src"):
            self.inline_script_nonces.append(found.get("nonce"))
        if tag == "style":
            self.style_nonces.append(found.get("nonce"))


def get(server: LiveServer, path: str, method: str = "GET") -> httpx.Response:
    with server.client() as client:
        return client.request(method, path)


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    parts = [part.split() for part in policy.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def test_the_landing_page_links_the_docs_the_operations_and_lists_every_face(
    server: LiveServer,
) -> None:
    landing = get(server, "/")

    assert landing.status_code == 200
    assert landing.headers["content-type"] == "text/html; charset=utf-8"
    page = Page(landing.text)
    for path in ("/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics"):
        assert path in page.links, path
    # The web pages it links are served.
    for path in ("/ui/", "/ui/catalogue/"):
        assert path in page.links, path
        assert get(server, path).status_code == 200, path
    for prefix in FACE_PREFIXES:
        assert f"<code>{prefix}</code>" in landing.text, prefix
    assert "filedock apikey create --name" in landing.text
    assert "filedock account create --email" in landing.text
    # Every link stays on this server.
    assert all(link.startswith("/") and not link.startswith("//") for link in page.links)


def test_the_landing_page_loads_nothing_but_its_own_nonced_style(server: LiveServer) -> None:
    landing = get(server, "/")

    policy = directives(landing)
    assert policy["default-src"] == ["'none'"]
    assert "script-src" not in policy
    (nonce,) = Page(landing.text).style_nonces
    assert policy["style-src"] == [f"'nonce-{nonce}'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert Page(landing.text).resources == []
    assert landing.headers["x-content-type-options"] == "nosniff"
    # A fresh nonce each time.
    assert Page(get(server, "/").text).style_nonces != [nonce]


def test_head_on_the_landing_page_answers_like_get_without_a_body(server: LiveServer) -> None:
    head = get(server, "/", "HEAD")

    assert head.status_code == 200
    assert head.headers["content-type"] == "text/html; charset=utf-8"
    assert head.content == b""


def test_unknown_paths_still_answer_404_in_their_faces_envelope(server: LiveServer) -> None:
    signed = get(server, "/v1/files/a/b/c")
    assert signed.status_code == 404
    assert signed.json()["error_code"] == "attachment_document_does_not_exist"

    cosphere = get(server, "/accounts/nothing/")
    assert cosphere.status_code == 404 and cosphere.json()["@event"] == "COULD_NOT_FIND_RESOURCE"

    for path in ("/no-such-thing", "/index.html", "/_assets/docs/no-such-file.js", "/docs/x"):
        other = get(server, path)
        assert other.status_code == 404, path
        assert other.json() == {"detail": "Not Found"}, path

    posted = get(server, "/", "POST")
    assert posted.status_code == 405


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_assets_of_this_server(server: LiveServer, path: str) -> None:
    docs = get(server, path)

    assert docs.status_code == 200
    assert docs.headers["content-type"] == "text/html; charset=utf-8"
    assert not re.search(r"https?:|//[a-z]", docs.text), "the page names another host"
    page = Page(docs.text)
    assert page.resources, "the page loads its renderer"
    for resource in page.resources:
        assert resource.startswith("/_assets/docs/"), resource
    policy = directives(docs)
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"][0] == "'self'"
    # Swagger UI's one inline script runs by the nonce the policy names; no other may.
    nonces = [f"'nonce-{nonce}'" for nonce in page.inline_script_nonces]
    assert policy["script-src"][1:] == nonces


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/_assets/docs/swagger-ui-bundle.js", "javascript"),
        ("/_assets/docs/swagger-ui.css", "text/css"),
        ("/_assets/docs/redoc.standalone.js", "javascript"),
        ("/_assets/docs/favicon.png", "image/png"),
    ],
)
def test_the_docs_assets_are_served_with_their_content_types(
    server: LiveServer, path: str, content_type: str
) -> None:
    asset = get(server, path)

    assert asset.status_code == 200
    assert content_type in asset.headers["content-type"]
    assert len(asset.content) > 1000
    assert path in {*Page(get(server, "/docs").text).resources} | {
        *Page(get(server, "/redoc").text).resources
    }


def test_the_docs_and_the_landing_page_stay_out_of_the_schema(server: LiveServer) -> None:
    schema = get(server, "/openapi.json").json()

    for path in ("/", "/docs", "/redoc"):
        assert path not in schema["paths"], path
    assert not any(path.startswith("/_assets") for path in schema["paths"])
