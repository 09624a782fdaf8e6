"""filedock behind Debian's nginx running the shipped deploy/nginx/filedock.conf, over TLS.

`filedock serve` listens on loopback as docs/deployment.md sets it up (FILEDOCK_PUBLIC_URL is
nginx's https address, FILEDOCK_TRUSTED_PROXIES names nginx); every client here talks only
to nginx. What a self-hoster relies on: a GiB streams through both ways unchanged and never
lands on nginx's disk; signed URLs minted behind the proxy work from outside it; redirects
stay on https; the client's address, not the proxy's, reaches the rate limiter and the log.

Transfer rates are printed (run with -s to see them), never asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from filedock.ports.objectstore_local import TEMP_DIR_NAME
from tests.fixtures.nginx import (
    BUFFERED_REQUEST,
    BUFFERED_RESPONSE,
    SHIPPED_SITE,
    Nginx,
    require_nginx,
    started_nginx,
)
from tests.fixtures.server import LiveServer, free_port, server_env

DEPLOY = SHIPPED_SITE.parents[1]
SHIPPED_UNIT = DEPLOY / "systemd" / "filedock.service"
SHIPPED_ENV = DEPLOY / "filedock.env.example"
GIB = 1 << 30
CHUNK = 1 << 20
# How often (in chunks) the folders a buffering nginx would write to are looked at.
LOOK_EVERY = 32
ANONYMOUS_RATE = 3
CSV = b"name,size\nreport,12\nsummary,7\n" * 100


@dataclass
class Deployment:
    server: LiveServer
    proxy: Nginx


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_nginx()  # before starting filedock: without nginx there is nothing to test
    base = tmp_path_factory.mktemp("behind-nginx")
    https_port = free_port()
    data_dir = base / "data"
    data_dir.mkdir()
    env = server_env(
        data_dir,
        public_url=f"https://127.0.0.1:{https_port}",
        trusted_proxies="127.0.0.1",
        anonymous_rate_per_minute=str(ANONYMOUS_RATE),
        # Processing hashes the whole GiB before it may be downloaded; on a busy CI machine
        # that can take longer than the default 10 s wait.
        read_wait_seconds="300",
        log_format="json",
    )
    server = LiveServer(data_dir=data_dir, env=env)
    server.start()
    try:
        proxy = started_nginx(base / "nginx", upstream_port=server.port, https_port=https_port)
        try:
            yield Deployment(server, proxy)
        finally:
            proxy.stop()
    finally:
        server.stop()


def through(proxy: Nginx, source: str = "127.0.0.1", timeout: float = 60) -> httpx.Client:
    """A client that reaches only nginx, from `source` (any 127.x address on Linux).

    It trusts exactly the test's self-signed certificate (not verify=False), so the TLS
    handshake and the certificate's IP address are checked as any real client checks them.
    """
    context = ssl.create_default_context(cafile=str(proxy.certificate))
    transport = httpx.HTTPTransport(verify=context, local_address=source)
    return httpx.Client(base_url=proxy.base_url, transport=transport, timeout=timeout)


def files_in(folder: Path) -> list[str]:
    return [str(path) for path in folder.rglob("*") if path.is_file()]


def bytes_in(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@pytest.mark.timeout(1800)
def test_a_gibibyte_goes_up_and_comes_back_through_nginx_unchanged_without_touching_its_disk(
    deployment: Deployment,
) -> None:
    server, proxy = deployment.server, deployment.proxy
    # The folders nginx would buffer bodies in exist, so finding them empty means something.
    assert proxy.client_body_temp.is_dir() and proxy.proxy_temp.is_dir()
    in_filedock = server.data_dir / "objects" / TEMP_DIR_NAME
    auth = server.auth("nginx-gib")
    file_id = f"nginx-gib-{uuid.uuid4().hex[:8]}"
    sent = hashlib.sha256()
    on_nginx_disk: list[str] = []
    arrived_midway = 0

    def body() -> Iterator[bytes]:
        nonlocal arrived_midway
        # Random bytes, each MiB numbered: nothing along the way can shortcut a repeated block.
        block = bytearray(os.urandom(CHUNK))
        for index in range(GIB // CHUNK):
            block[:8] = index.to_bytes(8, "big")  # also keeps it from starting like a program
            chunk = bytes(block)
            sent.update(chunk)
            if index % LOOK_EVERY == 0:
                on_nginx_disk.extend(files_in(proxy.client_body_temp))
            if index == GIB // CHUNK // 2:
                # Half sent: a streaming proxy has already passed most of it to filedock,
                # whose local store is writing it under .tmp/; a buffering one, none of it.
                arrived_midway = bytes_in(in_filedock)
            yield chunk

    headers = {**auth, "Content-Type": "application/octet-stream", "Content-Length": str(GIB)}
    with through(proxy, timeout=300) as client:
        started = time.perf_counter()
        uploaded = client.post(f"/v1/file/{file_id}", content=body(), headers=headers)
        upload_seconds = time.perf_counter() - started
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["file_size"] == GIB

        received = hashlib.sha256()
        size = 0
        started = time.perf_counter()
        with client.stream("GET", f"/v1/file/{file_id}", headers=auth) as response:
            assert response.status_code == 200, response.read()[:500]
            waited = time.perf_counter() - started  # processing the upload, before any byte
            for index, chunk in enumerate(response.iter_bytes(CHUNK)):
                received.update(chunk)
                size += len(chunk)
                if index % LOOK_EVERY == 0:
                    on_nginx_disk.extend(files_in(proxy.proxy_temp))
        download_seconds = time.perf_counter() - started - waited
        assert client.delete(f"/v1/file/{file_id}", headers=auth).status_code == 200

    assert size == GIB
    assert received.hexdigest() == sent.hexdigest()
    # Only socket buffers lie between the client and filedock: far less than a quarter GiB.
    assert arrived_midway > GIB // 4, f"filedock had {arrived_midway} bytes at half-time"
    assert on_nginx_disk == []
    nginx_log = proxy.error_log_text()
    assert BUFFERED_REQUEST not in nginx_log
    assert BUFFERED_RESPONSE not in nginx_log
    print(
        f"\n1 GiB through nginx (TLS): upload {GIB / upload_seconds / 2**20:.0f} MiB/s "
        f"({upload_seconds:.1f} s), download {GIB / download_seconds / 2**20:.0f} MiB/s "
        f"({download_seconds:.1f} s, after {waited:.1f} s of processing); "
        f"{arrived_midway / 2**20:.0f} MiB in filedock at half-time"
    )


def test_the_buffering_checks_notice_an_nginx_that_writes_the_upload_to_disk(
    deployment: Deployment, tmp_path: Path
) -> None:
    # The checks above must be able to fail: the same site with request buffering on.
    server = deployment.server
    proxy = started_nginx(
        tmp_path / "nginx",
        upstream_port=server.port,
        edit="proxy_request_buffering off;=>proxy_request_buffering on;",
    )
    try:
        with through(proxy) as client:
            uploaded = client.post(
                f"/v1/file/nginx-buffered-{uuid.uuid4().hex[:8]}",
                content=os.urandom(8 * CHUNK),
                headers={**server.auth("nginx-buffered"), "Content-Type": "text/plain"},
            )
        assert uploaded.status_code == 200, uploaded.text
    finally:
        proxy.stop()
    assert BUFFERED_REQUEST in proxy.error_log_text()


def settled(client: httpx.Client, file_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/v1/files/{file_id}/status", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] not in ("pending", "uploaded", "processing"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{file_id} never settled; last status {body}")


def test_a_signed_url_minted_behind_nginx_names_the_https_address_and_works_through_it(
    deployment: Deployment,
) -> None:
    server, proxy = deployment.server, deployment.proxy
    key = server.create_api_key(f"behind-nginx-{uuid.uuid4().hex[:8]}")
    headers = {"api-key": key, "user-id": str(uuid.uuid4())}
    with through(proxy, source="127.0.0.2") as client:
        minted = client.get("/v1/files/signed-url", params={"filename": "r.csv"}, headers=headers)
        assert minted.status_code == 200, minted.text
        ticket = minted.json()
        assert ticket["file_url"].startswith(f"{proxy.base_url}/_blobs/")
        method, url = ticket["upload_method"], ticket["file_url"]
        put = client.request(method, url, content=CSV, headers=ticket["upload_headers"])
        assert put.status_code == 200, put.text
        assert settled(client, ticket["file_id"], headers)["status"] == "ready"
        link = client.get(f"/v1/files/{ticket['file_id']}/download-url", headers=headers)
        assert link.status_code == 200, link.text
        url = link.json()["url"]
        assert url.startswith(f"{proxy.base_url}/_blobs/")
        downloaded = client.get(url)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.content == CSV


def test_a_redirect_filedock_makes_behind_nginx_stays_on_the_https_address(
    deployment: Deployment,
) -> None:
    proxy = deployment.proxy
    with through(proxy) as client:
        # Starlette's trailing-slash redirects: built from the Host nginx sends and plain http.
        for path in ("/ui", "/v1/files"):
            response = client.get(path)
            assert response.status_code == 307, response.text
            assert response.headers["location"] == f"{proxy.base_url}{path}/"


def test_plain_http_to_nginx_is_only_sent_to_https(deployment: Deployment) -> None:
    proxy = deployment.proxy
    response = httpx.get(f"http://127.0.0.1:{proxy.http_port}/v1/files/?limit=1", timeout=10)
    assert response.status_code == 301
    assert response.headers["location"] == "https://127.0.0.1/v1/files/?limit=1"


def create_auth_request(proxy: Nginx, source: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with through(proxy, source=source) as client:
        response = client.post("/accounts/auth_requests/", headers=headers)
    if response.status_code == 429:
        assert response.json()["@event"] == "RATE_LIMIT_EXCEEDED"
    return response.status_code


def test_each_client_behind_nginx_has_its_own_anonymous_budget_and_cannot_claim_another(
    deployment: Deployment,
) -> None:
    proxy = deployment.proxy
    # Every request reaches filedock from nginx's 127.0.0.1; only the address nginx
    # forwards tells the clients 127.0.0.2 and 127.0.0.3 apart.
    first = [create_auth_request(proxy, "127.0.0.2") for _ in range(ANONYMOUS_RATE + 1)]
    assert first == [201] * ANONYMOUS_RATE + [429]
    # nginx appends the address it saw to what the client wrote: filedock reads from the right.
    assert create_auth_request(proxy, "127.0.0.2", forwarded_for="198.51.100.7") == 429
    assert create_auth_request(proxy, "127.0.0.3") == 201


def access_line(server: LiveServer, request_id: str) -> dict[str, Any]:
    # The line is written once the response has gone: give the server a moment.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if request_id in line and line.startswith("{"):
                entry: dict[str, Any] = json.loads(line)
                if entry.get("event") == "request" and entry.get("request_id") == request_id:
                    return entry
        time.sleep(0.1)
    raise AssertionError(f"no access line for {request_id}")


def test_the_access_log_names_the_client_nginx_forwarded_not_the_proxy(
    deployment: Deployment,
) -> None:
    server, proxy = deployment.server, deployment.proxy
    request_id = f"behind-nginx-{uuid.uuid4().hex}"
    with through(proxy, source="127.0.0.2") as client:
        response = client.get("/healthz", headers={"X-Request-ID": request_id})
        assert response.status_code == 200
    entry = access_line(server, request_id)
    assert "127.0.0.2" in entry.values(), entry
    assert "127.0.0.1" not in entry.values(), entry


def environment_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as systemd's EnvironmentFile= reads the shipped example."""
    lines = path.read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_the_shipped_environment_file_is_accepted_by_filedock_as_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILEDOCK_", "AWS_"))}
    env.update(environment_file(SHIPPED_ENV))
    # Only where the data folder is: reading the settings creates it (and its secret).
    env["FILEDOCK_DATA_DIR"] = str(tmp_path / "data")
    checked = subprocess.run(
        [sys.executable, "-c", "from filedock.config import load_settings; load_settings()"],
        env=env,
        cwd=tmp_path,  # no .env of the checkout is read
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_shipped_nginx_site_unit_and_settings_agree_with_each_other() -> None:
    # Directives only: the comments name the same values in prose.
    site = "\n".join(line.split("#", 1)[0] for line in SHIPPED_SITE.read_text().splitlines())
    unit, env = SHIPPED_UNIT.read_text(), environment_file(SHIPPED_ENV)
    # nginx refuses at the same size filedock does.
    size, unit_letter = re.findall(r"client_max_body_size (\d+)([kmg]?);", site)[0]
    exponent = {"": 0, "k": 1, "m": 2, "g": 3}[unit_letter]
    assert int(size) * 1024**exponent == int(env["FILEDOCK_MAX_UPLOAD_BYTES"])
    # nginx sends to where the unit's filedock listens, and is the proxy filedock believes.
    host, port = re.findall(r"server (127\.0\.0\.1):(\d+);", site)[0]
    assert f"serve --host {host} --port {port} " in unit
    assert host in env["FILEDOCK_TRUSTED_PROXIES"].split(",")
    # The public address is nginx's https name.
    server_names = set(re.findall(r"server_name ([^;]+);", site))
    assert env["FILEDOCK_PUBLIC_URL"] == f"https://{server_names.pop()}" and not server_names
    # The unit may write where the settings keep data and scratch files.
    data_dir = env["FILEDOCK_DATA_DIR"]
    assert f"ReadWritePaths={data_dir}\n" in unit
    assert "StateDirectory=filedock filedock/scratch\n" in unit and data_dir == "/var/lib/filedock"
    assert env["FILEDOCK_EXTRACT_SCRATCH_DIR"] == f"{data_dir}/scratch"
    assert "EnvironmentFile=/etc/filedock/filedock.env\n" in unit
