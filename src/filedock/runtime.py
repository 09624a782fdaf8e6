"""Wires settings to backends once at start-up; nothing else asks which backend it has."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from filedock.auth.cognito import CognitoVerifier
from filedock.auth.gateway import HasuraCallers
from filedock.auth.oidc import OidcVerifier, SignInNotConfigured
from filedock.auth.tokens import BearerVerifier, JwksKeys
from filedock.config import Settings, SettingsError
from filedock.core.accounts import AccountService, AccountTokens
from filedock.core.api_keys import ApiKeyService
from filedock.core.auth_requests import AuthRequestService
from filedock.core.catalogue import CatalogueService
from filedock.core.catalogue_model import ExecutorType
from filedock.core.download_model import CLEAR_EXTRACT_JOB, EXTRACTS_PREFIX, RUN_EXTRACT_JOB
from filedock.core.downloads import DownloadService
from filedock.core.end_users import EndUserAuthenticator
from filedock.core.extracts import ExtractRunner, ExtractSettings
from filedock.core.files import PRIVATE_PREFIX, PROCESS_FILE_JOB, FileService
from filedock.core.model import FileStatus
from filedock.core.operations import Check, Operations, SharedSecret
from filedock.core.processing import FileProcessor
from filedock.core.rate_limit import RateLimiter
from filedock.core.read_wait import Decisions, ReadWait
from filedock.core.reconcile import Reconciler
from filedock.core.schedules import ScheduleDocuments, ScheduleRules
from filedock.core.services import Services
from filedock.core.signing import SignedGrants
from filedock.core.upload_grants import UploadGrants
from filedock.core.upload_policy import (
    BROWSER_UI_POLICY,
    FORM_COMMAND_POLICY,
    SCHEDULES_PREFIX,
    SIGNED_URL_POLICY,
    UploadPolicy,
    content_type_for,
)
from filedock.core.uploads import UploadService
from filedock.core.worker import GiveUp, Handler, JobWorker
from filedock.db.accounts import SqlAccountStore, SqlAuthRequestStore
from filedock.db.api_keys import SqlApiKeyStore
from filedock.db.catalogue import SqlCatalogueItems
from filedock.db.downloads import SqlDownloadRequests
from filedock.db.file_records import SqlFileRecords
from filedock.db.job_queue import SqlJobQueue
from filedock.db.schedules import SqlScheduleOwners, SqlScheduleParticipants
from filedock.db.session import create_engine, session_factory
from filedock.metrics import TimedScanner, record_upload_outcome, timed_job
from filedock.observability import record_reconcile
from filedock.ports.blob_signing import BlobSigner
from filedock.ports.catalogue import DatasetProfiler
from filedock.ports.dataset_files import DatasetFiles
from filedock.ports.executor import Executor, ExecutorOnFirstUse, UnconfiguredExecutor
from filedock.ports.extras import CatalogueNotInstalled, installed, needs_extra
from filedock.ports.identity import NoTokenPairs
from filedock.ports.jobs import Job
from filedock.ports.objectstore import ObjectStore
from filedock.ports.objectstore_local import LocalObjectStore
from filedock.ports.profiler_duckdb import DuckdbProfiler
from filedock.ports.scanner import NoScanner, Scanner

log = logging.getLogger("filedock.runtime")


@dataclass
class Runtime:
    """Everything start-up built: the faces' `services`, and what runs and closes beside them."""

    settings: Settings
    engine: AsyncEngine
    store: ObjectStore
    records: SqlFileRecords
    jobs: SqlJobQueue
    scanner: Scanner
    processor: FileProcessor
    worker: JobWorker
    # Extracts run for minutes or hours: on a lane of their own, beside processing.
    extract_worker: JobWorker
    extracts: ExtractRunner
    reconciler: Reconciler
    services: Services
    # The job lanes' tasks, given time to finish their job at a stop; the periodic rounds'
    # tasks, cancelled at once (each round is idempotent and the next one starts over).
    _lanes: list[asyncio.Task[None]] = field(default_factory=list)
    _rounds: list[asyncio.Task[None]] = field(default_factory=list)

    def start_worker(self) -> None:
        """Work the queue in this process: both job lanes, the sweeper and the reconciler."""
        rounds = [
            ("sweeper", self.settings.sweep_seconds, self._sweep),
            ("reconciler", self.settings.reconcile_seconds, self._reconcile),
        ]
        self._lanes.append(asyncio.create_task(self.worker.run(), name="filedock-worker"))
        self._lanes.append(
            asyncio.create_task(self.extract_worker.run(), name="filedock-extract-worker")
        )
        for name, seconds, work in rounds:
            task = asyncio.create_task(_every(seconds, name, work), name=f"filedock-{name}")
            self._rounds.append(task)

    async def clean_after_crash(self) -> None:
        """Remove what a killed process left half-written; logged, never fatal at start.

        Safe beside live processes on the same store (API servers, other workers): what
        counts is that nobody touched a write for an hour (reconcile.py), not which process
        began it, so a process starting never removes another's upload in flight.
        """
        try:
            removed = await self.reconciler.clean_after_crash()
        except Exception:
            log.warning("could not remove unfinished writes at start", exc_info=True)
            return
        if removed:
            log.info("removed unfinished writes left by a crash", extra={"removed": removed})

    async def _sweep(self) -> None:
        """Notice unpolled uploads, remove what expired, end requests nobody waits for."""
        report = await self.services.uploads.sweep()
        if report.noticed or report.abandoned or report.expired:
            log.info("swept", extra=asdict(report))
        unwaited = await self.extracts.cancel_unwaited()
        if unwaited:
            log.info("cancelled download requests nobody waits for", extra={"ids": unwaited})

    async def _reconcile(self) -> None:
        """Repair records and objects that drifted apart; report what could not be repaired."""
        report = await self.reconciler.run()
        record_reconcile(report)
        level = logging.WARNING if report.records_missing_object else logging.INFO
        log.log(level, "reconciled", extra=asdict(report))

    async def close(
        self, grace: timedelta = timedelta(0), hurry: asyncio.Event | None = None
    ) -> None:
        """Stop working, then release what start-up opened.

        The lanes claim nothing more; a job already running gets `grace` to finish (cut
        short when `hurry` is set), then its work is stopped and the job handed back to
        the queue (core/worker.py), so another worker takes it at once.
        """
        self.worker.stop()
        self.extract_worker.stop()
        if self._lanes and grace > timedelta(0):
            await _until_done(self._lanes, grace, hurry)
        for task in [*self._lanes, *self._rounds]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.store.close()
        await self.scanner.close()
        await self.engine.dispose()


async def _until_done(
    tasks: list[asyncio.Task[None]], limit: timedelta, hurry: asyncio.Event | None
) -> None:
    """Wait until every task ended, `limit` passed or `hurry` is set, whichever is first."""
    ended = asyncio.ensure_future(asyncio.wait(tasks))
    waits: set[asyncio.Future[Any]] = {ended}
    if hurry is not None:
        waits.add(asyncio.ensure_future(hurry.wait()))
    await asyncio.wait(waits, timeout=limit.total_seconds(), return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        # Only the waits: `asyncio.wait` never cancels what it waits for.
        wait.cancel()


async def _every(seconds: float, name: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` every `seconds`; a failed round is logged and the next one tries again."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            log.warning("%s round failed; trying again next round", name, exc_info=True)


def build_runtime(settings: Settings) -> Runtime:
    engine = create_engine(settings.resolved_database_url)
    sessions = session_factory(engine)
    blob_signer = BlobSigner.from_app_secret(
        settings.jwt_secret.get_secret_value(), settings.public_url
    )
    store = open_object_store(settings, blob_signer)
    # The local store's signed URLs come back to us at /_blobs/; S3 checks its own.
    grants = SignedGrants(store, blob_signer if isinstance(store, LocalObjectStore) else None)
    wake: list[JobWorker] = []

    def wake_workers() -> None:
        for worker in wake:
            worker.wake()

    records = SqlFileRecords(sessions, on_enqueue=wake_workers)
    jobs = SqlJobQueue(sessions, on_enqueue=wake_workers)
    policies = upload_policies(settings)
    scanner = open_scanner(settings)
    # Reads waiting for a file are woken when this process's worker decides it.
    decisions = Decisions()
    processor = FileProcessor(records, store, scanner, policies, decisions=decisions)
    download_requests = SqlDownloadRequests(sessions, on_enqueue=wake_workers)
    catalogue_items = SqlCatalogueItems(sessions)
    executors = extract_executors(settings, store)
    extracts = ExtractRunner(
        download_requests,
        catalogue_items,
        executors,
        records,
        store,
        processor,
        settings=ExtractSettings(
            scratch_dir=settings.extract_scratch_dir,
            estimate_first=settings.extract_estimate_first,
        ),
    )
    worker, extract_worker = job_workers(settings, jobs, processor, extracts)
    wake += [worker, extract_worker]
    accounts = account_service(settings, sessions)
    api_keys = ApiKeyService(SqlApiKeyStore(sessions))
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    # Signed-url uploads carry their grant in the key and the file id: no row until bytes come.
    upload_grants = UploadGrants.from_app_secret(settings.jwt_secret.get_secret_value(), policies)
    uploads = UploadService(records, store, policies, grants=grants, upload_grants=upload_grants)
    # Reads of a file on its way wait for processing; a pending one's bytes are looked for.
    read_wait = ReadWait(limit=timedelta(seconds=settings.read_wait_seconds), decisions=decisions)
    bearer = bearer_verifier(settings)
    catalogue = CatalogueService(
        catalogue_items,
        SqlAccountStore(sessions),
        dataset_profiler(settings, store),
        datasets_prefix=settings.catalogue_datasets_prefix,
    )
    services = Services(
        files=FileService(
            records,
            store,
            max_upload_bytes=settings.max_upload_bytes,
            grants=grants,
            read_wait=read_wait,
            notice=uploads.notice_upload,
            unrecorded=uploads.find_unrecorded,
            # Small uploads are decided where they arrive only in a process that processes:
            # one serving with FILEDOCK_WORKER=false leaves all of it to `filedock worker`.
            processor=processor if settings.worker else None,
            on_decided=lambda file: record_upload_outcome(file.status),
        ),
        uploads=uploads,
        schedules=ScheduleDocuments(
            records,
            store,
            SqlScheduleOwners(sessions),
            policies["schedules"],
            ScheduleRules(
                extensions=tuple(settings.schedules_extensions.split(",")),
                max_documents=settings.schedules_max_documents,
            ),
            participants=SqlScheduleParticipants(sessions),
            grants=grants,
            read_wait=read_wait,
            notice=uploads.notice_upload,
        ),
        grants=grants,
        catalogue=catalogue,
        downloads=DownloadService(
            download_requests,
            catalogue,
            SqlAccountStore(sessions),
            executors,
            records,
            grants,
        ),
        accounts=accounts,
        auth_requests=AuthRequestService(
            SqlAuthRequestStore(sessions),
            accounts,
            oidc_verifier(settings),
            lifetime=timedelta(minutes=settings.auth_request_minutes),
            limiter=RateLimiter(
                settings.anonymous_rate_per_minute / 60, max(settings.anonymous_rate_per_minute, 1)
            ),
        ),
        bearer=bearer,
        hasura_callers=HasuraCallers(bearer, _secret(settings.hasura_gateway_secret)),
        api_users=EndUserAuthenticator(api_keys, limiter),
        cognito=cognito_verifier(settings) or NoTokenPairs("Cognito authentication"),
        operations=Operations(
            checks=readiness_checks(settings, records, store, scanner),
            file_counts=records.count_by_status,
            job_counts=jobs.counts,
            queue_depth=lambda: jobs.due_counts(datetime.now(UTC)),
        ),
        metrics_access=SharedSecret(
            _secret(settings.metrics_token), "metrics", open_without_secret=settings.metrics_public
        ),
        bucket_notifications=SharedSecret(
            _secret(settings.bucket_notification_token), "bucket notifications"
        ),
        trusted_proxies=frozenset(filter(None, settings.trusted_proxies.split(","))),
        oidc_client_id=settings.oidc_client_id,
        upload_origins=browser_upload_origins(settings),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        store=store,
        records=records,
        jobs=jobs,
        scanner=scanner,
        processor=processor,
        worker=worker,
        extract_worker=extract_worker,
        extracts=extracts,
        reconciler=Reconciler(
            records,
            store,
            prefixes=(PRIVATE_PREFIX, EXTRACTS_PREFIX, *(p.key_prefix for p in policies.values())),
            adopt=uploads.adopt,
        ),
        services=services,
    )


def readiness_checks(
    settings: Settings, records: SqlFileRecords, store: ObjectStore, scanner: Scanner
) -> dict[str, Check]:
    """What `/readyz` asks: the database, the store, and clamd when one is configured (a
    server that cannot scan leaves every upload in `processing`)."""
    checks: dict[str, Check] = {"database": records.check, "storage": store.check}
    if settings.clamd_url is not None:
        checks["scanner"] = scanner.check
    return checks


def upload_policies(settings: Settings) -> dict[str, UploadPolicy]:
    """The upload policy of each upload path, by name, from the settings."""
    extensions = settings.schedules_extensions.split(",")
    policies = (
        replace(
            SIGNED_URL_POLICY,
            allowed_types=tuple(settings.signed_url_types.split(",")),
            max_bytes=settings.signed_url_max_bytes,
            key_prefix=settings.signed_url_key_prefix,
            url_expiry=timedelta(seconds=settings.signed_url_expiry_seconds),
            temporary_lifetime=timedelta(hours=settings.temporary_file_hours),
        ),
        replace(FORM_COMMAND_POLICY, max_bytes=settings.max_upload_bytes),
        replace(BROWSER_UI_POLICY, max_bytes=settings.max_upload_bytes),
        UploadPolicy(
            name="schedules",
            allowed_types=tuple(sorted({content_type_for(f"x.{e}") for e in extensions})),
            max_bytes=settings.schedules_max_bytes,
            key_prefix=SCHEDULES_PREFIX,
            url_expiry=timedelta(seconds=settings.schedules_url_expiry_seconds),
            temporary_lifetime=timedelta(hours=24),
        ),
    )
    return {policy.name: policy for policy in policies}


def job_workers(
    settings: Settings, jobs: SqlJobQueue, processor: FileProcessor, extracts: ExtractRunner
) -> tuple[JobWorker, JobWorker]:
    """Two lanes on one queue: processing uploads (and clearing ended extracts), and running
    extracts, so an hour-long extract never leaves an upload waiting in `processing`."""

    # Outcomes are counted here, at the worker's edge: the core knows nothing of metrics.
    async def process_file(job: Job) -> None:
        record_upload_outcome(await processor.process(job.payload["file_id"]))

    async def processing_gave_up(job: Job, reason: str) -> None:
        if await processor.give_up(job.payload["file_id"], reason):
            record_upload_outcome(FileStatus.FAILED)

    async def run_extract(job: Job) -> None:
        await extracts.run(int(job.payload["request_id"]))

    async def extract_gave_up(job: Job, reason: str) -> None:
        await extracts.give_up(int(job.payload["request_id"]), reason)

    async def clear_extract(job: Job) -> None:
        await extracts.clear(int(job.payload["request_id"]))

    def lane(
        handlers: dict[str, Handler], give_up: dict[str, GiveUp], concurrency: int
    ) -> JobWorker:
        return JobWorker(
            jobs,
            {kind: timed_job(handler) for kind, handler in handlers.items()},
            give_up=give_up,
            poll_seconds=settings.job_poll_seconds,
            lease=timedelta(seconds=settings.job_lease_seconds),
            max_attempts=settings.job_max_attempts,
            only_its_kinds=True,
            concurrency=concurrency,
        )

    return (
        # Several at once: a small file's processing is mostly waiting on clamd and I/O.
        lane(
            {PROCESS_FILE_JOB: process_file, CLEAR_EXTRACT_JOB: clear_extract},
            {PROCESS_FILE_JOB: processing_gave_up},
            settings.job_concurrency,
        ),
        # One at a time: an extract holds DuckDB's memory limit for minutes or hours.
        lane({RUN_EXTRACT_JOB: run_extract}, {RUN_EXTRACT_JOB: extract_gave_up}, 1),
    )


def dataset_profiler(settings: Settings, store: ObjectStore) -> DatasetProfiler:
    """DuckDB's, or, without the catalogue extra, one that says to install it."""
    if not installed("catalogue"):
        return CatalogueNotInstalled()
    return DuckdbProfiler(
        store, settings.catalogue_roots(), datasets_prefix=settings.catalogue_datasets_prefix
    )


def extract_executors(settings: Settings, store: ObjectStore) -> dict[ExecutorType, Executor]:
    """The engine of each executor type; a type with no engine configured says which setting
    enables it when a request needs it."""
    files = DatasetFiles(
        store, settings.catalogue_roots(), datasets_prefix=settings.catalogue_datasets_prefix
    )
    spark: Executor = UnconfiguredExecutor("SPARK", "FILEDOCK_SPARK_REMOTE")
    if settings.spark_remote:
        _require("spark", "FILEDOCK_SPARK_REMOTE: the SPARK executor")
        from filedock.ports.executor_spark import SparkExecutor

        spark = SparkExecutor(settings.spark_remote, data_roots=settings.catalogue_roots())
    athena: Executor = UnconfiguredExecutor("ATHENA", "FILEDOCK_ATHENA_OUTPUT_LOCATION")
    if settings.athena_output_location and settings.athena_region:
        _require("athena", "FILEDOCK_ATHENA_OUTPUT_LOCATION: the ATHENA executor")
        from filedock.ports.executor_athena import AthenaExecutor

        athena = AthenaExecutor(
            region=settings.athena_region,
            work_group=settings.athena_work_group,
            s3_staging_dir=settings.athena_output_location,
        )
    duckdb: Executor = CatalogueNotInstalled()
    if installed("catalogue"):

        def build_duckdb() -> Executor:
            from filedock.ports.executor_duckdb import DuckdbExecutor

            return DuckdbExecutor(
                files,
                memory_limit=settings.duckdb_memory_limit,
                threads=settings.duckdb_threads,
                scratch_dir=settings.extract_scratch_dir,
                max_queries=settings.duckdb_max_queries,
            )

        duckdb = ExecutorOnFirstUse(build_duckdb)
    return {
        ExecutorType.DUCKDB: duckdb,
        ExecutorType.SPARK: spark,
        ExecutorType.DATABRICKS: spark,
        ExecutorType.ATHENA: athena,
    }


def account_service(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AccountService:
    """Accounts on the database, their tokens keyed from the app secret (also for the CLI)."""
    return AccountService(
        SqlAccountStore(sessions),
        AccountTokens.from_app_secret(settings.jwt_secret.get_secret_value()),
        token_lifetime=timedelta(hours=settings.account_token_hours),
    )


def open_object_store(settings: Settings, signer: BlobSigner | None = None) -> ObjectStore:
    url = settings.resolved_storage_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalObjectStore(
            Path(unquote(parts.path)),
            fsync=settings.fsync,
            signer=signer,
            direct_writes=settings.direct_writes,
        )
    if parts.scheme == "s3":
        _require("s3", "FILEDOCK_STORAGE_URL: an s3:// store")
        from filedock.ports.objectstore_s3 import S3ObjectStore

        return S3ObjectStore(
            parts.netloc,
            parts.path.strip("/"),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            session_token=os.environ.get("AWS_SESSION_TOKEN"),
            # An http:// endpoint was asked for explicitly (MinIO on a private network).
            allow_http=(settings.s3_endpoint_url or "").startswith("http://"),
            timeout=timedelta(seconds=settings.store_timeout_seconds),
        )
    raise SettingsError(f"FILEDOCK_STORAGE_URL: unsupported scheme {parts.scheme!r}")


def _require(extra: str, what: str) -> None:
    """Stop start-up with one line when a setting asks for a backend of a missing extra."""
    if not installed(extra):
        raise SettingsError(needs_extra(what, extra))


def browser_upload_origins(settings: Settings) -> tuple[str, ...]:
    """Where a browser sends an upload's bytes: the signed URLs' origin, for the pages' CSP."""
    parts = urlsplit(settings.resolved_storage_url)
    if parts.scheme == "s3":
        endpoint = settings.s3_endpoint_url
        # Without an endpoint, AWS: the bucket's host under amazonaws.com.
        return (_origin(endpoint),) if endpoint else ("https://*.amazonaws.com",)
    return (_origin(settings.public_url),)


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def open_scanner(settings: Settings) -> Scanner:
    if settings.clamd_url is None:
        return NoScanner()
    from filedock.ports.scanner_clamd import ClamdScanner

    # Timed: how long scans take is what sizes a clamd pool.
    return TimedScanner(ClamdScanner(settings.clamd_url))


def bearer_verifier(settings: Settings) -> BearerVerifier:
    jwks = JwksKeys.from_location(settings.jwks_url) if settings.jwks_url else None
    return BearerVerifier(
        secret=settings.jwt_secret.get_secret_value(),
        jwks=jwks,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def oidc_verifier(settings: Settings) -> OidcVerifier | SignInNotConfigured:
    """The verifier the settings describe; a JWKS file is read now, a URL on first use."""
    if settings.oidc_client_id is None:
        return SignInNotConfigured()
    return OidcVerifier(
        JwksKeys.from_location(settings.oidc_jwks_url),
        settings.oidc_issuer,
        settings.oidc_client_id,
    )


def cognito_verifier(settings: Settings) -> CognitoVerifier | None:
    """The verifier the settings describe, or None when Cognito is not configured.

    A JWKS file is read now, so a missing or broken one stops start-up (ValueError); a URL
    is fetched on first use and refetched, rate-limited, when an unknown `kid` appears.
    """
    jwks_url = settings.cognito_jwks_url
    issuer = settings.cognito_issuer
    client_id = settings.cognito_client_id
    if not (jwks_url and issuer and client_id):
        return None
    return CognitoVerifier(JwksKeys.from_location(jwks_url), issuer, client_id)
