"""`RequestContext` (observability.py): every line logged while a request is served carries
its id, lines of other requests and of no request do not, and each request is counted once
under its route, method and status."""

from __future__ import annotations

import json
import subprocess
import sys

# Run in a process of its own: `configure_logging` takes over the root logger's handlers.
PROGRAM = """
import asyncio, logging
from filedock import observability

observability.configure_logging("info", "json")
log = logging.getLogger("filedock.test")

def app_logging(text):
    async def app(scope, receive, send):
        log.warning(text)
        await asyncio.sleep(0.01)  # the other request runs meanwhile
        log.warning(text + " again")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    return app

def scope(request_id):
    return {"type": "http", "method": "GET", "path": "/t", "client": ("127.0.0.1", 1),
            "headers": [(b"x-request-id", request_id.encode())], "state": {}}

async def main():
    async def receive():
        return {"type": "http.request", "body": b""}
    async def send(message):
        pass
    await asyncio.gather(
        observability.RequestContext(app_logging("first"))(scope("req-a"), receive, send),
        observability.RequestContext(app_logging("second"))(scope("req-b"), receive, send),
    )
    log.warning("after")
    series = observability.REQUESTS.labels("GET", "unmatched", "204")
    print("counted", series._value.get())

asyncio.run(main())
"""


def test_each_line_logged_while_serving_carries_that_requests_id_and_no_other() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(text) for text in done.stderr.splitlines() if text.startswith("{")]
    logged = [line for line in lines if line["logger"] != "filedock.http"]
    ids = {line["event"]: line.get("request_id") for line in logged}
    assert ids == {
        "first": "req-a",
        "first again": "req-a",
        "second": "req-b",
        "second again": "req-b",
        "after": None,
    }
    access = [line["request_id"] for line in lines if line["logger"] == "filedock.http"]
    assert sorted(access) == ["req-a", "req-b"]
    assert "counted 2.0" in done.stdout
