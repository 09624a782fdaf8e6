"""A download request's spec, checked against its catalogue item's columns (seed 003)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from filedock.core.catalogue_model import COLUMN_TYPES
from filedock.core.errors import InvalidInput
from filedock.core.extract_spec import (
    ExtractFormat,
    ExtractSpec,
    Filter,
    dedupe_key,
    operators_by_column,
    parse_spec,
)

ALL_SIX = (">", ">=", "<", "<=", "=", "!=")


def column(name: str, kind: str, nullable: bool = True) -> dict[str, Any]:
    return {"name": name, "type": kind, "is_nullable": nullable, "size": None, "distribution": None}


COLUMNS = [
    column("product", "STRING"),
    column("price", "INTEGER", nullable=False),
    column("weight", "FLOAT"),
    column("available", "BOOLEAN"),
    column("seen_at", "DATETIME"),
    column("born_on", "DATE"),
    column("stamped", "TIMESTAMP"),
]


def spec_with(*filters: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"columns": ["product"], "filters": list(filters), "randomize_ratio": 1, **rest}


def refusal(body: Any) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(body, COLUMNS)
    return caught.value.fields


def test_the_seeds_example_spec_parses() -> None:
    body = {
        "columns": ["product"],
        "filters": [{"name": "price", "operator": ">=", "value": 78}],
        "randomize_ratio": 1,
    }
    assert parse_spec(body, COLUMNS) == ExtractSpec(
        columns=("product",),
        filters=(Filter("price", ">=", 78),),
        randomize_ratio=1.0,
        format=ExtractFormat.CSV,
    )


def test_columns_keep_the_order_asked_and_format_parquet_is_accepted() -> None:
    spec = parse_spec({"columns": ["price", "product"], "format": "parquet"}, COLUMNS)
    assert spec.columns == ("price", "product")
    assert spec.filters == ()
    assert spec.randomize_ratio == 1.0
    assert spec.format is ExtractFormat.PARQUET


def test_an_unknown_format_is_refused() -> None:
    assert refusal(spec_with(format="xlsx")) == {"spec.format": ['"xlsx" is not a valid choice.']}


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (None, "This field is required."),
        ([], "This list may not be empty."),
        ("product", 'Expected a list of items but got type "str".'),
        (["nope"], '"nope" is not a column of this catalogue item.'),
        (["product", "product"], '"product" is repeated.'),
        ([1], "1 is not a valid column name."),
    ],
)
def test_bad_columns_are_refused(columns: Any, message: str) -> None:
    body = {"columns": columns} if columns is not None else {}
    assert refusal(body) == {"spec.columns": [message]}


def test_a_spec_that_is_not_an_object_is_refused() -> None:
    assert refusal(["product"]) == {"spec": ['Expected a dictionary but got type "list".']}


def test_a_filter_on_an_unknown_column_is_refused() -> None:
    fields = refusal(spec_with({"name": "nope", "operator": "=", "value": 1}))
    assert fields == {"spec.filters.0.name": ['"nope" is not a column of this catalogue item.']}


def test_a_filter_missing_its_fields_names_each() -> None:
    fields = refusal(spec_with({"name": "price"}))
    assert fields == {
        "spec.filters.0.operator": ["This field is required."],
        "spec.filters.0.value": ["This field is required."],
    }


@pytest.mark.parametrize("operator", [">", ">=", "<", "<="])
def test_ordering_operators_are_refused_on_booleans(operator: str) -> None:
    fields = refusal(spec_with({"name": "available", "operator": operator, "value": True}))
    assert fields == {
        "spec.filters.0.operator": [
            f'"{operator}" is not a valid choice for a BOOLEAN column; use one of "=", "!=".'
        ]
    }


def test_an_unknown_operator_is_refused() -> None:
    fields = refusal(spec_with({"name": "price", "operator": "LIKE", "value": 1}))
    assert list(fields) == ["spec.filters.0.operator"]
    assert fields["spec.filters.0.operator"][0].startswith('"LIKE" is not a valid choice')


@pytest.mark.parametrize(
    ("name", "operator", "value", "parsed"),
    [
        ("product", "<", "m", "m"),
        ("price", "!=", -3, -3),
        ("weight", "<=", 2, 2.0),
        ("weight", ">", 2.5, 2.5),
        ("available", "=", True, True),
        ("seen_at", ">=", "2024-03-01T10:30:00", datetime(2024, 3, 1, 10, 30)),
        ("seen_at", "<", "2024-03-01T10:30:00+02:00", datetime(2024, 3, 1, 8, 30)),
        ("stamped", "=", "2024-03-01 10:30:00.5", datetime(2024, 3, 1, 10, 30, 0, 500000)),
        ("born_on", ">", "2024-02-29", date(2024, 2, 29)),
    ],
)
def test_values_of_each_type_are_accepted_and_typed(
    name: str, operator: str, value: Any, parsed: Any
) -> None:
    spec = parse_spec(spec_with({"name": name, "operator": operator, "value": value}), COLUMNS)
    assert spec.filters == (Filter(name, operator, parsed),)
    assert type(spec.filters[0].value) is type(parsed)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("price", True, "A valid integer is required."),
        ("price", "1", "A valid integer is required."),
        ("price", 1.5, "A valid integer is required."),
        ("weight", "2.5", "A valid number is required."),
        ("weight", False, "A valid number is required."),
        ("available", 1, "Must be a valid boolean."),
        ("available", "true", "Must be a valid boolean."),
        ("product", 5, "Not a valid string."),
        ("price", None, "This field may not be null."),
        ("born_on", "20240301", "Date has wrong format."),
        ("born_on", "2024-02-30", "Date has wrong format."),
        ("born_on", "2024-03-01T00:00", "Date has wrong format."),
        ("seen_at", "2024-03-01", "Datetime has wrong format."),
        ("seen_at", "2024-W09-5T10:00", "Datetime has wrong format."),
        ("stamped", 1709288400, "Datetime has wrong format."),
    ],
)
def test_values_not_of_the_columns_type_are_refused(name: str, value: Any, message: str) -> None:
    fields = refusal(spec_with({"name": name, "operator": "=", "value": value}))
    assert list(fields) == ["spec.filters.0.value"]
    assert fields["spec.filters.0.value"][0].startswith(message)


@pytest.mark.parametrize(
    ("name", "falsy"),
    [("price", False), ("price", ""), ("available", 0), ("available", ""), ("product", 0),
     ("product", False), ("weight", ""), ("born_on", 0), ("born_on", "")],
)
def test_falsy_values_are_type_checked_too(name: str, falsy: Any) -> None:
    # The system this replaces skipped the check for 0, False and "".
    assert "spec.filters.0.value" in refusal(
        spec_with({"name": name, "operator": "=", "value": falsy})
    )


@pytest.mark.parametrize(("name", "falsy"), [("price", 0), ("available", False), ("product", "")])
def test_falsy_values_of_the_right_type_are_kept(name: str, falsy: Any) -> None:
    spec = parse_spec(spec_with({"name": name, "operator": "=", "value": falsy}), COLUMNS)
    assert spec.filters[0].value == falsy
    assert type(spec.filters[0].value) is type(falsy)


@pytest.mark.parametrize(
    ("ratio", "message"),
    [
        (0, "Ensure this value is greater than 0."),
        (-0.1, "Ensure this value is greater than 0."),
        (1.01, "Ensure this value is less than or equal to 1."),
        ("0.5", "A valid number is required."),
        (True, "A valid number is required."),
        (float("nan"), "A valid number is required."),
    ],
)
def test_ratio_outside_zero_to_one_is_refused(ratio: Any, message: str) -> None:
    assert refusal(spec_with(randomize_ratio=ratio)) == {"spec.randomize_ratio": [message]}


def test_every_problem_is_reported_at_once() -> None:
    body = {
        "columns": ["nope"],
        "filters": [{"name": "price", "operator": "=", "value": "x"}],
        "randomize_ratio": 2,
    }
    assert set(refusal(body)) == {"spec.columns", "spec.filters.0.value", "spec.randomize_ratio"}


def test_operators_by_column_follow_the_seed_and_cover_dates() -> None:
    listed = {c.name: c.operators for c in operators_by_column(COLUMNS)}
    assert listed == {
        "product": ALL_SIX,
        "price": ALL_SIX,
        "weight": ALL_SIX,
        "available": ("=", "!="),
        "seen_at": ALL_SIX,
        "born_on": ALL_SIX,
        "stamped": ALL_SIX,
    }


def test_operators_by_column_knows_every_column_type() -> None:
    # The old render_ui_data crashed on DATETIME columns; no type may be missing here.
    columns = [column(f"c{i}", kind) for i, kind in enumerate(COLUMN_TYPES)]
    assert len(operators_by_column(columns)) == len(COLUMN_TYPES)


def key_for(*filters: dict[str, Any], columns: tuple[str, ...] = ("product",)) -> str:
    body = {"columns": list(columns), "filters": list(filters), "randomize_ratio": 1}
    return dedupe_key(7, parse_spec(body, [*COLUMNS, column("label", "STRING"),
                                           column("flag", "BOOLEAN")]))


def test_dedupe_keys_differ_for_one_string_one_and_true() -> None:
    # The old dedupe treated them as the same request.
    keys = {
        key_for({"name": "price", "operator": "=", "value": 1}),
        key_for({"name": "label", "operator": "=", "value": "1"}),
        key_for({"name": "flag", "operator": "=", "value": True}),
    }
    assert len(keys) == 3


def test_dedupe_keys_keep_value_types_within_one_json_shape() -> None:
    spec_int = ExtractSpec(("product",), (Filter("x", "=", 1),), 1.0)
    spec_str = ExtractSpec(("product",), (Filter("x", "=", "1"),), 1.0)
    spec_bool = ExtractSpec(("product",), (Filter("x", "=", True),), 1.0)
    assert len({dedupe_key(1, s) for s in (spec_int, spec_str, spec_bool)}) == 3


def test_dedupe_keys_agree_for_reordered_filters() -> None:
    first = {"name": "price", "operator": ">=", "value": 78}
    second = {"name": "product", "operator": "!=", "value": "tea"}
    assert key_for(first, second) == key_for(second, first)


def test_dedupe_keys_differ_for_reordered_columns_item_ratio_and_format() -> None:
    base = ExtractSpec(("product", "price"), (), 1.0)
    keys = {
        dedupe_key(1, base),
        dedupe_key(1, ExtractSpec(("price", "product"), (), 1.0)),
        dedupe_key(2, base),
        dedupe_key(1, ExtractSpec(("product", "price"), (), 0.5)),
        dedupe_key(1, ExtractSpec(("product", "price"), (), 1.0, ExtractFormat.PARQUET)),
    }
    assert len(keys) == 5


def test_dedupe_keys_agree_for_the_same_number_written_two_ways() -> None:
    # A FLOAT column's 2 and 2.0 are one value, and a ratio of 1 is 1.0.
    a = parse_spec({"columns": ["weight"], "filters": [
        {"name": "weight", "operator": "=", "value": 2}], "randomize_ratio": 1}, COLUMNS)
    b = parse_spec({"columns": ["weight"], "filters": [
        {"name": "weight", "operator": "=", "value": 2.0}], "randomize_ratio": 1.0}, COLUMNS)
    assert dedupe_key(1, a) == dedupe_key(1, b)
