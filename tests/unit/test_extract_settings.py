"""Extract engines are configuration: each item type gets its engine once at start-up, and a
half-configured engine stops start-up naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from filedock.config import SettingsError, load_settings
from filedock.core.catalogue_model import ExecutorType
from filedock.ports.executor import (
    ExecutorNotConfigured,
    ExecutorOnFirstUse,
    ExtractQuery,
    ExtractUnreadable,
)
from filedock.ports.executor_athena import AthenaExecutor
from filedock.ports.executor_duckdb import DuckdbExecutor
from filedock.ports.executor_spark import SparkExecutor
from filedock.runtime import extract_executors, open_object_store

VARIABLES = (
    "FILEDOCK_SPARK_REMOTE",
    "FILEDOCK_ATHENA_OUTPUT_LOCATION",
    "FILEDOCK_ATHENA_REGION",
    "FILEDOCK_ATHENA_WORK_GROUP",
    "FILEDOCK_DUCKDB_MEMORY_LIMIT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)


async def test_by_default_duckdb_runs_and_the_others_say_which_setting_enables_them(
    tmp_path: Path,
) -> None:
    settings = load_settings(data_dir=tmp_path)
    executors = extract_executors(settings, open_object_store(settings))
    query = ExtractQuery("s3://data/x/", None, "seed")  # type: ignore[arg-type]
    # DuckDB is built on its first call (its libraries load only where extracts run): that
    # call reaches the engine, which refuses the location, rather than a missing setting.
    duckdb = executors[ExecutorType.DUCKDB]
    assert isinstance(duckdb, ExecutorOnFirstUse)
    with pytest.raises(ExtractUnreadable) as refused:
        await duckdb.estimate(query)
    assert not isinstance(refused.value, ExecutorNotConfigured)
    assert isinstance(duckdb._engine(), DuckdbExecutor)
    for kind, variable in [
        (ExecutorType.SPARK, "FILEDOCK_SPARK_REMOTE"),
        (ExecutorType.DATABRICKS, "FILEDOCK_SPARK_REMOTE"),
        (ExecutorType.ATHENA, "FILEDOCK_ATHENA_OUTPUT_LOCATION"),
    ]:
        with pytest.raises(ExecutorNotConfigured, match=variable):
            await executors[kind].estimate(query)


def test_configured_engines_serve_their_types(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        spark_remote="sc://spark.internal:15002",
        athena_output_location="s3://results/athena/",
        athena_region="eu-west-1",
    )
    executors = extract_executors(settings, open_object_store(settings))
    assert isinstance(executors[ExecutorType.SPARK], SparkExecutor)
    assert executors[ExecutorType.DATABRICKS] is executors[ExecutorType.SPARK]
    assert isinstance(executors[ExecutorType.ATHENA], AthenaExecutor)


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"spark_remote": "http://spark:8080"}, "FILEDOCK_SPARK_REMOTE"),
        ({"athena_output_location": "s3://results/"}, "FILEDOCK_ATHENA_REGION"),
        (
            {"athena_output_location": "/tmp/results", "athena_region": "eu-west-1"},
            "FILEDOCK_ATHENA_OUTPUT_LOCATION",
        ),
        ({"duckdb_memory_limit": "lots"}, "FILEDOCK_DUCKDB_MEMORY_LIMIT"),
    ],
)
def test_a_half_configured_engine_stops_start_up(
    tmp_path: Path, settings: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(data_dir=tmp_path, **settings)
