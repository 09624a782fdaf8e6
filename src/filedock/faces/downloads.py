"""Sending a ready file's bytes, the same way for every face.

Full bodies of local objects go out as `FileResponse`, which the ASGI server sends without
copying through Python (`http.response.pathsend`); ranges and remote objects stream from the
store in 1 MiB chunks. Every response carries the headers that keep user bytes inert.
"""

from __future__ import annotations

import re
from email.utils import format_datetime
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from filedock.core.files import Download
from filedock.faces.errors import UnsatisfiableRange

# User bytes never run as part of our origin, even if a browser is coaxed into rendering them.
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-site",
    "Referrer-Policy": "no-referrer",
}

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def render_download(request: Request, download: Download, *, filename: str) -> Response:
    file = download.file
    size = file.size or 0
    headers = {
        **SAFE_HEADERS,
        # Verbatim: Starlette would append "; charset=utf-8" to text/*, misstating the bytes.
        "Content-Type": file.content_type,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-cache",
        "Last-Modified": format_datetime(file.updated_at, usegmt=True),
        "Content-Disposition": content_disposition(download.disposition, filename),
    }
    if file.etag:
        headers["ETag"] = file.etag
        if _matches(request.headers.get("if-none-match"), file.etag):
            return Response(status_code=304, headers=headers)
    selected = requested_range(request.headers.get("range"), size)
    if selected is not None and _if_range_allows(request.headers.get("if-range"), file.etag):
        start, end = selected
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        return StreamingResponse(download.read(start, end), 206, headers=headers)
    headers["Content-Length"] = str(size)
    if download.local_path is not None and "range" not in request.headers:
        return FileResponse(download.local_path, headers=headers)
    return StreamingResponse(download.read(), headers=headers)


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range `[start, end)` a `Range` header asks for, or None to send all.

    Several ranges, or a header we cannot parse, are answered with the whole body, as RFC 9110
    allows; a range wholly past the end raises `UnsatisfiableRange`.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise UnsatisfiableRange(size)
        return max(size - suffix, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if last and int(last) < start:
        return None
    if start >= size:
        raise UnsatisfiableRange(size)
    return start, end


def content_disposition(kind: str, filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:200] or "file"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename[:200])}"


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _if_range_allows(if_range: str | None, etag: str | None) -> bool:
    # A stale If-Range (the file changed) means: send the whole new body instead.
    return if_range is None or (etag is not None and if_range.strip() == etag)
