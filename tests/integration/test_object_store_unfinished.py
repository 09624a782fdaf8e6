"""Writes a crash left unfinished: removed once idle, while a live write is never touched.

A server killed mid-write leaves a file in the local store's temporary folder, or an open
multipart upload on S3 (whose parts are billed until aborted). The dead writer is simulated by
leaving such a leftover behind the store's back, as the killed process would have.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from filedock.ports.objectstore import ObjectStore, StoreUnavailable
from filedock.ports.objectstore_local import TEMP_DIR_NAME, LocalObjectStore
from filedock.ports.objectstore_s3 import S3ObjectStore
from tests.fixtures.s3 import S3Endpoint
from tests.integration.object_store_support import (
    S3_PREFIX,
    Backstage,
    Gate,
    MiB,
    chunks,
    read_all,
    s3_store,
    until,
)


async def test_a_live_write_is_kept_by_the_clean_up_and_completes_intact(
    store: ObjectStore, backstage: Backstage, request: pytest.FixtureRequest
) -> None:
    gate = Gate()
    # Past 5 MiB, so that on S3 a multipart upload is open while the source waits.
    writing = asyncio.create_task(store.write("files/live", gate.source(b"a" * 6 * MiB, b"b")))
    await gate.wait_paused(writing)
    await until(lambda: bool(backstage.unfinished_writes()))
    if isinstance(store, S3ObjectStore):
        # moto reports every upload as initiated in 2010; a part's time is real, so wait for
        # the first part, as a real S3 would date the upload itself.
        client = request.getfixturevalue("s3_endpoint").client()
        await until(lambda: _has_parts(client, store.bucket), timeout=10)

    assert await store.remove_unfinished_writes(timedelta(seconds=30)) == 0
    assert len(backstage.unfinished_writes()) == 1

    gate.release.set()
    stored = await writing
    assert stored.size == 6 * MiB + 1
    assert await read_all(store, "files/live") == b"a" * 6 * MiB + b"b"
    assert backstage.unfinished_writes() == []


# Local folder -------------------------------------------------------------------------------


async def test_an_unfinished_write_idle_for_an_hour_is_removed_and_a_fresh_one_kept(
    tmp_path: Path,
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    await store.write("files/kept", chunks(b"kept"))
    temp = store.root / TEMP_DIR_NAME
    (temp / "dead-writer").write_bytes(b"half an upload")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(temp / "dead-writer", (two_hours_ago, two_hours_ago))
    (temp / "live-writer").write_bytes(b"still arriving")

    assert await store.remove_unfinished_writes(timedelta(hours=1)) == 1

    assert [path.name for path in temp.iterdir()] == ["live-writer"]
    assert await read_all(store, "files/kept") == b"kept"


async def test_a_missing_temporary_folder_means_no_unfinished_writes(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (store.root / TEMP_DIR_NAME).rmdir()

    assert await store.remove_unfinished_writes(timedelta(0)) == 0


async def test_a_temporary_folder_that_cannot_be_listed_makes_the_store_unavailable(
    tmp_path: Path,
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    (store.root / TEMP_DIR_NAME).rmdir()
    (store.root / TEMP_DIR_NAME).write_bytes(b"not a folder")

    with pytest.raises(StoreUnavailable):
        await store.remove_unfinished_writes(timedelta(0))


# S3 -----------------------------------------------------------------------------------------


async def test_s3_uploads_under_the_prefix_idle_too_long_are_aborted_and_live_ones_kept(
    s3_endpoint: S3Endpoint, s3_bucket: str
) -> None:
    store = s3_store(s3_endpoint, s3_bucket)
    client = s3_endpoint.client()

    def start(key: str) -> str:
        upload_id: str = client.create_multipart_upload(Bucket=s3_bucket, Key=key)["UploadId"]
        return upload_id

    # moto dates every upload's start in 2010: "dead" has been idle since then.
    start(f"{S3_PREFIX}/files/dead")
    live_key = f"{S3_PREFIX}/files/live"
    client.upload_part(
        Bucket=s3_bucket, Key=live_key, UploadId=start(live_key), PartNumber=1, Body=b"part"
    )
    start("other-tenant/files/dead")

    def open_uploads() -> list[str]:
        uploads = client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        return sorted(upload["Key"] for upload in uploads)

    try:
        # Started less than a century ago: not even looked at.
        assert await store.remove_unfinished_writes(timedelta(days=36500)) == 0
        assert len(open_uploads()) == 3

        # Started long ago, but "live" got a part just now: only "dead" is idle.
        assert await store.remove_unfinished_writes(timedelta(seconds=30)) == 1
        assert open_uploads() == ["other-tenant/files/dead", live_key]

        assert await store.remove_unfinished_writes(timedelta(0)) == 1
        assert open_uploads() == ["other-tenant/files/dead"]
    finally:
        await store.close()


def _has_parts(client: Any, bucket: str) -> bool:
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return any(
        client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get(
            "Parts"
        )
        for upload in uploads
    )
