"""The landing page and the start block name the web UI only when a route serves `/ui/`."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from filedock.faces.landing import ui_path


def page(_: object) -> PlainTextResponse:
    return PlainTextResponse("ui")


def test_a_ui_route_or_mount_is_found() -> None:
    assert ui_path([Route("/healthz", page), Route("/ui/", page)]) == "/ui/"
    assert ui_path([Mount("/ui", routes=[Route("/", page)])]) == "/ui/"
    assert ui_path([Route("/ui/files/{file_id}", page)]) == "/ui/"


def test_without_a_ui_route_there_is_no_ui() -> None:
    assert ui_path([Route("/", page), Route("/docs", page)]) is None
    assert ui_path([Route("/uix", page), Route("/api/ui/", page)]) is None
