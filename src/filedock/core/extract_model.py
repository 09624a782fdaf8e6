"""The records of a download request's spec (seed 003, "Download Requests Management").

Kept apart from `core/extract_spec.py`, which parses and checks them, because ports may
import only the core's record modules, and the query builders of the executor port need
these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

# A value already checked against its column's type: DATE columns hold `date`,
# DATETIME/TIMESTAMP columns naive UTC `datetime`, FLOAT columns `float`.
FilterValue = str | int | float | bool | date | datetime

OPERATORS: Final = (">", ">=", "<", "<=", "=", "!=")


class ExtractFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    operator: str
    value: FilterValue


@dataclass(frozen=True, slots=True)
class ExtractSpec:
    # In the order asked: it is the order of the output's columns.
    columns: tuple[str, ...]
    filters: tuple[Filter, ...]
    # The fraction of the filtered rows kept, in (0, 1].
    randomize_ratio: float
    format: ExtractFormat = ExtractFormat.CSV
