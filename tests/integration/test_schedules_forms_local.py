"""Schedule forms used outside their policy on the local store: refused, nothing stored.

On S3 the same policy is S3's to enforce; this pins filedock's own `/_blobs/`.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer
from tests.integration.schedules_support import Caller
from tests.integration.signed_url_support import PDF

POOL = CognitoPool.create()
pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    return {
        **POOL.settings_in(data_dir),
        "schedules_max_bytes": str(len(PDF) + 1000),
        # Short, so that one test can outlive a form; the others post at once.
        "schedules_url_expiry_seconds": "3",
    }


@pytest.mark.parametrize(
    ("field", "value", "data"),
    [
        (None, None, PDF + b"%" * 2000),  # over the size the policy allows
        ("key", "schedules/someone-else/evil.pdf", PDF),
        ("Content-Type", "text/html", PDF),
        ("policy", "eyJleHBpcmF0aW9uIjoiMjA5OS0wMS0wMVQwMDowMDowMFoiLCJjb25kaXRpb25zIjpbXX0=", PDF),
    ],
    ids=["oversize", "other-key", "other-type", "tampered-policy"],
)
def test_a_schedule_form_used_outside_its_policy_stores_nothing(
    server: LiveServer, field: str | None, value: str | None, data: bytes
) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    form = attached["presigned_data"]
    fields = dict(form["fields"]) | ({} if field is None else {field: value})
    response = httpx.post(form["url"], data=fields, files={"file": ("f", data)}, timeout=30)
    assert response.status_code in (400, 403), response.text
    objects = server.data_dir / "objects"
    stored = [p.relative_to(objects).as_posix() for p in objects.rglob("*") if p.is_file()]
    assert not [key for key in stored if schedule in key or "someone-else" in key]
    listed = owner.documents(schedule).json()["data"]
    assert [d["status"] for d in listed] == ["pending"]


def test_an_expired_schedule_form_stores_nothing(server: LiveServer) -> None:
    owner, schedule = Caller(server, POOL, str(uuid.uuid4())), str(uuid.uuid4())
    attached = owner.attach(schedule, "file.pdf")
    time.sleep(4)
    form = attached["presigned_data"]
    response = httpx.post(form["url"], data=form["fields"], files={"file": ("f", PDF)}, timeout=30)
    assert response.status_code == 403 and "expired" in response.text
    assert [d["status"] for d in owner.documents(schedule).json()["data"]] == ["pending"]
    objects = server.data_dir / "objects"
    assert not [p for p in objects.rglob("*") if p.is_file() and schedule in p.as_posix()]
