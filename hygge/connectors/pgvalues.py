"""Values the PostgreSQL driver would hand over changed without a word, caught on each batch it reads.

- `date` and `timestamp` 'infinity' and '-infinity' (and timestamps past the year 294246): the driver adds the
  2000 epoch to PostgreSQL's sentinels and wraps around, to dates thousands of years before any PostgreSQL holds
  (checked by `infinity.py`).
- `numeric` without a precision, read as Decimal(38, 9): Polars would round a value with more digits after the
  point. NaN and infinity fit no Decimal at all.
- Arrays of two or more dimensions (`'{{1,2},{3,4}}'` in an `integer[]` column): the driver flattens them.

Each check is vectorised on the batch; the common case (no such value) costs a min() per date or timestamp column,
and a couple of string passes per unconstrained numeric column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from hygge.connectors.infinity import Infinities
from hygge.connectors.sqldatabase import Column
from hygge.connectors.sqlnames import quote
from hygge.decimaltext import too_precise
from hygge.errors import FlowError
from hygge.lazy import pl
from hygge.schema import type_label

# PostgreSQL's numeric without a declared precision holds any number; hygge reads it with a wide scale.
UNCONSTRAINED_NUMERIC = (38, 9)
MAX_PRECISION = 38  # Polars' widest Decimal: a numeric(50,2) is read as Decimal(38, 2), its values checked
NUMERIC = re.compile(r"numeric(?:\((\d+)(?:,(\d+))?\))?")
# A numeric's text that no Decimal holds.
_NOT_NUMBERS = ("NaN", "Infinity", "-Infinity")
# The column array_ndims() of the i-th array column is selected as (see dimensions_sql).
_DIMENSIONS = "_hygge_ndims_{}"

# PostgreSQL's earliest date and timestamp, 4714-11-24 BC, in days and microseconds since 1970: the driver reads
# ±infinity, and timestamps too late for 64 bits of microseconds since 1970, as numbers below it.
_EARLIEST = {"date": -2_440_588, "timestamp": -210_866_803_200_000_000}
_EPOCH_DAYS = 10_957  # 1970-01-01 to 2000-01-01, PostgreSQL's epoch


def _wrapped(value: int, bits: int) -> int:
    half = 2 ** (bits - 1)
    return (value + half) % (2 * half) - half


# PostgreSQL keeps ±infinity as the largest and smallest number; the driver adds the 2000 epoch with wrap-around.
INFINITIES = Infinities(
    ranges={"date": (_EARLIEST["date"], 2**31 - 1), "timestamp": (_EARLIEST["timestamp"], 2**63 - 1)},
    names={
        _wrapped(2**31 - 1 + _EPOCH_DAYS, 32): "infinity",
        -(2**31) + _EPOCH_DAYS: "-infinity",
        _wrapped(2**63 - 1 + _EPOCH_DAYS * 86_400_000_000, 64): "infinity",
        -(2**63) + _EPOCH_DAYS * 86_400_000_000: "-infinity",
    },
    beyond="a timestamp after the year 294246",
    list_fix="array_replace(array_replace({name}, 'infinity', NULL), '-infinity', NULL)",
)


def is_array(column: Column) -> bool:
    """A column the driver reads as a list, one dimension deep."""
    return isinstance(column.dtype, pl.List) and not column.read_as_text


def dimensions_sql(columns: Sequence[Column]) -> list[str]:
    """Extra select items: each array column's number of dimensions, checked by `check_batch`."""
    return [
        f"array_ndims({quote(c.name)}) AS {quote(_DIMENSIONS.format(i))}" for i, c in enumerate(columns) if is_array(c)
    ]


def check_batch(frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
    """The batch without the extra columns of `dimensions_sql`, once no value in it would change unseen."""
    _check_dimensions(frame, columns)
    INFINITIES.check(frame, columns)
    for column in columns:
        if column.read_as_text and isinstance(column.dtype, pl.Decimal):
            _check_numeric(frame[column.name], column)
    extra = [_DIMENSIONS.format(i) for i, c in enumerate(columns) if is_array(c)]
    return frame.drop(extra) if extra else frame


def _check_dimensions(frame: pl.DataFrame, columns: Sequence[Column]) -> None:
    for i, column in enumerate(columns):
        if not is_array(column):
            continue
        most = frame[_DIMENSIONS.format(i)].max()
        if isinstance(most, int) and most > 1:
            raise FlowError(
                f"column '{column.name}' ({column.declared}) holds an array of {most} dimensions, which the "
                "driver would read flattened into a list",
                hint=f"Read it through a query that makes it one-dimensional or text, such as "
                f"CAST({quote(column.name)} AS text) AS {quote(column.name)}, or to_jsonb({quote(column.name)}) "
                f"AS {quote(column.name)} (nested JSON text).",
            )


@cache
def _numeric_limits(declared: str, dtype: pl.Decimal) -> tuple[int | None, int | None]:
    """The digits after and before the point of `dtype`, each where the numeric column may hold more (else None)."""
    scale, whole = dtype.scale, (dtype.precision or MAX_PRECISION) - dtype.scale
    match = NUMERIC.fullmatch(declared)
    if match is None or match.group(1) is None:
        return scale, whole  # without a precision: any number of digits
    precision, declared_scale = int(match.group(1)), int(match.group(2) or 0)
    return (scale if declared_scale > scale else None, whole if precision - declared_scale > whole else None)


def _check_numeric(text: pl.Series, column: Column) -> None:
    dtype = column.dtype
    assert isinstance(dtype, pl.Decimal)
    if (odd := text.is_in(_NOT_NUMBERS)).any():
        name = quote(column.name)
        raise FlowError(
            f"column '{column.name}' ({column.declared}) holds {text.filter(odd)[0]}, which {type_label(dtype)} "
            "cannot hold",
            hint=f"Read it through a query that maps it, such as NULLIF({name}, 'NaN') AS {name} (a CASE for "
            f"'Infinity'), or CAST({name} AS double precision) AS {name}, which holds NaN and infinity.",
        )
    scale, whole = _numeric_limits(column.declared, dtype)
    longest = text.str.len_bytes().max()
    if (scale is None and whole is None) or not isinstance(longest, int) or longest <= 11:
        return  # 11 characters hold neither 10 digits after the point nor 30 before it
    frame = pl.DataFrame({"text": text})
    value = pl.col("text")
    point = value.str.find(".", literal=True)
    length = value.str.len_bytes().cast(pl.Int64)
    after = (length - point - 1).fill_null(0)
    before = point.fill_null(length) - value.str.starts_with("-").cast(pl.Int64)
    most_after, most_before = frame.select(after.max().alias("after"), before.max().alias("before")).row(0)
    fraction = scale is not None and (most_after or 0) > scale
    if not fraction and (whole is None or (most_before or 0) <= whole):
        return
    wrong = frame.select(before > (whole if whole is not None else MAX_PRECISION)).to_series()
    if fraction and scale is not None:
        wrong = wrong | too_precise(text, scale, exact=True)  # trailing zeros are no digits lost
    stray = text.filter(wrong)
    if stray.len():
        raise FlowError(
            f"column '{column.name}' ({column.declared}) holds {stray[0]}, which {type_label(dtype)} cannot hold "
            f"exactly (hygge reads {column.declared} with {dtype.scale} digits after the point and "
            f"{(dtype.precision or MAX_PRECISION) - dtype.scale} before it)",
            hint=_numeric_hint(column.name, stray[0]),
        )


def _numeric_hint(column: str, value: str) -> str:
    name = quote(column)
    digits, _, fraction = value.lstrip("-").partition(".")
    scale = len(fraction.rstrip("0"))
    text = f"CAST({name} AS text) AS {name}"
    if len(digits) + scale > 38:
        return f"Read it through a query that keeps it as text, such as {text}: no Decimal holds its digits."
    return (
        f"Read it through a query that declares the digits it needs, such as CAST({name} AS numeric(38,{scale})) "
        f"AS {name} (38 digits in all), or {text} to keep it as text."
    )
