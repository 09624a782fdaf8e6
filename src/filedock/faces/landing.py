"""The landing page at `/`: what a person who opens filedock's address finds there.

Links to the web pages (files, catalogue), the API docs, the schema and the operations
endpoints, and the APIs (faces) filedock speaks with their path prefixes. A static page under
the same strict headers as the sign-in page: nothing loads but its own nonce'd style.
"""

from __future__ import annotations

import html
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from filedock.faces.api_docs import REDOC_PATH, SWAGGER_UI_PATH
from filedock.faces.cosphere.envelope import page_headers
from filedock.ports.presign import BLOBS_PATH

UI_PATH = "/ui/"

# (name, path prefixes, what it is for); the prefixes are those faces/unrouted.py knows.
FACES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Hasura-style file API", ("/v1/file/",), "upload, download and delete with a Bearer token"),
    (
        "signed-url API",
        ("/v1/files/",),
        "signed upload and download URLs for trusted back-ends (api-key and user-id headers)",
    ),
    ("s3-command API", ("/api/v2/s3/",), "browser form uploads through signed POST policies"),
    ("schedules API", ("/api/v1/",), "documents of a schedule (Cognito access and ID tokens)"),
    (
        "cosphere API",
        ("/accounts/", "/catalogue/", "/downloader/"),
        "accounts and sign-in, the data catalogue, extracts of its datasets",
    ),
    ("signed blobs", (BLOBS_PATH,), "where the local store's signed URLs point"),
)

# (path, what it answers)
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/healthz", "the process is alive"),
    ("/readyz", "the database and the object store answer"),
    ("/metrics", "Prometheus metrics (with FILEDOCK_METRICS_TOKEN, or FILEDOCK_METRICS_PUBLIC)"),
)

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
async def landing(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    nonce = secrets.token_urlsafe(18)
    page = _PAGE.format(
        nonce=nonce,
        title=html.escape(request.app.title),
        start=_start_links(root, request.app.openapi_url),
        faces="\n".join(_face_row(root, *face) for face in FACES),
        operations="\n".join(
            f'<li><a href="{root}{path}"><code>{path}</code></a> {html.escape(what)}</li>'
            for path, what in OPERATIONS
        ),
    )
    return HTMLResponse(page, headers=page_headers(f"style-src 'nonce-{nonce}'"))


def _start_links(root: str, openapi_url: str | None) -> str:
    links = [
        f'<li><a href="{root}{UI_PATH}">My files</a>: upload, share and download in the browser'
        f' (sign in with a link from <code>filedock ui-link</code>)</li>',
        f'<li><a href="{root}{UI_PATH}catalogue/">Catalogue</a>: search datasets and download'
        " filtered, sampled extracts</li>",
    ]
    links.append(
        f'<li><a href="{root}{SWAGGER_UI_PATH}">API docs</a> (Swagger UI: try every '
        f'operation here), or the same as <a href="{root}{REDOC_PATH}">ReDoc</a></li>'
    )
    if openapi_url:
        links.append(
            f'<li><a href="{root}{openapi_url}"><code>{openapi_url}</code></a>: '
            "the OpenAPI schema, for client generators</li>"
        )
    return "\n".join(links)


def _face_row(root: str, name: str, prefixes: tuple[str, ...], what: str) -> str:
    paths = ", ".join(f"<code>{html.escape(root + prefix)}</code>" for prefix in prefixes)
    return f"<tr><th>{html.escape(name)}</th><td>{paths}</td><td>{html.escape(what)}</td></tr>"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style nonce="{nonce}">
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }}
main {{ max-width: 54rem; margin: 0 auto; padding: 2rem 1.25rem 3rem; }}
h1 {{ margin: 0 0 .25rem; font-size: 2rem; }}
h2 {{ margin-top: 2rem; font-size: 1.15rem; }}
a {{ color: #1f5fbf; }}
code {{ font-family: ui-monospace, monospace; font-size: .92em; }}
table {{ border-collapse: collapse; width: 100%; background: #fff; }}
th, td {{ text-align: left; vertical-align: top; padding: .45rem .6rem;
  border-bottom: 1px solid #e3e6eb; }}
th {{ white-space: nowrap; }}
pre {{ background: #fff; padding: .75rem; overflow-x: auto; border: 1px solid #e3e6eb; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>A self-hosted file and data-extract service: signed uploads, scanning, sharing,
catalogue extracts. It speaks the APIs below, all on one core.</p>
<h2>Start here</h2>
<ul id="start">
{start}
</ul>
<h2>APIs</h2>
<table id="faces">
<tr><th>API</th><th>paths</th><th>for</th></tr>
{faces}
</table>
<h2>Operations</h2>
<ul id="operations">
{operations}
</ul>
<h2>A first credential</h2>
<p>On the server's machine, with its settings:</p>
<pre>filedock apikey create --name my-backend      # an API key for the signed-url API
filedock account create --email you@example.org --type ADMIN
filedock account token --email you@example.org   # a Bearer token for the cosphere API</pre>
</main>
</body>
</html>
"""
