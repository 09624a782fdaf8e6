"""`filedock worker`: the job queue without HTTP, beside API processes that run with
`FILEDOCK_WORKER=false`, on this host or on others.

It works what a serving process's worker works (`Runtime.start_worker`): both job lanes
(processing uploads and clearing ended extracts; running extracts), the sweeper and the
reconciler. Several may run at once, on several hosts, on one PostgreSQL database and one
S3 store: each job is held by one worker at a time (claimed with `FOR UPDATE SKIP LOCKED`,
under a lease renewed while it runs), and sweeps and reconcile rounds change records only by
compare-and-set, so two at once repeat some reading but never undo each other's work.

A stop (SIGTERM, SIGINT) claims nothing more and gives the running jobs `stop_grace` to
finish; then their work is stopped and they are handed back to the queue, for another worker
to take at once. A second signal cuts the grace short. A SIGKILL loses nothing either: the
job's lease runs out and another worker takes it then.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from urllib.parse import urlsplit

from filedock.config import Settings
from filedock.config_view import without_password
from filedock.ports.extras import installed
from filedock.runtime import build_runtime

log = logging.getLogger("filedock.worker")


def run_worker(settings: Settings, *, stop_grace: timedelta) -> None:
    """Migrate (as `serve` does, under the migration lock), then work until stopped."""
    from filedock.db.migrate import upgrade
    from filedock.observability import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    upgrade(settings.resolved_database_url)
    asyncio.run(_work(settings, stop_grace))


def description(settings: Settings) -> dict[str, str]:
    """What a worker on `settings` runs, and on which database and store: its start line."""
    every = f"sweeper every {settings.sweep_seconds:g} s, "
    every += f"reconciler every {settings.reconcile_seconds:g} s"
    store = settings.resolved_storage_url
    if urlsplit(store).scheme == "s3" and settings.s3_endpoint_url:
        store += f" at {settings.s3_endpoint_url}"
    return {
        "runs": f"processing, extracts, {every}",
        "database": without_password(settings.resolved_database_url),
        "store": store,
        "scanner": settings.clamd_url or "none (files are not scanned)",
        "extract_engines": ", ".join(_extract_engines(settings)) or "none",
        "job_lease": f"{settings.job_lease_seconds} s",
        "job_concurrency": f"{settings.job_concurrency} processing jobs at once",
    }


async def _work(settings: Settings, stop_grace: timedelta) -> None:
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        # The first signal asks for a clean stop; another one, while stopping, to hurry.
        (hurry if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    runtime = build_runtime(settings)
    try:
        await runtime.clean_after_crash()
        runtime.start_worker()
        log.info("filedock worker is running", extra=description(settings))
        await stop.wait()
        log.info("filedock worker is stopping", extra={"grace_s": stop_grace.total_seconds()})
    finally:
        await runtime.close(stop_grace, hurry)
    log.info("filedock worker stopped")


def _extract_engines(settings: Settings) -> list[str]:
    # As runtime.extract_executors chooses them: an engine not listed answers requests that
    # name it with the setting that would enable it.
    engines = ["DuckDB"] if installed("catalogue") else []
    if settings.spark_remote:
        engines.append(f"Spark at {without_password(settings.spark_remote)}")
    if settings.athena_output_location and settings.athena_region:
        engines.append("Athena")
    return engines
