"""Running a download request's extract: the job behind `core/downloads.py`.

`run` takes a request from `pending` through `running` to `done` (or `failed`):
1. estimate its size and export it with the item's executor into a scratch file, while
   watching the request: once its last waiter leaves, the export is stopped;
2. stream the file into the object store as the File `extract-<request id>`, owned by the
   downloader realm (no caller of any face is in it: waiters read it through signed links);
3. process that File like any upload (hashed, scanned, sniffed), then mark the request done.

Each step is safe to repeat, so a job taken again after a crash picks up where the last run
stopped: the File's id is fixed per request, and every move of the request is a
compare-and-set on its status. A request cancelled at any point ends with no File left, by
this job or by `clear` (queued with the cancel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from filedock.core.catalogue_model import CatalogueItem, ExecutorType
from filedock.core.download_model import (
    CLEAR_EXTRACT_JOB,
    DOWNLOADER_REALM,
    EXTRACTS_PREFIX,
    DownloadRequest,
    RequestStatus,
)
from filedock.core.downloads import extract_query
from filedock.core.errors import InvalidInput, NotFound
from filedock.core.extract_model import ExtractFormat
from filedock.core.files import Clock, purge, utc_now
from filedock.core.lifecycle import FileLifecycle
from filedock.core.model import File, FileStatus
from filedock.core.processing import FileProcessor
from filedock.ports.catalogue import CatalogueItems
from filedock.ports.downloads import DownloadRequests
from filedock.ports.executor import Executor, ExtractQuery, ExtractUnreadable
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileIdTaken, FileRecords
from filedock.ports.objectstore import ObjectStore

CHUNK_BYTES: Final = 1024 * 1024
CONTENT_TYPES: Final = {
    ExtractFormat.CSV: "text/csv",
    ExtractFormat.PARQUET: "application/vnd.apache.parquet",
}
log = logging.getLogger("filedock.extracts")


@dataclass(frozen=True, slots=True)
class ExtractSettings:
    # How often a running export looks whether its request was cancelled.
    watch_every: timedelta = timedelta(milliseconds=500)
    # Where exports are written before they are stored; None: the system's temp folder.
    scratch_dir: Path | None = None
    # Whether the job fills in `estimated_size` before it exports: one more pass over the
    # filtered rows (about half a bare export's time on 10M rows: docs/benchmarks.md).
    estimate_first: bool = False


class ExtractRunner:
    def __init__(
        self,
        requests: DownloadRequests,
        items: CatalogueItems,
        executors: Mapping[ExecutorType, Executor],
        records: FileRecords,
        store: ObjectStore,
        processor: FileProcessor,
        *,
        settings: ExtractSettings | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._requests = requests
        self._items = items
        self._executors = executors
        self._lifecycle = FileLifecycle(records, clock)
        self._store = store
        self._processor = processor
        self._settings = settings or ExtractSettings()

    async def run(self, request_id: int) -> RequestStatus | None:
        """Run one request's extract; its final status, or None when there was nothing to do.

        A permanent problem (the data cannot be read, the item changed) fails the request
        with a message for its waiters; an outage (`Unavailable`) or a bug raises, for the
        job to be retried.
        """
        request = await self._requests.get(request_id)
        if request is None or request.status not in (RequestStatus.PENDING, RequestStatus.RUNNING):
            return None
        if request.status is RequestStatus.PENDING:
            request = await self._requests.move(request, RequestStatus.RUNNING)
            if request is None:
                return None  # cancelled meanwhile
        item = await self._items.get(request.catalogue_item_id)
        try:
            if item is None:
                raise ExtractUnreadable("the catalogue item was deleted")
            query = extract_query(request, item)
            file = await self._lifecycle.get(request.result_file_id)
            if file is None:
                file = await self._store_extract(request, item, query)
            if file is None:
                return RequestStatus.CANCELLED
        except ExtractUnreadable as exc:
            return await self._fail(request, str(exc))
        except InvalidInput as exc:
            reason = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
            return await self._fail(request, f"the catalogue item changed: {reason}")
        return await self._finish(request, file)

    async def give_up(self, request_id: int, reason: str) -> None:
        """The job will not run again: its waiters must not wait for ever."""
        request = await self._requests.get(request_id)
        if request is not None and request.status in (
            RequestStatus.PENDING,
            RequestStatus.RUNNING,
        ):
            await self._fail(request, f"the extract could not be run: {reason}")

    async def cancel_unwaited(self) -> list[int]:
        """Cancel the live requests left with no waiter (their accounts were removed): a
        sweeper round, as nothing else would ever end them."""
        return await self._requests.cancel_unwaited(
            lambda request_id: [JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request_id)})]
        )

    async def clear(self, request_id: int) -> None:
        """Remove what a cancelled (or failed) request left: its result File."""
        request = await self._requests.get(request_id)
        if request is not None and request.status.is_live:
            return  # a live request's File is its waiters'; only an ended one is cleared
        await self._discard_file(f"extract-{request_id}")

    # Steps -----------------------------------------------------------------------------

    async def _store_extract(
        self, request: DownloadRequest, item: CatalogueItem, query: ExtractQuery
    ) -> File | None:
        """Export, then store the bytes as the request's File; None if cancelled meanwhile."""
        executor = self._executors[item.executor_type]
        current = request
        if self._settings.estimate_first and request.estimated_size is None:
            estimate = await executor.estimate(query)
            current = (
                await self._requests.move(
                    current, RequestStatus.RUNNING, estimated_size=estimate.bytes
                )
                or current
            )
        with tempfile.TemporaryDirectory(
            prefix="filedock-extract-", dir=self._settings.scratch_dir
        ) as scratch:
            target = Path(scratch) / f"extract.{query.spec.format.value}"
            if not await self._export_watching(current, executor, query, target):
                return None
            key = f"{EXTRACTS_PREFIX}{uuid.uuid4().hex}"
            stored = await self._store.write(key, _read_chunks(target))
        now = utc_now()
        file = File(
            id=request.result_file_id,
            owner_realm=DOWNLOADER_REALM,
            owner_id=str(request.id),
            owner_role="system",
            storage_key=key,
            content_type=CONTENT_TYPES[query.spec.format],
            status=FileStatus.UPLOADED,
            created_at=now,
            updated_at=now,
            size=stored.size,
            sha256=stored.sha256,
            filename=f"{_slug(item.name)}-{request.id}.{query.spec.format.value}",
        )
        try:
            return await self._lifecycle.create(file)
        except FileIdTaken:
            # Another run of this job stored it first: keep theirs.
            with contextlib.suppress(Exception):
                await self._store.delete(key)
            return await self._lifecycle.get(file.id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._store.delete(key)
            raise

    async def _export_watching(
        self, request: DownloadRequest, executor: Executor, query: ExtractQuery, target: Path
    ) -> bool:
        """Export while watching the request; False when it was cancelled (export stopped)."""
        running = request

        async def started(job_id: str) -> None:
            nonlocal running
            moved = await self._requests.move(running, running.status, executor_job_id=job_id)
            running = moved or running

        export = asyncio.create_task(executor.export(query, target, started=started))
        try:
            while True:
                done, _ = await asyncio.wait(
                    {export}, timeout=self._settings.watch_every.total_seconds()
                )
                if done:
                    export.result()
                    return True
                now = await self._requests.get(request.id)
                if now is None or now.status is not RequestStatus.RUNNING:
                    log.info("extract stopped: request cancelled", extra={"request": request.id})
                    return False
        finally:
            if not export.done():
                export.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await export

    async def _finish(self, request: DownloadRequest, file: File) -> RequestStatus:
        """Process the stored File like any upload; the request is done once it is ready."""
        await self._processor.process(file.id)
        processed = await self._lifecycle.get(file.id)
        if processed is None:
            return await self._fail(request, "the extract's file was removed")
        if processed.status is not FileStatus.READY:
            await self._discard_file(processed.id)
            return await self._fail(
                request,
                f"the extract's file was {processed.status.value}: {processed.status_reason}",
            )
        done = await self._requests.move(
            request, RequestStatus.DONE, real_size=processed.size, file_id=processed.id
        )
        if done is None:
            # Cancelled while it ran: nobody waits for this file.
            await self._discard_file(processed.id)
            return RequestStatus.CANCELLED
        log.info("extract done", extra={"request": request.id, "bytes": processed.size})
        return RequestStatus.DONE

    async def _fail(self, request: DownloadRequest, reason: str) -> RequestStatus:
        log.warning("extract failed", extra={"request": request.id, "reason": reason})
        await self._requests.move(request, RequestStatus.FAILED, failure=reason[:1000])
        return RequestStatus.FAILED

    async def _discard_file(self, file_id: str) -> None:
        """Delete the File and its bytes, whoever else is deleting it at the same time."""
        file = await self._lifecycle.get(file_id)
        if file is not None and file.status is not FileStatus.DELETED:
            try:
                file = await self._lifecycle.delete(file, reason="its download request ended")
            except NotFound:
                file = await self._lifecycle.get(file_id)
        if file is not None:
            await purge(self._lifecycle, self._store, file)


async def _read_chunks(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes in chunks, read off the event loop: never all of it in memory."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def _slug(name: str) -> str:
    """The item's name as a filename part: letters, digits and dashes."""
    kept = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(filter(None, kept.split("-")))[:60] or "extract"
