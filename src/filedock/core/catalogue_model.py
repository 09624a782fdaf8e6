"""Catalogue items and the rules their `spec` obeys (seed 003, "Catalogue Items Management").

A spec is a list of columns: name, type, nullability, size and a `distribution` of
`{value, count}` pairs whose values must fit the column's type. It is checked with a JSON
Schema and refused in the seed's words: `JSON did not validate. PATH: '0' REASON: 'type' is a
required property`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from filedock.core.errors import InvalidInput

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

ColumnSpec = dict[str, Any]

# A `store:` location names objects of filedock's own store, and only under this prefix
# (FILEDOCK_CATALOGUE_DATASETS_PREFIX): the rest of the store is people's private uploads.
STORE_SCHEME: Final = "store:"
DATASETS_PREFIX: Final = "datasets/"
COLUMN_TYPES: Final = ("STRING", "INTEGER", "FLOAT", "BOOLEAN", "DATETIME", "DATE", "TIMESTAMP")
MAX_NAME_LENGTH = 200
MAX_SAMPLE_ROWS = 100


class ExecutorType(StrEnum):
    DUCKDB = "DUCKDB"
    SPARK = "SPARK"
    DATABRICKS = "DATABRICKS"
    ATHENA = "ATHENA"


@dataclass(frozen=True, slots=True)
class NewCatalogueItem:
    name: str
    executor_type: ExecutorType
    spec: list[ColumnSpec]
    sample: list[dict[str, Any]]
    maintained_by_id: int | None
    created_by_id: int | None
    updated_by_id: int | None
    location: str | None = None
    # The columns that name a row, for sampling download requests; empty: the row's values.
    key_columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    id: int
    name: str
    executor_type: ExecutorType
    spec: list[ColumnSpec]
    sample: list[dict[str, Any]]
    maintained_by_id: int | None
    created_by_id: int | None
    updated_by_id: int | None
    created_at: datetime
    updated_at: datetime
    location: str | None = None
    # Changes on every write; an update succeeds only against the revision it read.
    revision: str = ""
    key_columns: tuple[str, ...] = ()


SPEC_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "type", "is_nullable", "size", "distribution"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
            "type": {"enum": list(COLUMN_TYPES)},
            "is_nullable": {"type": "boolean"},
            "size": {"type": ["integer", "null"], "minimum": 0},
            "distribution": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["value", "count"],
                    "additionalProperties": False,
                    "properties": {
                        "value": {},
                        "count": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    },
}


@cache
def _spec_validator() -> Draft202012Validator:
    # Imported on first use: jsonschema adds about 11 MB to every server process, most of
    # which never checks a catalogue spec.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SPEC_SCHEMA)


class LocationRefused(ValueError):
    """A `store:` location that could name objects outside the datasets prefix."""


def store_location_key(location: str, datasets_prefix: str) -> str:
    """The key or key prefix `store:<key>` names, if it lies under `datasets_prefix`.

    Raises `LocationRefused` otherwise. Keys are compared as text, never normalised: a key
    with `..`, `//`, a backslash or a leading `/` is refused rather than interpreted.
    """
    key = location.removeprefix(STORE_SCHEME)
    if ".." in key or "//" in key or "\\" in key or key.startswith("/"):
        raise LocationRefused(
            f"a store: location must not contain '..', '//' or a backslash, nor start with "
            f"'/'; name objects under {datasets_prefix}, like {STORE_SCHEME}{datasets_prefix}iot/"
        )
    if not key.startswith(datasets_prefix):
        raise LocationRefused(
            f"a store: location must be under {datasets_prefix}, "
            f"like {STORE_SCHEME}{datasets_prefix}iot/"
        )
    return key


def validate_spec(spec: object) -> list[ColumnSpec]:
    """`spec` if it is a valid column list, else `InvalidInput` on `spec` in the seed's words."""
    errors = sorted(_spec_validator().iter_errors(spec), key=lambda e: list(map(str, e.path)))
    if errors:
        first = errors[0]
        raise InvalidInput.one("spec", _did_not_validate(list(first.path), first.message))
    assert isinstance(spec, list)
    names: set[str] = set()
    for index, column in enumerate(spec):
        if column["name"] in names:
            raise InvalidInput.one(
                "spec", _did_not_validate([index, "name"], f"{column['name']!r} is repeated")
            )
        names.add(column["name"])
        for position, pair in enumerate(column["distribution"] or []):
            if not value_fits(column["type"], pair["value"]):
                path = [index, "distribution", position, "value"]
                reason = f"{pair['value']!r} is not a {column['type']} value"
                raise InvalidInput.one("spec", _did_not_validate(path, reason))
    return spec


def validate_key_columns(value: object, spec: list[ColumnSpec]) -> tuple[str, ...]:
    """Names of distinct columns of `spec` that together name a row (for sampling)."""
    names = {column["name"] for column in spec}
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise InvalidInput.one("key_columns", "Expected a list of column names.")
    unknown = [name for name in value if name not in names]
    if unknown:
        raise InvalidInput.one("key_columns", f"{unknown[0]!r} is not a column of the spec.")
    if len(set(value)) != len(value):
        raise InvalidInput.one("key_columns", "A column is named twice.")
    return tuple(value)


def validate_sample(sample: object) -> list[dict[str, Any]]:
    if not isinstance(sample, list) or not all(isinstance(row, dict) for row in sample):
        raise InvalidInput.one("sample", "Expected a list of rows (objects).")
    if len(sample) > MAX_SAMPLE_ROWS:
        raise InvalidInput.one("sample", f"Ensure this list has at most {MAX_SAMPLE_ROWS} rows.")
    return sample


def value_fits(column_type: str, value: Any) -> bool:
    """Whether a distribution `value` can be a value of a column of `column_type`."""
    if value is None:
        return True
    if column_type == "BOOLEAN":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if column_type == "INTEGER":
        return isinstance(value, int)
    if column_type == "FLOAT":
        return isinstance(value, int | float) and math.isfinite(value)
    if column_type == "STRING":
        return isinstance(value, str)
    if column_type == "DATE":
        return isinstance(value, str) and _parses(date.fromisoformat, value)
    return isinstance(value, str) and _parses(datetime.fromisoformat, value)


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _did_not_validate(path: list[Any], reason: str) -> str:
    where = ".".join(str(part) for part in path)
    return f"JSON did not validate. PATH: '{where}' REASON: {reason}"
