"""The extract query of a download request, built with sqlglot for DuckDB, Spark and Trino.

`SELECT <columns> FROM <source> WHERE <filters> AND <sample>`. Identifiers and values enter
the query only as sqlglot nodes, rendered and escaped by sqlglot for each dialect, never as
text pasted in. Trino's dialect is what Athena is sent.

The sample keeps the filtered rows whose hash falls under the ratio: the first 8 hex digits
of `md5(seed | key values)`, read as an integer `h`, keep the row when
`h < ceil(ratio * 16^8)`. md5 of the same text is the same on every engine, so a request
re-run gives the same rows, and DuckDB and Spark agree. The text hashed is each key value
cast to a string, `|`-joined, NULL written as a fixed marker; strings, integers, booleans and
dates render alike on every engine, but Trino writes doubles (`1.5E0`) and timestamps
(`.000`) its own way, so an Athena item should name key columns of those types.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Final, Literal

from sqlglot import exp

from filedock.core.extract_model import ExtractSpec, FilterValue

Dialect = Literal["duckdb", "spark", "trino"]

HASH_SPACE: Final = 16**8
NULL_MARKER: Final = "<NULL>"
_COMPARISONS: Final[dict[str, type[exp.Expression]]] = {
    ">": exp.GT,
    ">=": exp.GTE,
    "<": exp.LT,
    "<=": exp.LTE,
    "=": exp.EQ,
    "!=": exp.NEQ,
}


def extract_sql(
    spec: ExtractSpec,
    source: exp.Expression,
    dialect: Dialect,
    *,
    seed: str,
    key_columns: Sequence[str] = (),
) -> str:
    """The query selecting `spec`'s rows from `source`, in `dialect`.

    `key_columns` name the row for sampling; without them the selected values do.
    """
    query = exp.select(*(_column(name) for name in spec.columns)).from_(source)
    conditions = [_comparison(f.name, f.operator, f.value) for f in spec.filters]
    if spec.randomize_ratio < 1:
        keys = key_columns or spec.columns
        conditions.append(_sample(keys, seed, spec.randomize_ratio, dialect))
    if conditions:
        query = query.where(exp.and_(*conditions))
    return query.sql(dialect=dialect)


def count_sql(spec: ExtractSpec, source: exp.Expression, dialect: Dialect) -> str:
    """The query counting the rows under `spec`'s filters (before any sample)."""
    query = exp.select(exp.Count(this=exp.Star())).from_(source)
    return _filtered(query, spec).sql(dialect=dialect)


def width_sample_sql(
    spec: ExtractSpec, source: exp.Expression, dialect: Dialect, *, percent: float, limit: int
) -> str:
    """`spec`'s columns of about `percent`% of the rows under its filters, at most `limit`.

    A Bernoulli sample of the source's rows (`TABLESAMPLE`), cheaper than the md5 sample and
    as good for measuring how wide a row is; a different set on each run.
    """
    if not 0 < percent <= 100 or limit < 0:
        raise ValueError("a sample keeps a percentage in (0, 100] and a limit counts rows")
    # Fixed-point: Spark takes no exponent here; the smallest share kept is 10^-6 percent.
    sampled = source.copy()
    if percent < 100:
        share = exp.Literal.number(f"{max(percent, 1e-6):.6f}")
        sampled.set("sample", exp.TableSample(method=exp.var("BERNOULLI"), percent=share))
    query = exp.select(*(_column(name) for name in spec.columns)).from_(sampled)
    return _filtered(query, spec).limit(exp.Literal.number(limit)).sql(dialect=dialect)


def local_files_source(paths: Sequence[Path]) -> exp.Expression:
    """DuckDB's reader of local Parquet or CSV files (one format, as profiling checks)."""
    if not paths:
        raise ValueError("no file to read")
    reader = "read_parquet" if paths[0].suffix == ".parquet" else "read_csv_auto"
    files = exp.Array(expressions=[exp.Literal.string(str(p)) for p in paths])
    return exp.Table(this=exp.Anonymous(this=reader, expressions=[files]))


def table_source(*parts: str) -> exp.Expression:
    """A table named by its parts (`"analytics", "orders"`), each quoted."""
    if not 1 <= len(parts) <= 3:
        raise ValueError("a table is named by one to three parts")
    quoted = [exp.to_identifier(part, quoted=True) for part in parts]
    catalog, db = ([None] * (3 - len(parts)) + quoted)[:2]
    return exp.Table(this=quoted[-1], db=db, catalog=catalog)


def path_source(fmt: Literal["parquet", "csv"], path: str) -> exp.Expression:
    """Spark SQL's reader of the files at `path`, a file or a folder: parquet.`<path>`.

    The path is an identifier quoted by sqlglot (a backtick in it doubled), never pasted in.
    Spark expands glob characters in it (`*?[]{}`): callers refuse paths that hold them.
    Spark's `csv.` form reads without a header row (columns `_c0`, `_c1`, …), so a CSV
    dataset with named columns needs a reader with the header option instead.
    """
    if not path:
        raise ValueError("no path to read")
    return exp.Table(this=exp.to_identifier(path, quoted=True), db=exp.to_identifier(fmt))


def sample_threshold(ratio: float) -> int:
    """The hashes kept are those under this: `ratio` of the 16^8 possible."""
    return math.ceil(ratio * HASH_SPACE)


def _filtered(query: exp.Select, spec: ExtractSpec) -> exp.Select:
    conditions = [_comparison(f.name, f.operator, f.value) for f in spec.filters]
    return query.where(exp.and_(*conditions)) if conditions else query


def _column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _comparison(name: str, operator: str, value: FilterValue) -> exp.Expression:
    return _COMPARISONS[operator](this=_column(name), expression=_literal(value))


def _literal(value: FilterValue) -> exp.Expression:
    # bool before int (a bool is an int) and datetime before date (a datetime is a date).
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(value)


def _sample(keys: Sequence[str], seed: str, ratio: float, dialect: Dialect) -> exp.Expression:
    text: list[exp.Expression] = [exp.Literal.string(seed)]
    for key in keys:
        as_text = exp.cast(_column(key), "VARCHAR")
        text += [
            exp.Literal.string("|"),
            exp.Coalesce(this=as_text, expressions=[exp.Literal.string(NULL_MARKER)]),
        ]
    digest = exp.MD5(this=exp.Concat(expressions=text))
    first_8 = exp.Substring(this=digest, start=exp.Literal.number(1), length=exp.Literal.number(8))
    threshold = exp.Literal.number(sample_threshold(ratio))
    return exp.LT(this=_hex_to_integer(first_8, dialect), expression=threshold)


def _hex_to_integer(hex_text: exp.Expression, dialect: Dialect) -> exp.Expression:
    """Each engine's own way of reading hex digits as an integer; sqlglot has no common one."""
    sixteen, ten = exp.Literal.number(16), exp.Literal.number(10)
    if dialect == "duckdb":
        # DuckDB casts '0x…' text to an integer.
        prefixed = exp.Concat(expressions=[exp.Literal.string("0x"), hex_text])
        return exp.cast(prefixed, "BIGINT")
    if dialect == "spark":
        return exp.cast(exp.Anonymous(this="CONV", expressions=[hex_text, sixteen, ten]), "BIGINT")
    return exp.Anonymous(this="FROM_BASE", expressions=[hex_text, sixteen])
