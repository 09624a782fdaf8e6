"""`filedock upload|ls|share|download|rm|extract` through the installed entry point (the
venv's `filedock` script, in a subprocess, configured by environment variables as a person
would), against a real server: SQLite with the local store, PostgreSQL with S3 (moto).

Failures must be one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import csv
import io
import random
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fixtures.server import LiveServer, free_port
from tests.integration.signed_url_support import CSV, PDF

pytestmark = pytest.mark.parametrize("server", ["sqlite-local", "postgres-s3"], indirect=True)

FILEDOCK = Path(sys.executable).with_name("filedock")
ROWS = 500
PRODUCTS = ["apple", "bread", "cake", "dates"]


def shop_rows() -> list[dict[str, Any]]:
    rng = random.Random(12)
    return [
        {"id": i, "product": rng.choice(PRODUCTS), "price": rng.randint(0, 100)}
        for i in range(ROWS)
    ]


def SERVER_SETTINGS(data_dir: Path) -> dict[str, str]:
    datasets = data_dir / "datasets"
    datasets.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(shop_rows()), datasets / "shop.parquet")
    return {"catalogue_data_roots": str(datasets)}


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def failed_in_one_line(self) -> str:
        assert self.code != 0, self.out
        assert "Traceback" not in self.err and "Traceback" not in self.out
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("filedock: "), self.err
        return lines[0]


@dataclass
class Person:
    """Someone at a shell with FILEDOCK_URL, FILEDOCK_API_KEY, FILEDOCK_USER_ID (and a token)."""

    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, **env: str) -> Run:
        done = subprocess.run(
            [str(FILEDOCK), *args],
            env={**self.env, **env},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> Run:
        run = self.run(*args)
        assert run.code == 0, run.err
        assert "Traceback" not in run.err
        return run


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    return server.create_api_key(f"cli-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def person(server: LiveServer, api_key: str, tmp_path: Path) -> Person:
    env = {k: v for k, v in server.env.items() if not k.startswith(("FILEDOCK_", "AWS_"))}
    env.update(
        FILEDOCK_URL=server.base_url,
        FILEDOCK_API_KEY=api_key,
        FILEDOCK_USER_ID=str(uuid.uuid4()),
        COLUMNS="120",
    )
    return Person(env, tmp_path)


@pytest.fixture
def two_files(person: Person) -> list[Path]:
    (person.cwd / "notes.csv").write_bytes(CSV)
    (person.cwd / "report.pdf").write_bytes(PDF)
    return [person.cwd / "notes.csv", person.cwd / "report.pdf"]


def uploaded(person: Person, files: list[Path]) -> dict[str, str]:
    """Upload `files`; their ids by name."""
    run = person.ok("upload", *map(str, files))
    ids = {}
    for line, path in zip(run.lines, files, strict=True):
        file_id, status, name = line.split()
        assert (status, name) == ("ready", path.name)
        ids[name] = str(uuid.UUID(file_id))
    return ids


def test_upload_prints_each_files_id_and_final_status(
    person: Person, two_files: list[Path]
) -> None:
    ids = uploaded(person, two_files)
    assert set(ids) == {"notes.csv", "report.pdf"}


def test_upload_temporary_files_are_removed_after_a_day(
    server: LiveServer, person: Person, two_files: list[Path]
) -> None:
    line = person.ok("upload", "--temporary", str(two_files[0])).out
    file_id = line.split()[0]
    headers = {"api-key": person.env["FILEDOCK_API_KEY"], "user-id": person.env["FILEDOCK_USER_ID"]}
    with server.client() as client:
        meta = client.get(f"/v1/files/{file_id}", headers=headers).json()
    assert meta["persist"] is False and meta["expires_at"] is not None


def test_ls_shows_the_users_files(person: Person, two_files: list[Path]) -> None:
    ids = uploaded(person, two_files)
    run = person.ok("ls")
    assert run.lines[0].split() == ["id", "status", "size", "created", "name"]
    listed = {line.split()[0]: line.split() for line in run.lines[1:]}
    assert set(listed) == set(ids.values())
    assert listed[ids["notes.csv"]][1:3] == ["ready", str(len(CSV))]
    assert listed[ids["report.pdf"]][-1] == "report.pdf"


def test_share_prints_a_link_that_downloads_the_bytes(
    person: Person, two_files: list[Path]
) -> None:
    ids = uploaded(person, two_files)
    link = person.ok("share", ids["report.pdf"], "--expires", "1h").out.strip()
    assert httpx.get(link, timeout=30).content == PDF
    for wrong in ("8d", "1x", "0s"):
        person.run("share", ids["report.pdf"], "--expires", wrong).failed_in_one_line()


def test_download_writes_identical_bytes_and_resumes_a_partial_file(
    person: Person, two_files: list[Path]
) -> None:
    ids = uploaded(person, two_files)
    out = person.cwd / "copy.csv"
    run = person.ok("download", ids["notes.csv"], "-o", str(out))
    assert run.out.strip() == str(out) and out.read_bytes() == CSV
    (person.cwd / "again.csv.part").write_bytes(CSV[:100])
    person.ok("download", ids["notes.csv"], "-o", "again.csv")
    assert (person.cwd / "again.csv").read_bytes() == CSV
    assert not (person.cwd / "again.csv.part").exists()


def test_rm_removes_the_file(person: Person, two_files: list[Path]) -> None:
    ids = uploaded(person, two_files)
    person.ok("rm", ids["notes.csv"])
    remaining = [line.split()[0] for line in person.ok("ls").lines[1:]]
    assert remaining == [ids["report.pdf"]]
    line = person.run("rm", ids["notes.csv"]).failed_in_one_line()
    assert "404" in line


def test_a_wrong_api_key_is_one_line_and_a_failure(person: Person, two_files: list[Path]) -> None:
    for args in (("ls",), ("upload", str(two_files[0])), ("share", str(uuid.uuid4()))):
        run = person.run(*args, FILEDOCK_API_KEY="fdk_" + "x" * 43)
        assert "Missing or invalid API key" in run.failed_in_one_line()


def test_a_missing_local_file_is_one_line_and_uploads_nothing(
    person: Person, two_files: list[Path]
) -> None:
    line = person.run("upload", str(two_files[0]), "no-such-file.csv").failed_in_one_line()
    assert "no-such-file.csv" in line
    assert person.ok("ls").lines[1:] == []


def test_an_unreachable_server_is_one_line(person: Person) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    for args in (("ls",), ("download", str(uuid.uuid4())), ("ls", "--url", nowhere)):
        run = person.run(*args, FILEDOCK_URL=nowhere)
        assert "cannot reach" in run.failed_in_one_line()
    assert "not an http" in person.run("ls", "--url", "nonsense").failed_in_one_line()


# Extracts ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def item_id(server: LiveServer) -> int:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
    server.cli("account", "create", "--email", email, "--type", "ADMIN")
    token = server.cli("account", "token", "--email", email)
    body = {
        "name": f"shop {uuid.uuid4().hex[:8]}",
        "executor_type": "DUCKDB",
        "spec": [
            {"name": name, "type": kind, "is_nullable": False, "size": None, "distribution": None}
            for name, kind in (("id", "INTEGER"), ("product", "STRING"), ("price", "INTEGER"))
        ],
        "sample": [],
        "location": str(server.data_dir / "datasets" / "shop.parquet"),
    }
    with server.client() as client:
        created = client.post(
            "/catalogue/items/", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


@pytest.fixture
def researcher(server: LiveServer, person: Person) -> Person:
    email = f"researcher-{uuid.uuid4().hex[:8]}@example.org"
    server.cli("account", "create", "--email", email)
    return Person(
        {**person.env, "FILEDOCK_TOKEN": server.cli("account", "token", "--email", email)},
        person.cwd,
    )


def test_extract_waits_for_the_request_and_downloads_the_filtered_rows(
    researcher: Person, item_id: int
) -> None:
    run = researcher.ok(
        *("extract", str(item_id), "--columns", "id,product,price"),
        *("--where", "price>=78", "--where", "product != cake", "--sample", "1"),
        *("-o", "shop.csv"),
    )
    assert run.out.strip() == "shop.csv"
    rows = list(csv.DictReader(io.StringIO((researcher.cwd / "shop.csv").read_text())))
    want = [
        {k: str(v) for k, v in row.items()}
        for row in shop_rows()
        if row["price"] >= 78 and row["product"] != "cake"
    ]
    assert sorted(rows, key=lambda r: int(r["id"])) == want


def test_extract_as_parquet_keeps_a_sample(researcher: Person, item_id: int) -> None:
    researcher.ok(
        *("extract", str(item_id), "--columns", "id,price", "--sample", "0.5"),
        *("--format", "parquet", "-o", "half.parquet"),
    )
    table = pq.read_table(researcher.cwd / "half.parquet")
    assert table.column_names == ["id", "price"]
    assert 0.3 * ROWS < table.num_rows < 0.7 * ROWS


def test_extract_failures_are_one_line(researcher: Person, person: Person, item_id: int) -> None:
    assert (
        "FILEDOCK_TOKEN"
        in person.run("extract", str(item_id), "--columns", "id").failed_in_one_line()
    )
    bad_where = researcher.run("extract", str(item_id), "--columns", "id", "--where", "price")
    assert bad_where.failed_in_one_line() and bad_where.code == 2
    unknown = researcher.run("extract", "999999", "--columns", "id").failed_in_one_line()
    assert "COULD_NOT_FIND_CATALOGUEITEM" in unknown
    bad_column = researcher.run("extract", str(item_id), "--columns", "nope")
    assert "400" in bad_column.failed_in_one_line()
