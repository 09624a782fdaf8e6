"""The extract query each executor is sent, pinned as text, and hostile names and values."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filedock.core.errors import InvalidInput
from filedock.core.extract_spec import ExtractSpec, Filter, parse_spec
from filedock.ports.extract_sql import (
    HASH_SPACE,
    extract_sql,
    local_files_source,
    sample_threshold,
    table_source,
)

TWO_FILTERS = ExtractSpec(
    columns=("product", "price"),
    filters=(Filter("price", ">=", 78), Filter("born_on", "<", date(2024, 1, 1))),
    randomize_ratio=0.1,
)
HOSTILE_NAME = 'a"; DROP TABLE x; --'
HOSTILE_VALUE = "' OR 1=1 --"


def test_duckdb_query_reads_the_local_files_filters_then_samples() -> None:
    source = local_files_source([Path("/data/a.parquet"), Path("/data/b.parquet")])
    assert extract_sql(TWO_FILTERS, source, "duckdb", seed="req-42") == (
        "SELECT \"product\", \"price\" FROM READ_PARQUET(['/data/a.parquet', '/data/b.parquet'])"
        " WHERE \"price\" >= 78 AND \"born_on\" < CAST('2024-01-01' AS DATE)"
        " AND CAST('0x' || SUBSTRING(MD5('req-42' || '|' || COALESCE(CAST(\"product\" AS TEXT),"
        " '<NULL>') || '|' || COALESCE(CAST(\"price\" AS TEXT), '<NULL>')), 1, 8) AS BIGINT)"
        " < 429496730"
    )


def test_spark_query_reads_the_named_table() -> None:
    source = table_source("analytics", "orders")
    assert extract_sql(TWO_FILTERS, source, "spark", seed="req-42") == (
        "SELECT `product`, `price` FROM `analytics`.`orders`"
        " WHERE `price` >= 78 AND `born_on` < CAST('2024-01-01' AS DATE)"
        " AND CAST(CONV(SUBSTRING(MD5(CONCAT('req-42', '|', COALESCE(CAST(`product` AS STRING),"
        " '<NULL>'), '|', COALESCE(CAST(`price` AS STRING), '<NULL>'))), 1, 8), 16, 10)"
        " AS BIGINT) < 429496730"
    )


def test_athena_is_sent_this_trino_query() -> None:
    # Athena cannot run here: this pins the SQL it would be sent, in Trino's dialect.
    source = table_source("analytics", "orders")
    assert extract_sql(TWO_FILTERS, source, "trino", seed="req-42") == (
        'SELECT "product", "price" FROM "analytics"."orders"'
        " WHERE \"price\" >= 78 AND \"born_on\" < CAST('2024-01-01' AS DATE)"
        " AND FROM_BASE(SUBSTR(LOWER(TO_HEX(MD5(TO_UTF8(CONCAT('req-42', '|',"
        " COALESCE(CAST(\"product\" AS VARCHAR), '<NULL>'), '|',"
        " COALESCE(CAST(\"price\" AS VARCHAR), '<NULL>')))))), 1, 8), 16) < 429496730"
    )


def test_ratio_one_adds_no_sample_condition() -> None:
    spec = ExtractSpec(("product",), (Filter("price", "=", 0),), 1.0)
    assert extract_sql(spec, table_source("t"), "trino", seed="s") == (
        'SELECT "product" FROM "t" WHERE "price" = 0'
    )
    no_filters = ExtractSpec(("product",), (), 1.0)
    sql = extract_sql(no_filters, table_source("t"), "spark", seed="s")
    assert sql == "SELECT `product` FROM `t`"


def test_named_key_columns_are_hashed_instead_of_the_selected_ones() -> None:
    spec = ExtractSpec(("product",), (), 0.5)
    sql = extract_sql(spec, table_source("t"), "duckdb", seed="s", key_columns=("id",))
    assert 'CAST("id" AS TEXT)' in sql
    assert 'CAST("product" AS TEXT)' not in sql


def test_the_threshold_keeps_the_ratio_of_the_hash_space() -> None:
    # The system this replaces kept 1 - ratio of the rows; the threshold grows with the ratio.
    assert sample_threshold(1.0) == HASH_SPACE
    assert sample_threshold(0.1) == 429496730
    assert sample_threshold(0.5) == HASH_SPACE // 2
    assert 0 < sample_threshold(1e-12) <= 1


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (True, "TRUE"),
        (False, "FALSE"),
        (-3, "-3"),
        (2.5, "2.5"),
        ("tea", "'tea'"),
        (datetime(2024, 3, 1, 10, 30), "CAST('2024-03-01 10:30:00' AS TIMESTAMP)"),
        (date(2024, 3, 1), "CAST('2024-03-01' AS DATE)"),
    ],
)
def test_values_become_typed_literals(value: Any, rendered: str) -> None:
    spec = ExtractSpec(("c",), (Filter("c", "=", value),), 1.0)
    assert extract_sql(spec, table_source("t"), "trino", seed="s") == (
        f'SELECT "c" FROM "t" WHERE "c" = {rendered}'
    )


@pytest.mark.parametrize(
    ("dialect", "name", "value"),
    [
        ("duckdb", '"a""; DROP TABLE x; --"', "''' OR 1=1 --'"),
        ("trino", '"a""; DROP TABLE x; --"', "''' OR 1=1 --'"),
        ("spark", '`a"; DROP TABLE x; --`', "'\\' OR 1=1 --'"),
    ],
)
def test_hostile_names_and_values_are_quoted_and_escaped(
    dialect: Any, name: str, value: str
) -> None:
    spec = ExtractSpec((HOSTILE_NAME,), (Filter(HOSTILE_NAME, "=", HOSTILE_VALUE),), 1.0)
    sql = extract_sql(spec, table_source("t"), dialect, seed="s")
    assert sql == f"SELECT {name} FROM {table_source('t').sql(dialect)} WHERE {name} = {value}"


def test_a_backtick_in_a_spark_name_is_doubled() -> None:
    spec = ExtractSpec(("a`b",), (), 1.0)
    assert extract_sql(spec, table_source("t"), "spark", seed="s") == "SELECT `a``b` FROM `t`"


def test_hostile_name_and_value_run_harmlessly_on_duckdb(tmp_path: Path) -> None:
    data = tmp_path / "hostile.parquet"
    pq.write_table(pa.table({HOSTILE_NAME: ["tea", "cake"], "n": [1, 2]}), data)
    spec = ExtractSpec((HOSTILE_NAME, "n"), (Filter(HOSTILE_NAME, "=", HOSTILE_VALUE),), 1.0)
    sql = extract_sql(spec, local_files_source([data]), "duckdb", seed="s")
    connection = duckdb.connect()
    try:
        assert connection.execute(sql).fetchall() == []
        everything = ExtractSpec((HOSTILE_NAME,), (), 1.0)
        rows = connection.execute(extract_sql(everything, local_files_source([data]), "duckdb",
                                              seed="s")).fetchall()
        assert rows == [("tea",), ("cake",)]
    finally:
        connection.close()


def test_a_hostile_name_that_is_not_a_column_is_refused_before_any_sql() -> None:
    columns = [{"name": "product", "type": "STRING", "is_nullable": True, "size": None,
                "distribution": None}]
    body = {"columns": [HOSTILE_NAME], "filters": [
        {"name": HOSTILE_NAME, "operator": "=", "value": HOSTILE_VALUE}]}
    with pytest.raises(InvalidInput) as caught:
        parse_spec(body, columns)
    assert set(caught.value.fields) == {"spec.columns", "spec.filters.0.name"}


def test_local_files_source_reads_csv_with_the_csv_reader() -> None:
    assert local_files_source([Path("/d/a.csv")]).sql("duckdb") == "READ_CSV_AUTO(['/d/a.csv'])"
    with pytest.raises(ValueError):
        local_files_source([])


def test_table_source_quotes_each_part_and_refuses_too_many() -> None:
    assert table_source("c", "d", "t").sql("trino") == '"c"."d"."t"'
    with pytest.raises(ValueError):
        table_source("a", "b", "c", "d")
