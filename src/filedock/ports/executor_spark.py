"""The Spark executor: extracts run by Spark through Spark Connect (the `filedock[spark]` extra).

A location is `s3://<bucket>/<key>` or `s3a://…`, which Spark reads with its own
credentials, or a local file or folder under one of the data roots, checked as profiling
checks it (resolved; in a folder, every entry must resolve inside a root too) and read by
the Spark server at the same path (local mode, or a mount it shares). Paths holding glob
characters (`*?[]{}\\`) are refused: Spark would expand them to other files. A location of
`.csv` files (a local folder of them, or a path ending `.csv`) is read with its header row
and inferred types; any other is read as Parquet with Spark SQL's parquet.`<path>`. Spark
reads a folder itself, with its own rules (files named `_…` or `.…` skipped, `key=value`
folders as partitions), which are not profiling's.

One Spark Connect session per executor, created on first use (for `local[…]` pyspark starts
a Spark Connect server in this process: seconds) and shared by every request; the client
is thread-safe and tags are per thread. The session's time zone is UTC: extract times are
naive UTC. Each operation runs in a thread of its own, tagged, and the tag is what
`started` records: cancelling the awaiting task interrupts the tag and waits for the thread.

Results stream as Arrow batches into `ExtractWriter`. pyspark 4.3 has no public streaming
Arrow reader on Spark Connect (`toArrow` collects everything; `__arrow_c_stream__` runs a
Python UDF on the cluster and fails on timestamp columns), so the batches are read with the
client call pyspark's own `toLocalIterator` makes, minus its turning each row into a `Row`
(about ten times slower). That call is not public API: the Spark tests pin it.

The estimate counts the rows under the filters (times the ratio: the md5 sample over every
row would cost Spark a second full pass) and measures a row's width on up to
`WIDTH_SAMPLE_ROWS` of them, a Bernoulli sample written in the output format.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlglot import exp

from filedock.core.catalogue_model import STORE_SCHEME
from filedock.ports.executor import (
    ExportReport,
    ExtractQuery,
    ExtractUnreadable,
    SizeEstimate,
    Started,
)
from filedock.ports.extract_output import (
    WIDTH_SAMPLE_ROWS,
    ExtractWriter,
    engine_thread,
    estimate_size,
    width_sample_percent,
)
from filedock.ports.extract_sql import (
    count_sql,
    extract_sql,
    path_source,
    table_source,
    width_sample_sql,
)

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]
    from pyspark.sql import DataFrame
    from pyspark.sql.connect.session import SparkSession

_GLOB: Final = re.compile(r"[*?\[\]{}\\]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_S3: Final = re.compile(r"s3a?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?", re.ASCII)
_SUFFIXES: Final = {".parquet": "parquet", ".csv": "csv"}
# Spark Connect's errors when the server no longer knows the session (it restarted).
_LOST_SESSION: Final = ("INVALID_HANDLE", "SESSION_CLOSED", "SESSION_CHANGED")
_INSTALL: Final = "pip install 'filedock[spark]'"


@dataclasses.dataclass(frozen=True, slots=True)
class _Dataset:
    path: str
    format: Literal["parquet", "csv"]


class SparkExecutor:
    """Runs extracts on the Spark Connect server at `remote` (`sc://host:15002`, `local[2]`)."""

    def __init__(self, remote: str, data_roots: Sequence[Path] = ()) -> None:
        if not remote.startswith(("sc://", "local")):
            raise ValueError(f"a Spark remote is sc://host:port or local[n], not {remote!r}")
        self._remote = remote
        self._roots = [root.resolve() for root in data_roots]
        self._lock = threading.Lock()
        self._spark: SparkSession | None = None

    async def estimate(self, query: ExtractQuery) -> SizeEstimate:
        dataset = await asyncio.to_thread(self._dataset, query.location)
        tag = _new_tag()

        def work(stopping: threading.Event) -> SizeEstimate:
            return self._estimate(query, dataset, tag, stopping)

        async with engine_thread(work, lambda: self._interrupt(tag), name=tag) as running:
            return await running.result()

    async def export(self, query: ExtractQuery, target: Path, *, started: Started) -> ExportReport:
        """Write the extract to `target`; on failure or cancellation no `target` remains."""
        dataset = await asyncio.to_thread(self._dataset, query.location)
        tag = _new_tag()

        def work(stopping: threading.Event) -> ExportReport:
            return self._export(query, dataset, target, tag, stopping)

        try:
            await started(tag)
            async with engine_thread(work, lambda: self._interrupt(tag), name=tag) as running:
                return await running.result()
        except BaseException:
            # A half-written extract must never pass for a whole one.
            target.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """End the session (and, for `local[…]`, the Spark Connect server this process runs)."""
        with self._lock:
            spark, self._spark = self._spark, None
        if spark is not None:
            spark.stop()

    def _export(
        self,
        query: ExtractQuery,
        dataset: _Dataset,
        target: Path,
        tag: str,
        stopping: threading.Event,
    ) -> ExportReport:
        spark = self._session()
        with self._running(spark, tag), _source(spark, dataset) as source:
            _check(stopping)
            select = extract_sql(
                query.spec, source, "spark", seed=query.seed, key_columns=query.key_columns
            )
            frame = spark.sql(select)
            with ExtractWriter(target, query.spec.format, _arrow_schema(frame)) as writer:
                for table in _tables(spark, frame, stopping):
                    writer.write_batch(table)
            return ExportReport(rows=writer.rows)

    def _estimate(
        self, query: ExtractQuery, dataset: _Dataset, tag: str, stopping: threading.Event
    ) -> SizeEstimate:
        spec = query.spec
        spark = self._session()
        with self._running(spark, tag), _source(spark, dataset) as source:
            _check(stopping)
            filtered = int(spark.sql(count_sql(spec, source, "spark")).collect()[0][0])
            _check(stopping)
            frame = spark.sql(
                width_sample_sql(
                    spec,
                    source,
                    "spark",
                    percent=width_sample_percent(filtered),
                    limit=WIDTH_SAMPLE_ROWS,
                )
            )
            sample = _collect(spark, frame, stopping)
        rows = round(filtered * spec.randomize_ratio)
        with tempfile.TemporaryDirectory(prefix="filedock-estimate-") as scratch:
            return estimate_size(sample, rows, spec.format, Path(scratch))

    def _session(self) -> SparkSession:
        # Under the lock, so that requests arriving together wait for one session, not make many.
        with self._lock:
            if self._spark is None or self._spark.is_stopped:
                self._spark = _connect(self._remote)
            return self._spark

    def _interrupt(self, tag: str) -> None:
        spark = self._spark
        if spark is not None:
            spark.interruptTag(tag)

    @contextmanager
    def _running(self, spark: SparkSession, tag: str) -> Iterator[None]:
        """Tag this thread's operations; turn Spark's errors into `ExtractUnreadable`."""
        from pyspark.errors import PySparkException

        spark.addTag(tag)
        try:
            yield
        except PySparkException as exc:
            condition = exc.getCondition() or ""
            if condition.startswith(_LOST_SESSION):
                # The server restarted: the next request makes a new session.
                with self._lock:
                    if self._spark is spark:
                        self._spark = None
            raise ExtractUnreadable(f"Spark could not run the extract: {_message(exc)}") from None
        finally:
            spark.removeTag(tag)

    def _dataset(self, location: str) -> _Dataset:
        if _CONTROL.search(location):
            raise ExtractUnreadable("a location must not hold control characters")
        if location.startswith(("s3://", "s3a://")):
            if not _S3.fullmatch(location) or _GLOB.search(location):
                raise ExtractUnreadable(
                    "a Spark location on S3 is s3://<bucket>/<key> (or s3a://), without any "
                    "of *?[]{}\\, which Spark would expand as a pattern"
                )
            csv = location.rstrip("/").endswith(".csv")
            return _Dataset(location, "csv" if csv else "parquet")
        if "://" in location or location.startswith(STORE_SCHEME):
            raise ExtractUnreadable(
                "Spark reads s3://…, s3a://… or a local path under "
                "FILEDOCK_CATALOGUE_DATA_ROOTS; it cannot read filedock's own store"
            )
        path = Path(location).resolve()
        if not self._inside_a_root(path):
            raise ExtractUnreadable("a local location must be under FILEDOCK_CATALOGUE_DATA_ROOTS")
        if _GLOB.search(str(path)):
            raise ExtractUnreadable(
                "a local location must not hold any of *?[]{}\\: Spark would expand it"
            )
        formats = {_SUFFIXES.get(path.suffix)} if path.is_file() else self._folder_formats(path)
        formats.discard(None)
        if not formats:
            raise ExtractUnreadable(f"no Parquet or CSV file at {location}")
        if len(formats) > 1:
            raise ExtractUnreadable("a dataset is Parquet or CSV, not both")
        # The scheme says "this machine's disk", whatever file system the cluster defaults to.
        return _Dataset(f"file://{path}", "csv" if formats == {"csv"} else "parquet")

    def _folder_formats(self, folder: Path) -> set[str | None]:
        if not folder.is_dir():
            return set()
        formats: set[str | None] = set()
        for found in folder.rglob("*"):
            resolved = found.resolve()
            if not self._inside_a_root(resolved):
                raise ExtractUnreadable(
                    f"{found.relative_to(folder)} in this location leads outside "
                    "FILEDOCK_CATALOGUE_DATA_ROOTS; remove the link or add its target's folder"
                )
            if resolved.is_file():
                formats.add(_SUFFIXES.get(found.suffix))
        return formats

    def _inside_a_root(self, resolved: Path) -> bool:
        return any(resolved.is_relative_to(root) for root in self._roots)


def _connect(remote: str) -> SparkSession:
    try:
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession as AnySession
        from pyspark.sql.connect.session import SparkSession
    except ImportError as exc:
        raise ExtractUnreadable(
            f"this server cannot run Spark extracts without pyspark's Spark Connect client "
            f"({exc.name or exc}): {_INSTALL}"
        ) from None
    try:
        if remote.startswith("local"):
            # The only builder that starts a local Spark Connect server; it hands back a
            # Spark Connect session.
            spark: Any = AnySession.builder.remote(remote).getOrCreate()
        else:
            # Created, not got: a session of our own, whatever else this process runs.
            spark = SparkSession.builder.remote(remote).create()
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    except PySparkException as exc:
        raise ExtractUnreadable(f"Spark at {remote} is unavailable: {_message(exc)}") from None
    if not isinstance(spark, SparkSession):
        raise ExtractUnreadable(f"{remote} did not give a Spark Connect session: {_INSTALL}")
    return spark


@contextmanager
def _source(spark: SparkSession, dataset: _Dataset) -> Iterator[exp.Expression]:
    if dataset.format == "parquet":
        yield path_source("parquet", dataset.path)
        return
    # Spark SQL's csv.`path` has no header option: a temporary view of the session reads the
    # header row, under a name no other request uses.
    view = f"filedock_csv_{uuid.uuid4().hex}"
    reader = spark.read.options(header="true", inferSchema="true")
    reader.csv(dataset.path).createOrReplaceTempView(view)
    try:
        yield table_source(view)
    finally:
        # A view left behind costs the session nothing; the extract's outcome stands.
        with suppress(Exception):
            spark.catalog.dropTempView(view)


def _arrow_schema(frame: DataFrame) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    # As pyspark's own toArrow() converts: times in UTC, the session's zone.
    return to_arrow_schema(frame.schema, timezone="UTC")


def _tables(spark: SparkSession, frame: DataFrame, stopping: threading.Event) -> Iterator[Any]:
    """The frame's rows as Arrow tables, one per batch Spark Connect sends."""
    import pyarrow as pa
    from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame

    assert isinstance(frame, ConnectFrame)
    # The call pyspark's own toLocalIterator makes, without its turning each row into a Row.
    plan, client = frame._plan, spark.client
    for item in client.to_table_as_iterator(plan.to_proto(client), plan.observations):
        _check(stopping)
        if isinstance(item, pa.Table):
            yield item


def _collect(spark: SparkSession, frame: DataFrame, stopping: threading.Event) -> Any:
    """The frame's rows, few, as one Arrow table."""
    import pyarrow as pa

    schema = _arrow_schema(frame)
    tables = list(_tables(spark, frame, stopping))
    return pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()


def _check(stopping: threading.Event) -> None:
    if stopping.is_set():
        raise ExtractUnreadable("the extract was stopped")


def _new_tag() -> str:
    return f"filedock-extract-{uuid.uuid4().hex}"


def _message(exc: Exception) -> str:
    # The first line says what went wrong; the plan, the query and a JVM stack trace follow.
    text = str(exc).strip().split("\n", 1)[0]
    return text if len(text) <= 500 else text[:500] + "…"
