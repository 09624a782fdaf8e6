"""A download request's spec, checked against its catalogue item's columns.

The body's `spec` is `{"columns": [...], "filters": [{"name", "operator", "value"}],
"randomize_ratio": r, "format": "csv" | "parquet"}`. Every problem is reported under its
field (`spec.filters.0.value`) in Django REST framework's words, as the seed's errors are.
Values are checked strictly against their column's type, falsy ones too: the system this
replaces skipped the check for 0, False and "".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from filedock.core.catalogue_model import ColumnSpec
from filedock.core.errors import InvalidInput
from filedock.core.extract_model import (
    OPERATORS,
    ExtractFormat,
    ExtractSpec,
    Filter,
    FilterValue,
)

__all__ = [
    "ColumnOperators",
    "ExtractFormat",
    "ExtractSpec",
    "Filter",
    "dedupe_key",
    "operators_by_column",
    "parse_spec",
    "render_spec",
]

EQUALITY: Final = ("=", "!=")
# Follows the seed's render_ui_data: STRING columns are ordered (text comparison) too.
OPERATORS_BY_TYPE: Final[dict[str, tuple[str, ...]]] = {
    "STRING": OPERATORS,
    "INTEGER": OPERATORS,
    "FLOAT": OPERATORS,
    "BOOLEAN": EQUALITY,
    "DATETIME": OPERATORS,
    "DATE": OPERATORS,
    "TIMESTAMP": OPERATORS,
}

# fromisoformat alone accepts "20200101" and week dates; the formats are pinned first.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")
_TYPE_ERRORS: Final = {
    "STRING": "Not a valid string.",
    "INTEGER": "A valid integer is required.",
    "FLOAT": "A valid number is required.",
    "BOOLEAN": "Must be a valid boolean.",
    "DATE": "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
    "DATETIME": "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
}
_TYPE_ERRORS["TIMESTAMP"] = _TYPE_ERRORS["DATETIME"]
REQUIRED: Final = "This field is required."


@dataclass(frozen=True, slots=True)
class ColumnOperators:
    name: str
    operators: tuple[str, ...]


def operators_by_column(columns: Sequence[ColumnSpec]) -> list[ColumnOperators]:
    """The filter operators each column allows (render_ui_data), in the item's column order."""
    return [ColumnOperators(c["name"], OPERATORS_BY_TYPE[c["type"]]) for c in columns]


def parse_spec(body_spec: Any, columns: Sequence[ColumnSpec]) -> ExtractSpec:
    """The body's `spec` as an `ExtractSpec`, or `InvalidInput` naming every bad field.

    `filters` defaults to none and `randomize_ratio` to 1 (every filtered row).
    """
    if not isinstance(body_spec, dict):
        raise InvalidInput.one("spec", _not_a("dictionary", body_spec))
    types = {c["name"]: c["type"] for c in columns}
    errors: dict[str, list[str]] = {}
    chosen = _columns(body_spec.get("columns"), types, errors)
    filters = _filters(body_spec.get("filters", []), types, errors)
    ratio = _ratio(body_spec.get("randomize_ratio", 1), errors)
    output = body_spec.get("format", ExtractFormat.CSV.value)
    if output not in [f.value for f in ExtractFormat]:
        errors["spec.format"] = [f"{json.dumps(output)} is not a valid choice."]
    if errors:
        raise InvalidInput(errors)
    return ExtractSpec(chosen, filters, ratio, ExtractFormat(output))


def render_spec(spec: ExtractSpec) -> dict[str, Any]:
    """The spec as JSON, as a request shows it and as `parse_spec` reads it back.

    A ratio of 1 is written `1`, as the seed writes it; dates and times as ISO text.
    """
    ratio = spec.randomize_ratio
    return {
        "columns": list(spec.columns),
        "filters": [
            {"name": f.name, "operator": f.operator, "value": _json_value(f.value)}
            for f in spec.filters
        ],
        "randomize_ratio": int(ratio) if ratio == int(ratio) else ratio,
        "format": spec.format.value,
    }


def dedupe_key(item_id: int, spec: ExtractSpec) -> str:
    """Canonical JSON of a request: equal exactly when two requests ask for the same extract.

    Values keep their type (1, "1" and true differ); filters are sorted, as their order does
    not change the rows; columns are not, as their order is the output's.
    """
    filters = sorted(([f.name, f.operator, _typed(f.value)] for f in spec.filters), key=json.dumps)
    canonical = {
        "item": item_id,
        "columns": list(spec.columns),
        "filters": filters,
        "randomize_ratio": float(spec.randomize_ratio),
        "format": spec.format.value,
    }
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def _columns(raw: Any, types: dict[str, str], errors: dict[str, list[str]]) -> tuple[str, ...]:
    if raw is None:
        errors["spec.columns"] = [REQUIRED]
        return ()
    if not isinstance(raw, list):
        errors["spec.columns"] = [_not_a("list of items", raw)]
        return ()
    if not raw:
        errors["spec.columns"] = ["This list may not be empty."]
        return ()
    problems, seen = [], set()
    for name in raw:
        if not isinstance(name, str):
            problems.append(f"{json.dumps(name)} is not a valid column name.")
        elif name not in types:
            problems.append(_unknown_column(name))
        elif name in seen:
            problems.append(f"{json.dumps(name)} is repeated.")
        else:
            seen.add(name)
    if problems:
        errors["spec.columns"] = problems
    return tuple(raw)


def _filters(raw: Any, types: dict[str, str], errors: dict[str, list[str]]) -> tuple[Filter, ...]:
    if not isinstance(raw, list):
        errors["spec.filters"] = [_not_a("list of items", raw)]
        return ()
    parsed = []
    for index, item in enumerate(raw):
        where = f"spec.filters.{index}"
        if not isinstance(item, dict):
            errors[where] = [_not_a("dictionary", item)]
            continue
        one = _filter(item, types, where, errors)
        if one is not None:
            parsed.append(one)
    return tuple(parsed)


def _filter(
    item: dict[str, Any], types: dict[str, str], where: str, errors: dict[str, list[str]]
) -> Filter | None:
    for field in ("name", "operator", "value"):
        if field not in item:
            errors[f"{where}.{field}"] = [REQUIRED]
    name, operator = item.get("name"), item.get("operator")
    column_type = types.get(name) if isinstance(name, str) else None
    if "name" in item and column_type is None:
        errors[f"{where}.name"] = [_unknown_column(name)]
    if column_type is None or "operator" not in item or "value" not in item:
        return None
    allowed = OPERATORS_BY_TYPE[column_type]
    if operator not in allowed:
        choices = ", ".join(json.dumps(o) for o in allowed)
        errors[f"{where}.operator"] = [
            f"{json.dumps(operator)} is not a valid choice for a {column_type} column; "
            f"use one of {choices}."
        ]
    value = _value(column_type, item["value"])
    if value is None:
        message = "This field may not be null." if item["value"] is None else None
        errors[f"{where}.value"] = [message or _TYPE_ERRORS[column_type]]
    if operator not in allowed or value is None:
        return None
    assert isinstance(name, str) and isinstance(operator, str)
    return Filter(name, operator, value)


def _value(column_type: str, raw: Any) -> FilterValue | None:
    """`raw` as a value of `column_type`, or None if it is not one (None itself included)."""
    # Strict: bool is an int subclass in Python, and "1" or 1 are not booleans.
    if column_type == "BOOLEAN":
        return raw if isinstance(raw, bool) else None
    if isinstance(raw, bool):
        return None
    if column_type == "STRING":
        return raw if isinstance(raw, str) else None
    if column_type == "INTEGER":
        return raw if isinstance(raw, int) else None
    if column_type == "FLOAT":
        if isinstance(raw, int | float) and math.isfinite(raw):
            return float(raw)
        return None
    if not isinstance(raw, str):
        return None
    if column_type == "DATE":
        return date.fromisoformat(raw) if _DATE.fullmatch(raw) and _parses(raw, date) else None
    if not (_DATETIME.fullmatch(raw) and _parses(raw, datetime)):
        return None
    moment = datetime.fromisoformat(raw)
    # Columns are taken to hold UTC times; an offset given is honoured by converting to UTC.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _ratio(raw: Any, errors: dict[str, list[str]]) -> float:
    field = "spec.randomize_ratio"
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        errors[field] = ["A valid number is required."]
        return 1.0
    if raw <= 0:
        errors[field] = ["Ensure this value is greater than 0."]
    elif raw > 1:
        errors[field] = ["Ensure this value is less than or equal to 1."]
    return float(raw)


def _typed(value: FilterValue) -> list[Any]:
    if isinstance(value, date):
        # datetime before date: a datetime is a date too.
        kind = "datetime" if isinstance(value, datetime) else "date"
        return [kind, value.isoformat()]
    return [type(value).__name__, value]


def _json_value(value: FilterValue) -> str | int | float | bool:
    return value.isoformat() if isinstance(value, date) else value


def _parses(text: str, kind: type[date]) -> bool:
    try:
        kind.fromisoformat(text)
    except ValueError:
        return False
    return True


def _unknown_column(name: Any) -> str:
    return f"{json.dumps(name)} is not a column of this catalogue item."


def _not_a(expected: str, raw: Any) -> str:
    return f'Expected a {expected} but got type "{type(raw).__name__}".'
