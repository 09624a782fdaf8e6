"""The API's interactive documentation: Swagger UI at `/docs`, ReDoc at `/redoc`.

FastAPI's own pages load their scripts, styles and fonts from CDNs. These load them from the
package (`fastapi-offline` ships Swagger UI's and ReDoc's builds), under `ASSETS_PATH`, and
their Content-Security-Policy lets the browser fetch nothing from any other origin: the docs
work on a machine without Internet, and opening them tells no third party about this server.
"""

from __future__ import annotations

import secrets
from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from filedock.faces.cosphere.envelope import page_headers

ASSETS_PATH = "/_assets/docs"
SWAGGER_UI_PATH = "/docs"
REDOC_PATH = "/redoc"

router = APIRouter(include_in_schema=False)


def mount_assets(app: FastAPI) -> None:
    """Serve the docs pages' scripts and styles from the installed package."""
    folder = files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(folder)), name="docs-assets")


@router.api_route(SWAGGER_UI_PATH, methods=["GET", "HEAD"])
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    nonce = secrets.token_urlsafe(18)
    page = get_swagger_ui_html(
        openapi_url=root + _openapi_url(request),
        title=f"{request.app.title}: API docs",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        # Swagger UI would otherwise show a badge loaded from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    # The page starts Swagger UI with one inline script: it runs by its nonce, nothing else does.
    html = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, headers=_docs_headers(f"'nonce-{nonce}'"))


@router.api_route(REDOC_PATH, methods=["GET", "HEAD"])
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=root + _openapi_url(request),
        title=f"{request.app.title}: API reference",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )
    return HTMLResponse(bytes(page.body), headers=_docs_headers())


def _openapi_url(request: Request) -> str:
    return str(request.app.openapi_url or "/openapi.json")


def _docs_headers(*scripts: str) -> dict[str, str]:
    # Both renderers set inline styles as they draw (ReDoc injects <style> elements), and ReDoc
    # runs its search index in a worker made from a blob: URL. Everything else: this origin.
    return page_headers(
        " ".join(("script-src 'self'", *scripts)),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
    )
