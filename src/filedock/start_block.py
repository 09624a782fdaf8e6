"""The few lines `filedock serve` prints once, when it listens: where filedock answers, where
its docs and health endpoints are, and the commands that make a first credential.

Readable lines for a person at a terminal; one JSON line (the same facts as fields) when the
logs are JSON, so a log collector gets nothing it cannot parse.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path

from filedock.config import Settings


def start_block(
    settings: Settings, *, url: str, listening: str, workers: int, log_format: str
) -> str:
    """The block for `log_format` (`console` or `json`), `url` being the public base URL."""
    from filedock.faces.landing import UI_PATH as ui

    base = url.rstrip("/")
    commands = _first_credential_commands(settings.data_dir)
    metrics = _metrics_access(settings)
    if log_format == "json":
        return json.dumps(
            {
                "event": "filedock is serving",
                "url": base,
                "listening": listening,
                "workers": workers,
                "ui": base + ui,
                "docs": f"{base}/docs",
                "redoc": f"{base}/redoc",
                "openapi": f"{base}/openapi.json",
                "healthz": f"{base}/healthz",
                "readyz": f"{base}/readyz",
                "metrics": f"{base}/metrics",
                "metrics_access": metrics,
                "first_credential": [command for _, command in commands],
                "level": "info",
                "logger": "filedock.serve",
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    processes = "1 worker process" if workers == 1 else f"{workers} worker processes"
    lines = [
        f"filedock is serving at {base}",
        f"  listening  {listening}, {processes}",
        f"  UI         {base}{ui}  (sign in: filedock ui-link --user NAME)",
        f"  API docs   {base}/docs  (ReDoc: /redoc, schema: /openapi.json)",
        f"  health     {base}/healthz  (ready: /readyz)",
        f"  metrics    {base}/metrics  ({_METRICS_WORDS[metrics]})",
        "  a first credential, from another terminal:",
        *(f"    {label:<15} {command}" for label, command in commands),
    ]
    return "\n".join(lines)


_METRICS_WORDS = {
    "token": "Bearer FILEDOCK_METRICS_TOKEN",
    "public": "public: FILEDOCK_METRICS_PUBLIC",
    "off": "off: set FILEDOCK_METRICS_TOKEN, or FILEDOCK_METRICS_PUBLIC=true",
}


def _metrics_access(settings: Settings) -> str:
    # As faces/ops.py serves it: a token first, else public if asked, else 404.
    if settings.metrics_token:
        return "token"
    return "public" if settings.metrics_public else "off"


def _first_credential_commands(data_dir: Path) -> list[tuple[str, str]]:
    # Named in full: a second terminal is rarely in the folder `./data` was relative to.
    where = f"--data-dir {shlex.quote(str(data_dir.resolve()))}"
    return [
        ("signed-url API", f"filedock apikey create --name my-backend {where}"),
        ("cosphere API", f"filedock account create --email you@example.org --type ADMIN {where}"),
        ("", f"filedock account token --email you@example.org {where}"),
    ]
