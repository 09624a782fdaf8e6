"""Logs carrying a request id (JSON, or readable on a terminal), and Prometheus metrics, for
every request.

A pure ASGI middleware (not `BaseHTTPMiddleware`) so streamed bodies pass untouched and the
per-request cost stays a few microseconds.

Under `filedock serve` every worker process writes its metrics to files in the folder
`PROMETHEUS_MULTIPROC_DIR` names (server.py makes it), and a scrape, whichever process
answers it, adds them all up (`metrics_text`). The gauges read from the database are set
at each scrape and shown as the most recent value any process set.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filedock.access_lines import ACCESS_LOGGER, AccessLine, JsonAccessLines
from filedock.core.entropy import random_hex
from filedock.core.rate_limit import client_address
from filedock.metrics import (
    RECONCILE_LAST_RUN,
    RECONCILE_ORPHANS_REMOVED,
    RECONCILE_RECORDS_MISSING_OBJECT,
    RECONCILE_UNFINISHED_REMOVED,
)

if TYPE_CHECKING:
    from filedock.core.reconcile import ReconcileReport

# prometheus_client chose its storage when it was imported, from this same variable.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

# Uploads and downloads of several GiB take minutes, extracts' downloads longer: the buckets
# reach an hour, or every transfer would land in +Inf.
TRANSFER_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    *(30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0),
)
REQUESTS = Counter(
    "filedock_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "filedock_http_request_seconds",
    "Time to the end of the response",
    ["method", "route"],
    buckets=TRANSFER_BUCKETS,
)
RECEIVED = Counter(
    "filedock_http_received_bytes_total", "Request body bytes received", ["method", "route"]
)
SENT = Counter("filedock_http_sent_bytes_total", "Response body bytes sent", ["method", "route"])

# A client may send any token as its method; a series per made-up method would let anyone
# grow the metrics without bound, so the rest are counted as `other`.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The id of the request this task serves, for every line logged while serving it
# (`add_request_id`); a task runs in a copy of its creator's context, so ids never mix.
_REQUEST_ID: ContextVar[str | None] = ContextVar("filedock_request_id", default=None)

# One line per request. Its level and on/off are this logger's; a JSON line skips the
# logging machinery altogether (`JsonAccessLines`), a console line goes through it.
access_log = logging.getLogger(ACCESS_LOGGER)
ACCESS_FIELDS = "filedock_access"
failures = logging.getLogger("filedock.responses")

# The status a request whose client hung up before its answer is logged and counted with,
# as nginx does ("client closed request"): the client's doing, not a server error.
CLIENT_CLOSED_REQUEST = 499


def client_closed() -> None:
    """Log, at info, that the client closed the connection before it had its answer."""
    failures.info("client closed the connection before the response")


def configure_logging(level: str = "info", log_format: str = "json") -> None:
    """Log lines on stderr, readable (`console`) or JSON; stdlib loggers (uvicorn, granian,
    ours) go through the same. `auto` is `console` when stderr is a terminal."""
    console = resolve_log_format(log_format) == "console"
    colors = console and _colors_wanted(sys.stderr)
    processors: list[Any] = [
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        # A person at a terminal reads their own clock; collectors get UTC.
        structlog.processors.TimeStamper(fmt=_CONSOLE_TIME, utc=False)
        if console
        else structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    structlog.configure(
        processors=[*processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    rendering: list[Any] = (
        [_console_renderer(colors)]
        if console
        else [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access = logging.StreamHandler(sys.stderr)
    access.setFormatter(ConsoleAccessFormatter(colors))
    access_log.handlers[:] = [access]
    access_log.propagate = False
    global _write_access_line
    if console:
        _write_access_line = _log_access_line
    else:
        lines = JsonAccessLines(sys.stderr)
        atexit.register(lines.flush)  # the last lines of a stopping server
        _write_access_line = lines
    # No line prints the caller's file and line, thread or process: not gathering them
    # saves a stack walk and three calls per record (logging's documented optimisation;
    # the access line alone was a fifth of a signed-URL request's CPU).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def resolve_log_format(setting: str, stream: TextIO | None = None) -> str:
    """`console` or `json`: what FILEDOCK_LOG_FORMAT means for `stream` (stderr)."""
    if setting != "auto":
        return setting
    stream = sys.stderr if stream is None else stream
    return "console" if _is_terminal(stream) else "json"


def _log_access_line(line: AccessLine) -> None:
    access_log.info("request", extra={ACCESS_FIELDS: line._asdict()})


# Until `configure_logging` chooses, through `logging` (to whatever handlers it has).
_write_access_line: Callable[[AccessLine], None] = _log_access_line


class ConsoleAccessFormatter(logging.Formatter):
    """The request line for a person: `12:00:01 [info] GET / 200 [filedock.http] ms=1.2 …`."""

    def __init__(self, colors: bool) -> None:
        super().__init__()
        self._render = _console_renderer(colors)

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, ACCESS_FIELDS, {}))
        line = f"{fields.pop('method', '-')} {fields.pop('path', '-')} {fields.pop('status', '-')}"
        fields.update(
            event=line,
            level=record.levelname.lower(),
            logger=record.name,
            timestamp=datetime.fromtimestamp(record.created).strftime(_CONSOLE_TIME),
        )
        return str(self._render(None, record.levelname.lower(), fields))


def _console_renderer(colors: bool) -> structlog.dev.ConsoleRenderer:
    # Plain tracebacks: Rich's would print every frame's locals (secrets, tokens) to the screen.
    return structlog.dev.ConsoleRenderer(
        colors=colors, sort_keys=False, exception_formatter=structlog.dev.plain_traceback
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def _colors_wanted(stream: TextIO) -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colours off.
    return _is_terminal(stream) and not os.environ.get("NO_COLOR")


_CONSOLE_TIME = "%H:%M:%S"


def metrics_text() -> bytes:
    """The Prometheus exposition of every process of this server (or of this one alone when
    it runs by itself, as the in-process tests run it)."""
    if MULTIPROCESS_DIR is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def record_reconcile(report: ReconcileReport) -> None:
    """Publish a finished reconciliation round; a stale timestamp means rounds are failing."""
    RECONCILE_ORPHANS_REMOVED.set(report.orphans_removed)
    RECONCILE_RECORDS_MISSING_OBJECT.set(report.records_missing_object)
    RECONCILE_UNFINISHED_REMOVED.set(report.unfinished_removed)
    RECONCILE_LAST_RUN.set_to_current_time()


def current_request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", "-"))


class RequestContext:
    """Gives each request an id (kept from `X-Request-ID` when sane), logs and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or random_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        received = sent = 0
        headers: list[tuple[bytes, bytes]] = []

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent, headers
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.pathsend":
                # A local file the server sends itself (FileResponse): its Content-Length.
                sent += _content_length(headers)
            await send(message)

        bound = _REQUEST_ID.set(request_id)
        try:
            await self.app(scope, counted_receive, send_with_id)
        except ClientDisconnect:
            # Outside a face (which answers it itself): nobody is left to answer.
            status = CLIENT_CLOSED_REQUEST
            client_closed()
        except Exception as exc:
            # Before the headers the error middleware answers 500 itself (status stays 500).
            # After them the client holds a 200 whose body breaks off (a store failing
            # mid-download): as much a failure, so it is logged and counted as one.
            if status != 500:
                failures.error("the response failed after its headers were sent", exc_info=exc)
                status = 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            series = _series(scope["method"], getattr(route, "path", None), status)
            series.requests.inc()
            series.latency.observe(elapsed)
            if received:
                series.received.inc(received)
            if sent:
                series.sent.inc(sent)
            if access_log.isEnabledFor(logging.INFO):
                _write_access_line(
                    AccessLine(
                        scope["method"],
                        scope["path"],
                        status,
                        round(elapsed * 1000, 2),
                        request_id,
                        _client(scope),
                    )
                )
            _REQUEST_ID.reset(bound)


def add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the id of the request being served, on every line logged in it."""
    request_id = _REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _client(scope: Scope) -> str:
    """The client's address as the faces see it: `X-Forwarded-For` only from a trusted proxy."""
    client = scope.get("client")
    peer = client[0] if client else None
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            state = getattr(scope.get("app"), "state", None)
            trusted: frozenset[str] = getattr(
                getattr(state, "services", None), "trusted_proxies", frozenset()
            )
            return client_address(peer, value.decode("latin-1"), trusted)
    # Without the header, nobody's word but the peer's: the trusted proxies are not needed.
    return client_address(peer, None, frozenset())


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_REQUEST_ID.fullmatch(text) else None
    return None


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


class _Series:
    """One (method, route, status)'s series of the HTTP metrics, looked up once.

    `labels()` was about 5 µs of every request; here a request makes one dict lookup. The
    keys are bounded: routes are the app's templates (or None), methods one of `_METHODS` or
    `other`, statuses what the app answers.
    """

    __slots__ = ("latency", "received", "requests", "sent")

    def __init__(self, method: str, route: str, status: int) -> None:
        self.requests = REQUESTS.labels(method, route, str(status))
        self.latency = LATENCY.labels(method, route)
        self.received = RECEIVED.labels(method, route)
        self.sent = SENT.labels(method, route)


_SERIES: dict[tuple[str, str | None, int], _Series] = {}


def _series(method: str, route: str | None, status: int) -> _Series:
    """The series of a request to `route` (its path template; None: no route matched)."""
    if method not in _METHODS:
        # A client may send any token as its method: a series per made-up one would let
        # anyone grow the metrics (and this table) without bound.
        method = "other"
    key = (method, route, status)
    found = _SERIES.get(key)
    if found is None:
        # Labelled by route template, not raw path, so ids don't explode the cardinality.
        found = _SERIES[key] = _Series(method, route or "unmatched", status)
    return found
