"""Which plain routes hot_routes.py may answer by the start of their path: only those no
other route could take instead, whatever order the router tries them in."""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount, Route

from filedock.hot_routes import plain_routes


class _PlainRoute(Route):
    """A route with `handle_plainly`, as faces/errors.py's `plain_route` makes them."""

    async def handle_plainly(self, *args: Any) -> None:  # never called here
        raise AssertionError("not dispatched in these tests")


async def _endpoint(request: Any) -> None:
    return None


UPLOAD = _PlainRoute("/v1/file/{file_id:path}", _endpoint, methods=["POST"])


def test_a_parametrised_plain_route_alone_under_its_start_is_found_with_its_parameters() -> None:
    others = [
        Route("/v1/files/{file_id}", _endpoint, methods=["POST"]),  # /v1/files/ is elsewhere
        Route("/v1/file/{file_id:path}", _endpoint, methods=["GET"]),  # another method
    ]
    table = plain_routes([*others, UPLOAD])

    found = table.find("POST", "/v1/file/a/b c")
    assert found is not None and found[0] is UPLOAD and found[1] == {"file_id": "a/b c"}
    assert table.find("GET", "/v1/file/a") is None
    assert table.find("POST", "/v1/files/a") is None


def test_a_parametrised_plain_route_another_route_could_match_is_left_to_the_router() -> None:
    overlapping = [
        Route("/v1/file/special", _endpoint, methods=["POST"]),  # under its start
        Route("/v1/{anything:path}", _endpoint, methods=["POST"]),  # a start it is under
        Mount("/v1", routes=[]),  # a mount takes every method
    ]
    for other in overlapping:
        table = plain_routes([UPLOAD, other])
        assert table.find("POST", "/v1/file/special") is None, other
        assert not table.by_start, other


def test_a_fixed_path_plain_route_is_found_by_its_exact_path_only() -> None:
    exact = _PlainRoute("/v1/files/signed-url", _endpoint, methods=["GET"])
    table = plain_routes([exact])

    assert table.find("GET", "/v1/files/signed-url") == (exact, {})
    assert table.find("GET", "/v1/files/signed-url/") is None
    assert table.find("POST", "/v1/files/signed-url") is None
