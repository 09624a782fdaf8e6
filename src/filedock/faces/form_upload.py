"""Reading a browser's multipart form upload as it streams, S3 style.

The text fields come first and are small; the part named `file` comes last and may be large.
`FormUpload.open` reads up to the start of the file part and stops there, so the caller can
check the form's policy before a single byte of the file is stored; `file_chunks` then streams
the rest of the file straight on. Nothing is spooled to disk or held whole in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import (
    MAX_BOUNDARY_LENGTH,
    MultipartParser,
    parse_options_header,
)
from starlette.datastructures import MultiDict

from filedock.core.errors import InvalidInput

FILE_PART = "file"
# Everything before the file: a policy, a signature and a few short values.
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32


class FormUpload:
    """One multipart body: its text fields, then the bytes of its `file` part."""

    def __init__(self, boundary: bytes, body: AsyncIterator[bytes]) -> None:
        self._body = body
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )
        self._fields: list[tuple[str, str]] = []
        self._field_bytes = 0
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._part_name: str | None = None
        self._part_value = bytearray()
        self._in_file = False
        self._file_seen = False
        self._file_done = False
        self._file_data: list[bytes] = []
        self._ended = False
        self._problem: str | None = None

    @classmethod
    async def open(cls, content_type: str | None, body: AsyncIterator[bytes]) -> FormUpload:
        """Read the form up to its file part; raise `InvalidInput` if it is not such a form."""
        kind, options = parse_options_header(content_type or "")
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise _malformed("a form upload must be multipart/form-data with a boundary")
        if len(boundary) > MAX_BOUNDARY_LENGTH:
            raise _malformed(f"the form's boundary is over {MAX_BOUNDARY_LENGTH} characters")
        form = cls(boundary, body)
        async for chunk in body:
            form._feed(chunk)
            if form._file_seen or form._ended:
                break
        if not form._file_seen:
            raise _malformed(f"the form has no {FILE_PART!r} part")
        return form

    @property
    def fields(self) -> MultiDict:
        """The text fields before the file, repeated names kept (the policy check refuses them)."""
        return MultiDict(self._fields)

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive; raises `InvalidInput` if the body is cut short."""
        while True:
            while self._file_data:
                yield self._file_data.pop(0)
            if self._file_done:
                break
            chunk = await anext(self._body, None)
            if chunk is None:
                raise _malformed("the form ended inside its file part")
            self._feed(chunk)
        # What follows the file (S3 ignores it too) is read only to reach the end of the body.
        async for chunk in self._body:
            self._feed(chunk)

    # Parser callbacks ----------------------------------------------------------------------

    def _feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            raise _malformed("the form body is not valid multipart") from None
        if self._problem is not None:
            raise _malformed(self._problem)

    def _on_part_begin(self) -> None:
        self._part_name = None
        self._part_value.clear()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            _, options = parse_options_header(bytes(self._header_value))
            name = options.get(b"name")
            self._part_name = None if name is None else name.decode("utf-8", "replace")
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        if self._part_name is None:
            self._problem = "a form part has no name"
        elif self._file_seen:
            self._in_file = False  # a part after the file: read and ignored
        elif self._part_name.lower() == FILE_PART:
            self._in_file = self._file_seen = True

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._file_data.append(data[start:end])
        elif not self._file_seen:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FIELD_BYTES:
                self._problem = f"the form's fields are over {MAX_FIELD_BYTES} bytes"
            else:
                self._part_value += data[start:end]

    def _on_part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_done = True
        elif not self._file_seen and self._part_name is not None:
            if len(self._fields) >= MAX_FIELDS:
                self._problem = f"the form has more than {MAX_FIELDS} fields"
                return
            try:
                value = bytes(self._part_value).decode("utf-8")
            except UnicodeDecodeError:
                self._problem = f"form field {self._part_name!r} is not UTF-8"
                return
            self._fields.append((self._part_name, value))

    def _on_end(self) -> None:
        self._ended = True


def _malformed(message: str) -> InvalidInput:
    return InvalidInput.one("form", message)
