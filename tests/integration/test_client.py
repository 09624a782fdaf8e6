"""The Python client (`filedock.client`) against a real server: SQLite with the local store,
and PostgreSQL with S3 (moto). Uploads stream to the signed URL and wait for processing;
downloads resume a partial `.part` file with `Range` and are checked against size and sha256.
An EICAR upload goes to a server scanning with the test set-up's own clamd.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from filedock.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    UnreachableError,
)
from tests.fixtures.clamd import ClamdServer
from tests.fixtures.server import LiveServer, free_port, server_env
from tests.integration.signed_url_support import CSV, EICAR, PDF, query_of

BACKENDS = pytest.mark.parametrize("server", ["sqlite-local", "postgres-s3"], indirect=True)
# Big enough to take several chunks each way.
BIG = b"id,name,amount\n" + b"".join(b"%d,item %d,%d\n" % (n, n, n * 7) for n in range(60_000))


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    return server.create_api_key(f"client-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def client(server: LiveServer, api_key: str) -> Iterator[Client]:
    with Client(server.base_url, api_key=api_key, user_id=str(uuid.uuid4())) as client:
        yield client


@pytest.fixture
def big_csv(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.csv"
    path.write_bytes(BIG)
    return path


def on_s3(server: LiveServer) -> bool:
    return server.env.get("FILEDOCK_STORAGE_URL", "").startswith("s3://")


@BACKENDS
def test_an_upload_streams_the_file_and_returns_it_ready(client: Client, big_csv: Path) -> None:
    moved: list[tuple[int, int | None]] = []
    info = client.upload(big_csv, progress=lambda done, total: moved.append((done, total)))
    assert info.ready and info.status == "ready" and info.reason is None
    assert info.filename == "numbers.csv" and info.content_type == "text/csv"
    assert info.size == len(BIG) and info.sha256 == hashlib.sha256(BIG).hexdigest()
    assert moved[-1] == (len(BIG), len(BIG)) and len(moved) > 1
    assert client.status(info.file_id).status == "ready"
    assert client.info(info.file_id) == info


@BACKENDS
def test_bytes_are_uploaded_under_the_name_given(client: Client) -> None:
    info = client.upload(PDF, "report.pdf", persist=False)
    assert info.ready and info.filename == "report.pdf" and info.persist is False
    assert info.expires_at is not None
    with pytest.raises(ValueError, match="filename"):
        client.upload(PDF)


@BACKENDS
def test_list_files_walks_every_page_of_this_users_files(client: Client) -> None:
    ids = sorted(client.upload(CSV, f"n{n}.csv").file_id for n in range(3))
    assert [f.file_id for f in client.list_files(page_size=2)] == ids
    with Client(
        client.credentials.base_url,
        api_key=client.credentials.api_key,
        user_id=str(uuid.uuid4()),
    ) as stranger:
        assert list(stranger.list_files()) == []


@BACKENDS
def test_a_share_link_downloads_the_bytes_and_expires_as_asked(
    server: LiveServer, client: Client
) -> None:
    info = client.upload(CSV, "share.csv")
    link = client.share(info.file_id, expires_in=timedelta(seconds=2))
    assert httpx.get(link, timeout=30).content == CSV
    if on_s3(server):
        # moto does not check a presigned URL's expiry (S3 does): what S3 is told is checked.
        assert query_of(link)["X-Amz-Expires"] == "2"
    else:
        time.sleep(2.5)
        assert httpx.get(link, timeout=30).status_code == 403
    week = client.share(info.file_id, expires_in=timedelta(days=7))
    assert httpx.get(week, timeout=30).content == CSV


@BACKENDS
def test_download_writes_the_same_bytes_under_the_files_name(
    client: Client, big_csv: Path, tmp_path: Path
) -> None:
    info = client.upload(big_csv)
    folder = tmp_path / "downloads"
    folder.mkdir()
    saved = client.download(info.file_id, folder)
    assert saved == folder / "numbers.csv" and saved.read_bytes() == BIG
    assert client.download(info.file_id, tmp_path / "copy.csv").read_bytes() == BIG
    assert not list(tmp_path.glob("*.part")) and not list(folder.glob("*.part"))


@BACKENDS
def test_download_resumes_a_partial_file(client: Client, big_csv: Path, tmp_path: Path) -> None:
    info = client.upload(big_csv)
    target = tmp_path / "resumed.csv"
    half = len(BIG) // 2
    (tmp_path / "resumed.csv.part").write_bytes(BIG[:half])
    moved: list[int] = []

    saved = client.download(info.file_id, target, progress=lambda done, total: moved.append(done))

    assert saved.read_bytes() == BIG
    assert moved[0] > half  # the first half was not fetched again
    assert not (tmp_path / "resumed.csv.part").exists()


@BACKENDS
def test_a_partial_file_of_other_bytes_is_refused_and_removed(
    client: Client, big_csv: Path, tmp_path: Path
) -> None:
    info = client.upload(big_csv)
    part = tmp_path / "wrong.csv.part"
    part.write_bytes(b"x" * 1000)
    with pytest.raises(IntegrityError, match="sha256"):
        client.download(info.file_id, tmp_path / "wrong.csv")
    assert not part.exists() and not (tmp_path / "wrong.csv").exists()
    # Starting over then works.
    assert client.download(info.file_id, tmp_path / "wrong.csv").read_bytes() == BIG


@BACKENDS
def test_delete_removes_the_file(client: Client) -> None:
    info = client.upload(CSV, "gone.csv")
    client.delete(info.file_id)
    with pytest.raises(NotFoundError) as missing:
        client.info(info.file_id)
    assert missing.value.status == 404
    assert missing.value.code == "attachment_document_does_not_exist"
    assert info.file_id not in [f.file_id for f in client.list_files()]


@BACKENDS
def test_failures_are_filedock_errors_with_status_code_and_detail(
    server: LiveServer, client: Client, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = client.upload(CSV, "mine.csv")
    wrong_key = Client(server.base_url, api_key="fdk_" + "x" * 43, user_id=str(uuid.uuid4()))
    with wrong_key, pytest.raises(AuthenticationError) as refused:
        list(wrong_key.list_files())
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert "Missing or invalid API key" in str(refused.value)
    other = Client(server.base_url, api_key=api_key, user_id=str(uuid.uuid4()))
    with other, pytest.raises(PermissionDeniedError):
        other.download(info.file_id, "never.csv")
    with pytest.raises(FileNotFoundError):
        client.upload(Path("/nonexistent/file.csv"))
    down = Client(f"http://127.0.0.1:{free_port()}", api_key=api_key, user_id="u")
    with down, pytest.raises(UnreachableError, match="cannot reach"):
        down.info(info.file_id)
    for name in ("FILEDOCK_API_KEY", "FILEDOCK_USER_ID"):
        monkeypatch.delenv(name, raising=False)
    with Client(server.base_url) as anonymous, pytest.raises(ConfigurationError):
        anonymous.info(info.file_id)


@BACKENDS
def test_the_async_client_uploads_lists_shares_downloads_and_deletes(
    server: LiveServer, api_key: str, big_csv: Path, tmp_path: Path
) -> None:
    async def scenario() -> None:
        user = str(uuid.uuid4())
        async with AsyncClient(server.base_url, api_key=api_key, user_id=user) as client:
            moved: list[int] = []
            info = await client.upload(big_csv, progress=lambda done, total: moved.append(done))
            assert info.ready and info.size == len(BIG) and moved[-1] == len(BIG)
            assert [f.file_id async for f in client.list_files()] == [info.file_id]
            assert (await client.status(info.file_id)).status == "ready"
            link = await client.share(info.file_id, expires_in=60)
            async with httpx.AsyncClient(timeout=30) as http:
                assert (await http.get(link)).content == BIG
            (tmp_path / "async.csv.part").write_bytes(BIG[:1000])
            saved = await client.download(info.file_id, tmp_path / "async.csv")
            assert saved.read_bytes() == BIG
            await client.delete(info.file_id)
            with pytest.raises(NotFoundError):
                await client.info(info.file_id)

    asyncio.run(scenario())


# Scanning: a server of its own, with the test set-up's clamd ------------------------------


@pytest.fixture(scope="module")
def scanning(
    clamd_server: ClamdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("client-scanning")
    live = LiveServer(data_dir=data_dir, env=server_env(data_dir, clamd_url=clamd_server.unix_url))
    live.start()
    yield live
    live.stop()


def test_an_eicar_upload_ends_infected_and_is_never_served(
    scanning: LiveServer, clamd: ClamdServer, tmp_path: Path
) -> None:
    key = scanning.create_api_key(f"scan-{uuid.uuid4().hex[:8]}")
    with Client(scanning.base_url, api_key=key, user_id=str(uuid.uuid4())) as client:
        info = client.upload(EICAR, "notes.txt")
        assert info.status == "infected" and not info.ready and info.final
        assert info.reason is not None and "EICAR" in info.reason
        with pytest.raises(ConflictError) as refused:
            client.download(info.file_id, tmp_path / "eicar.txt")
        assert refused.value.status == 409
        assert not list(tmp_path.iterdir())
