"""Column types a user names in settings (`types: {zip: text}`), checked without importing Polars."""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

from hygge.lazy import pl

if TYPE_CHECKING:
    import polars

# A name as users write it -> the Polars type's name (Datetime and Decimal take arguments, below).
_SIMPLE = {
    "text": "String",
    "string": "String",
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "int64": "Int64",
    "integer": "Int64",
    "uint8": "UInt8",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
    "float32": "Float32",
    "float64": "Float64",
    "float": "Float64",
    "double": "Float64",
    "boolean": "Boolean",
    "bool": "Boolean",
    "date": "Date",
    "time": "Time",
    "datetime": "Datetime",
    "timestamp": "Datetime",
    "timestamptz": "DatetimeUTC",
}
_DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
NAMES = (*_SIMPLE, "decimal(p,s)")


def check_type_name(name: str) -> str:
    """`name` in the form to_dtype takes, or ValueError saying what is expected."""
    text = name.strip().lower()
    if text in _SIMPLE:
        return text
    if match := _DECIMAL.fullmatch(text):
        precision, scale = int(match[1]), int(match[2])
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"'{name}': a decimal has 1 to 38 digits, and no more after the point than in all")
        return f"decimal({precision},{scale})"
    close = difflib.get_close_matches(text, NAMES, n=1, cutoff=0.6)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    raise ValueError(f"unknown type '{name}'. {hint}Types: {', '.join(NAMES)}")


def to_dtype(name: str) -> polars.DataType:
    """The Polars type of a name check_type_name accepted."""
    if match := _DECIMAL.fullmatch(name):
        return pl.Decimal(int(match[1]), int(match[2]))
    canonical = _SIMPLE[name]
    if canonical == "Datetime":
        return pl.Datetime("us")
    if canonical == "DatetimeUTC":
        return pl.Datetime("us", "UTC")
    dtype: polars.DataType = getattr(pl, canonical)()
    return dtype
