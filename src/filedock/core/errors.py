"""The domain errors every core service raises and every face renders in its own envelope.

Each error carries a stable `code` and a human `message`; faces map the class to a status
code once, in their error mapper, so domain code only raises.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class NotReady(Conflict):
    """The file exists but has not passed processing, so it is not served."""

    code = "not_ready"


class ProcessingRefused(NotReady):
    """Processing refused the file (rejected, or failed): it will never be served."""

    code = "processing_refused"


class InvalidInput(DomainError):
    """Bad input; `fields` maps the offending field to its messages."""

    code = "invalid_input"

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        first_field, messages = next(iter(fields.items()))
        super().__init__(f"{first_field}: {messages[0]}" if messages else first_field)

    @classmethod
    def one(cls, field: str, message: str) -> InvalidInput:
        return cls({field: [message]})

    @property
    def first_field(self) -> str:
        return next(iter(self.fields))

    @property
    def first_message(self) -> str:
        messages = self.fields[self.first_field]
        return messages[0] if messages else self.first_field


class TooLarge(DomainError):
    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than the limit of {limit} bytes")
        self.limit = limit


class UnsupportedType(DomainError):
    code = "unsupported_type"


class Unavailable(DomainError):
    """A dependency (database, object store, virus scanner) is down: nothing was decided,
    and the same request may succeed later (503 on every face, a retry for jobs).

    Backends raise their own subclasses of it at the port boundary, so the core and the
    faces never translate outages by hand.
    """

    code = "unavailable"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limit exceeded")
        self.retry_after = retry_after


class Expired(DomainError):
    code = "expired"
