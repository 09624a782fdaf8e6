"""The browser pages: `/ui/` (my files) and `/ui/catalogue/` (datasets and extracts).

Static pages from the package (`filedock/web/ui/`), no build step. Each page's script and
style are files served from `/ui/assets/`, so the pages run under a strict CSP with no
inline code at all: scripts and styles from this origin only, requests to this origin and
to where the object store takes uploads, nothing else.

How the pages sign in: a token in the URL's fragment (`#token=…`, never sent to a server),
kept in the tab's sessionStorage. `filedock ui-link` prints such a link; the catalogue page
also signs in through the cosphere auth request when OpenID Connect is configured.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from filedock.faces.context import services
from filedock.faces.cosphere.envelope import page_headers
from filedock.faces.landing import UI_PATH

CATALOGUE_PATH = f"{UI_PATH}catalogue/"
ASSETS_PATH = f"{UI_PATH}assets/"
# What the pages load; nothing else under /ui/assets/ exists.
_ASSET_TYPES = {
    "ui.css": "text/css; charset=utf-8",
    "session.js": "text/javascript; charset=utf-8",
    "files.js": "text/javascript; charset=utf-8",
    "catalogue.js": "text/javascript; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.api_route(UI_PATH, methods=["GET", "HEAD"])
async def files_page(request: Request) -> HTMLResponse:
    return _page(request, "files.html", {"api": _root(request) + UI_PATH + "api/"})


@router.api_route(CATALOGUE_PATH, methods=["GET", "HEAD"])
async def catalogue_page(request: Request) -> HTMLResponse:
    root = _root(request)
    config = {
        "catalogue": f"{root}/catalogue/items/",
        "downloader": f"{root}/downloader/requests/",
        "accounts": f"{root}/accounts/",
        # Sign-in through the cosphere auth request needs an OpenID Connect client.
        "signIn": services(request).oidc_client_id is not None,
    }
    return _page(request, "catalogue.html", config)


@router.api_route(ASSETS_PATH + "{name}", methods=["GET", "HEAD"])
async def asset(name: str) -> Response:
    media_type = _ASSET_TYPES.get(name)
    if media_type is None:
        return Response("not found", 404, media_type="text/plain")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    return Response(_read(name), media_type=media_type, headers=headers)


def _page(request: Request, template: str, config: dict[str, object]) -> HTMLResponse:
    page = _read(template).replace("{{config}}", _script_json(config))
    # Uploads go straight to the store: the page may send bytes there and nowhere else.
    store = " ".join(services(request).upload_origins)
    headers = page_headers(
        "script-src 'self'",
        "style-src 'self'",
        f"connect-src 'self' {store}".rstrip(),
        "img-src 'self' data:",
    )
    # The fragment holds the token; no Referer should ever carry the page's URL.
    headers["Referrer-Policy"] = "no-referrer"
    return HTMLResponse(page, headers=headers)


@cache
def _read(name: str) -> str:
    return resources.files("filedock.web").joinpath("ui").joinpath(name).read_text(encoding="utf-8")


def _script_json(value: dict[str, object]) -> str:
    # JSON inside <script type="application/json">: escaped so no value can end the element.
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _root(request: Request) -> str:
    # A proxy mounting filedock under a path sets root_path; the pages' calls must keep it.
    return str(request.scope.get("root_path", "")).rstrip("/")
