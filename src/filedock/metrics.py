"""The domain's Prometheus metrics: files and jobs by status, uploads by outcome, scan time,
job latency and backlog, reconciliation. HTTP metrics live beside the request middleware
(observability.py).

The core knows nothing of Prometheus: what it does is recorded at its edges, as the runtime
wires it (a job handler's wrapper, the scanner's, a reconciliation round's report).

Gauges read from the database are set at each scrape by the process that answers it; under
several worker processes (`multiprocess_mode="mostrecent"`) a scrape shows the latest value
any process set, never a sum of stale ones. Every known status is set, 0 when absent, so a
status that empties reads 0 rather than its last count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from filedock.core.download_model import CLEAR_EXTRACT_JOB, RUN_EXTRACT_JOB
from filedock.core.files import PROCESS_FILE_JOB
from filedock.core.model import FileStatus
from filedock.ports.jobs import Job
from filedock.ports.scanner import ScanIncomplete, Scanner, ScannerUnavailable, ScanVerdict

# What the job table's rows can be (done jobs leave none), and the kinds of job there are.
JOB_STATUSES = ("queued", "running", "failed")
JOB_KINDS = (PROCESS_FILE_JOB, CLEAR_EXTRACT_JOB, RUN_EXTRACT_JOB)
_LATEST: Final = "mostrecent"

FILES = Gauge("filedock_files", "File records by status", ["status"], multiprocess_mode=_LATEST)
JOBS = Gauge("filedock_jobs", "Job rows by status", ["status"], multiprocess_mode=_LATEST)
QUEUE_DEPTH = Gauge(
    "filedock_job_queue_depth",
    "Queued jobs already due and not yet claimed, by kind",
    ["kind"],
    multiprocess_mode=_LATEST,
)
UPLOADS = Counter(
    "filedock_uploads_processed_total",
    "Uploads processing decided, by outcome: ready, rejected, infected or failed",
    ["outcome"],
)
SCAN_SECONDS = Histogram(
    "filedock_scan_seconds",
    "Time to scan one file with clamd, reading it from the store included, by verdict",
    ["verdict"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
JOB_WAIT = Histogram(
    "filedock_job_wait_seconds",
    "Time from a job being due to a worker starting it, by kind",
    ["kind"],
    buckets=_JOB_BUCKETS,
)
JOB_RUN = Histogram(
    "filedock_job_run_seconds",
    "Time a job's handler ran, by kind and outcome (done, error, cancelled)",
    ["kind", "outcome"],
    buckets=_JOB_BUCKETS,
)
# Values of the last reconciliation round: an alert on a non-zero value means drift was found.
RECONCILE_ORPHANS_REMOVED = Gauge(
    "filedock_reconcile_orphans_removed",
    "Objects without a record deleted by the last reconciliation",
    multiprocess_mode=_LATEST,
)
RECONCILE_RECORDS_MISSING_OBJECT = Gauge(
    "filedock_reconcile_records_missing_object",
    "Records marked failed by the last reconciliation because their object is gone",
    multiprocess_mode=_LATEST,
)
RECONCILE_UNFINISHED_REMOVED = Gauge(
    "filedock_reconcile_unfinished_removed",
    "Writes a dead writer left unfinished, removed by the last reconciliation",
    multiprocess_mode=_LATEST,
)
RECONCILE_LAST_RUN = Gauge(
    "filedock_reconcile_last_run_timestamp_seconds",
    "When the last reconciliation round finished, in Unix seconds",
    multiprocess_mode=_LATEST,
)

JobHandler = Callable[[Job], Awaitable[None]]


def record_counts(
    files: Mapping[str, int], jobs: Mapping[str, int], queue_depth: Mapping[str, int]
) -> None:
    """Set the database-derived gauges; known labels absent from the counts read 0."""
    for gauge, known, counts in (
        (FILES, [status.value for status in FileStatus], files),
        (JOBS, JOB_STATUSES, jobs),
        (QUEUE_DEPTH, JOB_KINDS, queue_depth),
    ):
        for label in sorted({*known, *counts}):
            gauge.labels(label).set(counts.get(label, 0))


def record_upload_outcome(status: FileStatus | None) -> None:
    """Count what processing decided for an upload; None (nothing to do) is not counted."""
    if status is not None and status.is_terminal:
        UPLOADS.labels(status.value).inc()


def timed_job(handler: JobHandler) -> JobHandler:
    """`handler`, recording how long each job waited once due, and how long it ran."""

    async def run(job: Job) -> None:
        if job.due_at is not None:
            # A job taken again after its worker died counts from when it was first due.
            waited = (datetime.now(UTC) - job.due_at).total_seconds()
            JOB_WAIT.labels(job.kind).observe(max(waited, 0.0))
        started = time.perf_counter()
        outcome = "error"
        try:
            await handler(job)
            outcome = "done"
        except asyncio.CancelledError:
            outcome = "cancelled"  # its lease was lost: another worker has the job
            raise
        finally:
            JOB_RUN.labels(job.kind, outcome).observe(time.perf_counter() - started)

    return run


class TimedScanner:
    """A scanner whose scans are timed, by verdict: `clean`, `infected`, `incomplete` (too
    large for clamd), `unavailable` (clamd down), `error` (reading the file failed)."""

    def __init__(self, scanner: Scanner) -> None:
        self._scanner = scanner

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanVerdict:
        started = time.perf_counter()
        verdict = "error"
        try:
            result = await self._scanner.scan(chunks)
            verdict = "clean" if result.clean else "infected"
            return result
        except ScanIncomplete:
            verdict = "incomplete"
            raise
        except ScannerUnavailable:
            verdict = "unavailable"
            raise
        finally:
            SCAN_SECONDS.labels(verdict).observe(time.perf_counter() - started)

    def verdict_without_reading(self) -> ScanVerdict | None:
        return self._scanner.verdict_without_reading()

    async def check(self) -> None:
        await self._scanner.check()

    async def close(self) -> None:
        await self._scanner.close()
