"""Sending a ready file's bytes, the same way for every face.

Every body streams from the store: the local store reads from the page cache on the event
loop and from the disk in a thread (ports/local_file_io.py). That beats handing a local file
to the ASGI server (`http.response.pathsend`), which reads each 128 KiB in a thread of its
own and pays two thread switches for it: 0.79 s of CPU a GiB against 0.50 s here, in
bench/transfer.py on one host (docs/benchmarks.md). Every response carries the headers that
keep user bytes inert.
"""

from __future__ import annotations

import re
from email.utils import format_datetime
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from filedock.core.files import Download
from filedock.faces.errors import UnsatisfiableRange

# User bytes never run as part of our origin, even if a browser is coaxed into rendering them.
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-site",
    "Referrer-Policy": "no-referrer",
}

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# A position past any file's size: longer ones are read as this, so a Range of thousands of
# digits is never converted (Python's int() refuses more than 4300 digits).
_BEYOND_ANY_SIZE = 10**19


async def render_download(request: Request, download: Download, *, filename: str) -> Response:
    """The response for a download; what fails before its first byte raises, for the face."""
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
        return await _streamed(request, download, headers, 206, start, end)
    headers["Content-Length"] = str(size)
    return await _streamed(request, download, headers, 200)


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
        suffix = _position(last)
        # RFC 9110 calls a non-zero suffix of an empty file satisfiable, but no Content-Range
        # can name a byte of it (`bytes 0--1/0`): unsatisfiable, as any other range of it.
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange(size)
        return max(size - suffix, 0), size
    start = _position(first)
    end = min(_position(last) + 1, size) if last else size
    if last and _position(last) < start:
        return None
    if start >= size:
        raise UnsatisfiableRange(size)
    return start, end


def _position(digits: str) -> int:
    """A byte position of a `Range` header; any beyond every file's size is one past them all."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) < 20 else _BEYOND_ANY_SIZE


def content_disposition(kind: str, filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:200] or "file"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename[:200])}"


async def _streamed(
    request: Request,
    download: Download,
    headers: dict[str, str],
    status: int,
    start: int = 0,
    end: int | None = None,
) -> Response:
    if request.method == "HEAD":
        # No byte goes out: ask only whether the object is there, instead of reading it.
        await download.verify()
        return Response(status_code=status, headers=headers)
    # Opened before the response starts, so a missing object or a store outage is still
    # the face's own 404 or 503, not a broken 200.
    return StreamingResponse(await download.open(start, end), status, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _if_range_allows(if_range: str | None, etag: str | None) -> bool:
    # A stale If-Range (the file changed) means: send the whole new body instead.
    return if_range is None or (etag is not None and if_range.strip() == etag)
