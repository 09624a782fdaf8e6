"""Owners are subjects within realms: the same id in another API is another person.

One subject id (a UUID, valid everywhere) owns a file through each API: a hasura upload (our
Bearer realm), a signed-url upload (API key 1's realm) and a schedule document (the Cognito
pool). Every other realm's caller with that same id, and every other realm's admin, then tries
every read and delete of every face on each file: all get the face's not-found, and every file
is still there, unchanged, for its owner.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.server import LiveServer
from tests.integration.schedules_support import Caller, upload, wait_readable
from tests.integration.signed_url_support import CSV, PDF, Backend

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-local"], indirect=True)

POOL = CognitoPool.create()


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    return POOL.settings_in(data_dir)


@dataclass(frozen=True)
class Owned:
    hasura_id: str
    signed_url_id: str
    schedule: str
    document_id: str


@pytest.fixture
def subject() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def owned(server: LiveServer, subject: str, backend: Backend) -> Owned:
    hasura_id = str(uuid.uuid4())
    with server.client() as client:
        made = client.post(
            f"/v1/file/{hasura_id}",
            content=CSV,
            headers={**server.auth(subject), "Content-Type": "text/csv"},
        )
    assert made.status_code in (200, 201), made.text
    owner = backend.as_user(subject)
    ticket = owner.upload_url("report.csv")
    assert owner.put(ticket, CSV).status_code == 200
    assert owner.wait_settled(ticket["file_id"])["status"] == "ready"
    cognito = Caller(server, POOL, subject)
    schedule = str(uuid.uuid4())
    attached = cognito.attach(schedule, "file.pdf")
    assert upload(attached).status_code in (201, 204)
    wait_readable(cognito, attached["id"])
    return Owned(hasura_id, ticket["file_id"], schedule, attached["id"])


Attempt = Callable[[str], httpx.Response]


def hasura_attempts(server: LiveServer, headers: dict[str, str]) -> dict[str, Attempt]:
    def get(file_id: str) -> httpx.Response:
        with server.client() as client:
            return client.get(f"/v1/file/{file_id}", headers=headers)

    def delete(file_id: str) -> httpx.Response:
        with server.client() as client:
            return client.delete(f"/v1/file/{file_id}", headers=headers)

    return {"hasura GET": get, "hasura DELETE": delete}


def signed_url_attempts(caller: Backend) -> dict[str, Attempt]:
    return {
        "signed-url GET": lambda i: caller.get(f"/v1/files/{i}"),
        "signed-url status": lambda i: caller.get(f"/v1/files/{i}/status"),
        "signed-url download-url": lambda i: caller.get(f"/v1/files/{i}/download-url"),
        "signed-url DELETE": lambda i: caller.delete(f"/v1/files/{i}"),
    }


def schedule_attempts(caller: Caller, schedule: str) -> dict[str, Attempt]:
    return {
        "schedules get_s3_object": caller.read_url,
        "schedules delete_s3_object": lambda i: caller.presigned(
            method_name="delete_s3_object", document=i
        ),
        "schedules remove": lambda i: caller.remove(schedule, i),
    }


def test_no_realm_reaches_another_realms_files_by_any_face(
    server: LiveServer, subject: str, backend: Backend, owned: Owned
) -> None:
    other_key = Backend(server, server.create_api_key(f"other-{uuid.uuid4().hex[:8]}"))
    strangers: dict[str, dict[str, Attempt]] = {
        "bearer user": hasura_attempts(server, server.auth(subject)),
        "bearer admin": hasura_attempts(server, server.auth("root", "admin")),
        "api key 1": signed_url_attempts(backend.as_user(subject)),
        "api key 2": signed_url_attempts(other_key.as_user(subject)),
        "cognito user": schedule_attempts(Caller(server, POOL, subject), owned.schedule),
        "cognito admin": schedule_attempts(
            Caller(server, POOL, str(uuid.uuid4()), admin=True), owned.schedule
        ),
    }
    own_realm = {
        owned.hasura_id: "bearer",
        owned.signed_url_id: "api key 1",
        owned.document_id: "cognito",
    }
    tried = 0
    for file_id, owner_realm in own_realm.items():
        for realm, attempts in strangers.items():
            if realm.startswith(owner_realm):
                continue
            for what, attempt in attempts.items():
                response = attempt(file_id)
                tried += 1
                assert response.status_code == 404, (realm, what, file_id, response.text)
    assert tried == 14 + 14 + 12  # every stranger's every attempt on each file
    # Nothing changed: each owner still reads its file through its own face.
    with server.client() as client:
        mine = client.get(f"/v1/file/{owned.hasura_id}", headers=server.auth(subject))
    assert mine.status_code == 200 and mine.content == CSV
    owner = backend.as_user(subject)
    assert owner.get(f"/v1/files/{owned.signed_url_id}/status").json()["status"] == "ready"
    url = wait_readable(Caller(server, POOL, subject), owned.document_id)
    assert httpx.get(url, timeout=30).content == PDF


def test_an_api_key_sees_only_the_files_made_through_it(
    server: LiveServer, backend: Backend
) -> None:
    ticket = backend.upload_url("report.csv")
    other_key = Backend(server, server.create_api_key(f"k-{uuid.uuid4().hex[:8]}"), backend.user)
    assert other_key.get(f"/v1/files/{ticket['file_id']}").status_code == 404
    assert backend.get(f"/v1/files/{ticket['file_id']}").status_code == 200


def test_a_hasura_admin_is_admin_of_its_own_realm_only(
    server: LiveServer, backend: Backend
) -> None:
    mine = str(uuid.uuid4())
    with server.client() as client:
        made = client.post(
            f"/v1/file/{mine}",
            content=CSV,
            headers={**server.auth("someone"), "Content-Type": "text/csv"},
        )
        assert made.status_code in (200, 201)
        # Admin of the Bearer realm: may read a Bearer user's file ...
        admin = server.auth("root", "admin")
        for _ in range(150):
            read = client.get(f"/v1/file/{mine}", headers=admin)
            if read.status_code != 409:  # 409 until processing has finished
                break
            time.sleep(0.1)
        assert read.status_code == 200
    # ... but not a signed-url upload, even knowing its id.
    ticket = backend.upload_url("report.csv")
    with server.client() as client:
        assert client.get(f"/v1/file/{ticket['file_id']}", headers=admin).status_code == 404
