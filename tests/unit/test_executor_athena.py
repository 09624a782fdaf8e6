"""The Athena executor: the SQL it sends, the file it writes, its query id and its cancelling.

Athena is an AWS service and cannot run here, so a fake stands in for `pyathena.connect`
(the one mock of these tests). It behaves as pyathena's cursor does: `execute` tells the
query id through `on_start_query_execution` and then waits for the query; `fetchmany` hands
out rows, already converted to Python values, in pages; `cancel` raises `ProgrammingError`
while the cursor has no query id, and a cancelled query makes `execute` raise
`OperationalError`. What Athena itself would do with the SQL is not tested: the SQL is pinned.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyathena.error import OperationalError, ProgrammingError

from filedock.core.extract_model import ExtractFormat, ExtractSpec, Filter
from filedock.ports.executor import ExtractQuery, ExtractUnreadable
from filedock.ports.executor_athena import AthenaExecutor, glue_table

Description = list[tuple[str, str, None, None, int, int, str]]
DESCRIPTION: Description = [
    ("id", "bigint", None, None, 19, 0, "NULLABLE"),
    ("product", "varchar", None, None, 2147483647, 0, "NULLABLE"),
    ("weight", "double", None, None, 17, 0, "NULLABLE"),
    ("available", "boolean", None, None, 0, 0, "NULLABLE"),
    ("born_on", "date", None, None, 0, 0, "NULLABLE"),
    ("seen_at", "timestamp", None, None, 3, 0, "NULLABLE"),
    ("price", "decimal", None, None, 10, 2, "NULLABLE"),
]
ROWS: list[tuple[Any, ...]] = [
    (
        i,
        ["apple", "", None, 'say "hi", twice'][i % 4],
        [1.5, 10.0, None, 0.1][i % 4],
        [True, False, None][i % 3],
        date(2024, 2, 29) if i % 5 else None,
        datetime(2024, 1, 1, 12, 0, 0, 500000 if i % 2 else 0),
        Decimal("12.50") if i % 2 else None,
    )
    for i in range(2500)
]
SPEC = ExtractSpec(
    columns=("id", "product", "weight", "available", "born_on", "seen_at", "price"),
    filters=(
        Filter("id", ">=", 100),
        Filter("product", "!=", "it's"),
        Filter("weight", "<", 2.5),
        Filter("available", "=", True),
        Filter("born_on", ">", date(2020, 1, 1)),
        Filter("seen_at", "<=", datetime(2024, 6, 1, 8, 30)),
    ),
    randomize_ratio=0.25,
)


@dataclass
class Reply:
    description: Description
    rows: Sequence[tuple[Any, ...]]


@dataclass
class FakeAthena:
    """`pyathena.connect`'s stand-in: one reply per query, in order; see the module docstring."""

    replies: list[Reply]
    wait_for_cancel: bool = False
    # pyathena's cursor has the query id a moment after telling it (after StartQueryExecution).
    id_delay: float = 0.0
    fail_with: str | None = None
    connected: list[dict[str, Any]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    fetch_sizes: list[int] = field(default_factory=list)
    cancel_calls: list[str | None] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __call__(self, **settings: Any) -> FakeConnection:
        self.connected.append(settings)
        return FakeConnection(self)


class FakeConnection:
    def __init__(self, athena: FakeAthena) -> None:
        self._athena = athena

    def cursor(self) -> FakeCursor:
        return FakeCursor(self._athena)

    def close(self) -> None:
        self._athena.closed.append("connection")


class FakeCursor:
    def __init__(self, athena: FakeAthena) -> None:
        self._athena = athena
        self.query_id: str | None = None
        self._reply: Reply | None = None
        self._at = 0

    @property
    def description(self) -> Description | None:
        return None if self._reply is None else self._reply.description

    def execute(
        self, operation: str, *, on_start_query_execution: Callable[[str], None] | None = None
    ) -> FakeCursor:
        athena = self._athena
        athena.sent.append(operation)
        execution_id = f"query-{len(athena.sent)}"
        if on_start_query_execution is not None:
            on_start_query_execution(execution_id)
        time.sleep(athena.id_delay)
        self.query_id = execution_id
        if athena.wait_for_cancel and athena.cancelled.wait(timeout=30):
            raise OperationalError("Query was cancelled by the user")
        if athena.fail_with is not None:
            raise OperationalError(athena.fail_with)
        self._reply, self._at = athena.replies.pop(0), 0
        return self

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        assert self._reply is not None
        self._athena.fetch_sizes.append(size)
        page = list(self._reply.rows[self._at : self._at + size])
        self._at += len(page)
        return page

    def cancel(self) -> None:
        self._athena.cancel_calls.append(self.query_id)
        if self.query_id is None:
            raise ProgrammingError("QueryExecutionId is none or empty.")
        self._athena.cancelled.set()

    def close(self) -> None:
        self._athena.closed.append("cursor")


def athena_executor(fake: FakeAthena) -> AthenaExecutor:
    return AthenaExecutor(
        region="eu-west-1", work_group="extracts", s3_staging_dir="s3://results/", connect=fake
    )


def extract(spec: ExtractSpec = SPEC, location: str = "analytics.orders") -> ExtractQuery:
    return ExtractQuery(location=location, spec=spec, seed="req-42", key_columns=("id",))


class StartedLog:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, job_id: str) -> None:
        self.ids.append(job_id)


async def test_athena_is_sent_this_query_for_filters_of_every_type_and_a_sample(
    tmp_path: Path,
) -> None:
    fake = FakeAthena([Reply(DESCRIPTION, ROWS[:3])])
    await athena_executor(fake).export(extract(), tmp_path / "out.csv", started=StartedLog())
    assert fake.sent == [
        'SELECT "id", "product", "weight", "available", "born_on", "seen_at", "price"'
        ' FROM "analytics"."orders"'
        ' WHERE "id" >= 100 AND "product" <> \'it\'\'s\' AND "weight" < 2.5'
        ' AND "available" = TRUE'
        " AND \"born_on\" > CAST('2020-01-01' AS DATE)"
        " AND \"seen_at\" <= CAST('2024-06-01 08:30:00' AS TIMESTAMP)"
        " AND FROM_BASE(SUBSTR(LOWER(TO_HEX(MD5(TO_UTF8(CONCAT('req-42', '|',"
        " COALESCE(CAST(\"id\" AS VARCHAR), '<NULL>')))))), 1, 8), 16) < 1073741824"
    ]
    assert fake.connected == [
        {"region_name": "eu-west-1", "work_group": "extracts", "s3_staging_dir": "s3://results/"}
    ]


async def test_rows_are_streamed_a_page_at_a_time_into_csv(tmp_path: Path) -> None:
    fake = FakeAthena([Reply(DESCRIPTION, ROWS)])
    started = StartedLog()
    target = tmp_path / "out.csv"
    report = await athena_executor(fake).export(extract(), target, started=started)

    assert report.rows == len(ROWS)
    # Pages of Athena's 1,000-row maximum, until an empty one says the result is over.
    assert fake.fetch_sizes == [1000, 1000, 1000, 1000]
    lines = target.read_text().split("\n")
    assert lines[:6] == [
        "id,product,weight,available,born_on,seen_at,price",
        "0,apple,1.5,true,,2024-01-01 12:00:00,",
        '1,"",10.0,false,2024-02-29,2024-01-01 12:00:00.5,12.50',
        "2,,,,2024-02-29,2024-01-01 12:00:00,",
        '3,"say ""hi"", twice",0.1,true,2024-02-29,2024-01-01 12:00:00.5,12.50',
        "4,apple,1.5,false,2024-02-29,2024-01-01 12:00:00,",
    ]
    assert len(lines) == len(ROWS) + 2 and lines[-1] == ""
    assert started.ids == ["query-1"]
    assert fake.closed == ["cursor", "connection"]


async def test_rows_are_written_to_parquet_with_their_athena_types(tmp_path: Path) -> None:
    fake = FakeAthena([Reply(DESCRIPTION, ROWS)])
    spec = ExtractSpec(SPEC.columns, SPEC.filters, 0.25, ExtractFormat.PARQUET)
    target = tmp_path / "out.parquet"
    await athena_executor(fake).export(extract(spec), target, started=StartedLog())

    table = pq.read_table(target)
    assert [str(t) for t in table.schema.types] == [
        "int64",
        "string",
        "double",
        "bool",
        "date32[day]",
        "timestamp[us]",
        "decimal128(10, 2)",
    ]
    assert [tuple(row.values()) for row in table.to_pylist()] == ROWS


async def test_cancelling_an_export_cancels_the_athena_query(tmp_path: Path) -> None:
    fake = FakeAthena([Reply(DESCRIPTION, ROWS)], wait_for_cancel=True)
    started = StartedLog()
    target = tmp_path / "out.csv"
    task = asyncio.create_task(athena_executor(fake).export(extract(), target, started=started))
    while not started.ids:
        await asyncio.sleep(0.01)

    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 2
    assert started.ids == ["query-1"]
    # Asked until pyathena's cursor had the query id, then StopQueryExecution for it.
    assert fake.cancel_calls[-1] == "query-1"
    assert fake.cancelled.is_set()
    assert fake.closed == ["cursor", "connection"]
    assert not target.exists()


async def test_a_cancel_before_the_cursor_has_the_query_id_is_asked_again(
    tmp_path: Path,
) -> None:
    fake = FakeAthena([Reply(DESCRIPTION, ROWS)], wait_for_cancel=True, id_delay=0.3)
    started = StartedLog()
    task = asyncio.create_task(
        athena_executor(fake).export(extract(), tmp_path / "out.csv", started=started)
    )
    while not started.ids:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.cancel_calls == [None, "query-1"]
    assert fake.cancelled.is_set()


async def test_a_failed_query_is_unreadable_with_athenas_reason(tmp_path: Path) -> None:
    fake = FakeAthena(
        [], fail_with="TABLE_NOT_FOUND: line 1:15: Table 'analytics.orders' does not exist"
    )
    target = tmp_path / "out.csv"
    with pytest.raises(ExtractUnreadable, match="TABLE_NOT_FOUND"):
        await athena_executor(fake).export(extract(), target, started=StartedLog())
    assert not target.exists()
    assert fake.closed == ["cursor", "connection"]


async def test_the_estimate_counts_under_the_filters_and_measures_a_bernoulli_sample(
    tmp_path: Path,
) -> None:
    sample = [(i, "abcdefgh") for i in range(1000, 3000)]
    count: Description = [("_col0", "bigint", None, None, 19, 0, "NOT_NULL")]
    narrow: Description = [DESCRIPTION[0], DESCRIPTION[1]]
    fake = FakeAthena([Reply(count, [(60_000,)]), Reply(narrow, sample)])
    spec = ExtractSpec(("id", "product"), (Filter("id", ">=", 1000),), 0.5)

    estimate = await athena_executor(fake).estimate(extract(spec))

    assert fake.sent == [
        'SELECT COUNT(*) FROM "analytics"."orders" WHERE "id" >= 1000',
        # 1.2 times the 10,000 rows measured, out of 60,000: 20 percent.
        'SELECT "id", "product" FROM "analytics"."orders" TABLESAMPLE BERNOULLI (20.000000)'
        ' WHERE "id" >= 1000 LIMIT 10000',
    ]
    assert estimate.rows == 30_000
    # Every sampled line is `<4 digits>,abcdefgh\n`, 14 bytes, after the 11-byte header.
    assert estimate.bytes == len("id,product\n") + 30_000 * 14


@pytest.mark.parametrize(
    "location",
    [
        "",
        "orders",
        "a.b.c.d",
        "analytics..orders",
        ".orders",
        'analytics."orders"',
        "analytics.orders; DROP TABLE x",
        "analytics.orders--",
        "my-db.orders",
        "analytics.or ders",
        "analytics.orders\n",
        "`analytics`.orders",
        "analytics.orders/*",
        "analytics.orders'",
        "\uff41nalytics.orders",  # a fullwidth a
        "cat alog.analytics.orders",
        "s3://bucket/orders",
        "analytics." + "x" * 256,
    ],
)
async def test_hostile_locations_are_refused_before_athena_is_asked(
    tmp_path: Path, location: str
) -> None:
    fake = FakeAthena([Reply(DESCRIPTION, ROWS)])
    executor = athena_executor(fake)
    with pytest.raises(ExtractUnreadable):
        await executor.export(extract(location=location), tmp_path / "o.csv", started=StartedLog())
    with pytest.raises(ExtractUnreadable):
        await executor.estimate(extract(location=location))
    assert fake.connected == [] and fake.sent == []


def test_glue_names_are_read_into_their_parts() -> None:
    assert glue_table("analytics.orders") == ("analytics", "orders")
    assert glue_table("AwsDataCatalog.analytics.orders_2024") == (
        "AwsDataCatalog",
        "analytics",
        "orders_2024",
    )
    assert glue_table("my-catalog@1.db_2.t") == ("my-catalog@1", "db_2", "t")
    with pytest.raises(ExtractUnreadable, match=r"'analytics\.orders'"):
        glue_table("Analytics.Orders")


async def test_without_pyathena_the_reason_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a server installed without the extra: importing pyathena fails.
    monkeypatch.setitem(sys.modules, "pyathena", None)
    executor = AthenaExecutor(region="eu-west-1", work_group="extracts")
    with pytest.raises(ExtractUnreadable, match=r"pip install 'filedock\[athena\]'"):
        await executor.export(extract(), tmp_path / "o.csv", started=StartedLog())


def test_settings_are_checked_when_the_executor_is_made() -> None:
    with pytest.raises(ValueError, match="region"):
        AthenaExecutor(region="", work_group="extracts")
    with pytest.raises(ValueError, match="s3://"):
        AthenaExecutor(region="eu-west-1", s3_staging_dir="/tmp/results")
    with pytest.raises(ValueError, match="work group"):
        AthenaExecutor(region="eu-west-1")
