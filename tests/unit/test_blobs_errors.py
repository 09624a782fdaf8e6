"""The blobs face's S3 `<Error>` document: its text is escaped, so no message breaks the XML."""

from __future__ import annotations

from xml.etree import ElementTree

from starlette.requests import Request

from filedock.faces.blobs import render_error
from filedock.faces.errors import Failure


def test_error_text_with_markup_is_escaped_and_reads_back_unchanged() -> None:
    message = "key <a&b> is \"odd\" & 'bad'"
    scope = {"type": "http", "method": "PUT", "path": "/_blobs/x", "headers": []}
    request = Request(scope)
    request.state.request_id = "id<&>"
    response = render_error(request, Failure(403, message, error=ValueError(message)))

    body = bytes(response.body).decode()
    assert "<a&b>" not in body and "&lt;a&amp;b&gt;" in body
    document = ElementTree.fromstring(body.split("\n", 1)[1])
    assert document.findtext("Code") == "AccessDenied"
    assert document.findtext("Message") == message
    assert document.findtext("RequestId") == "id<&>"
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/xml"
