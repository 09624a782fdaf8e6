"""One exception hierarchy for every failure the client reports, whichever face answered.

Each face has its own error body (signed-url `{"error_code", "detail"}`, cosphere `@event`,
hasura `{"error"}`, S3's XML `<Error>` from a signed URL); `error_from_response` reads them
all into a `FiledockError` with the HTTP `status`, a `code` and a human `detail`.
"""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import httpx


class FiledockError(Exception):
    """Anything that went wrong: `status` is the HTTP status (None if no answer came)."""

    def __init__(self, status: int | None, code: str, detail: str) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        if self.status is None:
            return self.detail
        return f"{self.detail} ({self.status} {self.code})"


class ConfigurationError(FiledockError):
    """A credential or setting the call needs is missing."""

    def __init__(self, detail: str) -> None:
        super().__init__(None, "configuration", detail)


class UnreachableError(FiledockError):
    """No answer: connection refused, DNS failure, a timeout, a connection cut short."""

    def __init__(self, detail: str) -> None:
        super().__init__(None, "unreachable", detail)


class BadRequestError(FiledockError):
    """400: the server refused a parameter (the detail says which)."""


class AuthenticationError(FiledockError):
    """401: the API key or token is missing, wrong or revoked."""


class PermissionDeniedError(FiledockError):
    """403: not yours, or a signed URL that is wrong or expired."""


class NotFoundError(FiledockError):
    """404: no such file (or request, or item), or not visible to this caller."""


class ConflictError(FiledockError):
    """409: not ready (still processing, infected) or taken; 422: processing refused it."""


class RateLimitError(FiledockError):
    """429: too many requests, still so after the client's own retries."""


class ServerError(FiledockError):
    """5xx: the server or a store behind it failed; the same call may work later."""


class IntegrityError(FiledockError):
    """Downloaded bytes that differ from the file's size or sha256; nothing was kept."""

    def __init__(self, detail: str) -> None:
        super().__init__(None, "integrity", detail)


class WaitTimeoutError(FiledockError):
    """A file or an extract did not reach a final status in the time given."""

    def __init__(self, detail: str) -> None:
        super().__init__(None, "wait_timeout", detail)


class ExtractFailedError(FiledockError):
    """A download request ended `failed` (its `failure` is the detail) or `cancelled`."""

    def __init__(self, request_id: int, detail: str) -> None:
        self.request_id = request_id
        super().__init__(None, "extract_failed", detail)


_BY_STATUS: dict[int, type[FiledockError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: NotFoundError,
    416: BadRequestError,
    422: ConflictError,
    429: RateLimitError,
}
_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_MAX_DETAIL = 500


def error_from_response(response: httpx.Response) -> FiledockError:
    """The error an unsuccessful answer stands for; its body must have been read."""
    status = response.status_code
    code, detail = _code_and_detail(response)
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else FiledockError)
    return kind(status, code, detail[:_MAX_DETAIL])


def unreachable(url: httpx.URL | str, exc: httpx.TransportError) -> UnreachableError:
    """No answer from `url`'s host; the reason in a few words, never a traceback."""
    where = httpx.URL(str(url))
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UnreachableError(f"cannot reach {where.scheme}://{where.netloc.decode()}: {reason}")


def _code_and_detail(response: httpx.Response) -> tuple[str, str]:
    fallback = f"http_{response.status_code}"
    text = response.text
    if "xml" in response.headers.get("content-type", "") or text.lstrip().startswith("<?xml"):
        code, message = _XML_CODE.search(text), _XML_MESSAGE.search(text)
        return (
            unescape(code.group(1)) if code else fallback,
            unescape(message.group(1)) if message else response.reason_phrase,
        )
    try:
        body: Any = json.loads(text)
    except ValueError:
        return fallback, text.strip()[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return fallback, response.reason_phrase
    if "error_code" in body:  # signed-url
        return str(body["error_code"]), str(body.get("detail", ""))
    if "@event" in body:  # cosphere
        return str(body["@event"]), _cosphere_detail(body)
    if "error" in body:  # hasura, s3-command
        return fallback, str(body["error"])
    for key in ("message", "detail"):  # 429 of the signed-url face; the framework's own
        if key in body:
            return fallback, str(body[key])
    return fallback, response.reason_phrase


def _cosphere_detail(body: dict[str, Any]) -> str:
    errors = body.get("errors")
    if isinstance(errors, dict):
        return "; ".join(
            f"{field}: {' '.join(map(str, messages)) if isinstance(messages, list) else messages}"
            for field, messages in errors.items()
        )
    if isinstance(errors, list) and errors:
        return " ".join(map(str, errors))
    return str(body["@event"]).replace("_", " ").lower()
