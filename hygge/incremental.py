"""Incremental reads: which rows are past the watermark, and where the watermark comes from.

The watermark of a flow is the largest cursor value its target already holds, read from the target itself at
the start of each run. So it can never run ahead of the data or fall behind it: whatever a crash leaves
committed in the target is exactly what the next run starts from (DESIGN §5, exactly once).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from hygge.connectors.base import Incremental
from hygge.connectors.timetext import TIMESTAMP_TEXT, as_instants, as_text
from hygge.errors import FlowError
from hygge.lazy import pl

_DURATION = re.compile(r"^\s*(\d+)\s*(us|ms|s|m|h|d|w)\s*$")
_UNITS = {
    "us": dt.timedelta(microseconds=1),
    "ms": dt.timedelta(milliseconds=1),
    "s": dt.timedelta(seconds=1),
    "m": dt.timedelta(minutes=1),
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
    "w": dt.timedelta(weeks=1),
}


def parse_lag(value: Any) -> int | float | dt.timedelta | None:
    """`lag: 100` (for number cursors) or `lag: 2h` / `30m` / `1d` (for dates and timestamps)."""
    if value is None or isinstance(value, int | float):
        return value
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"lag {value!r} is not a number or a duration such as 30m, 2h, 1d")
    return int(match.group(1)) * _UNITS[match.group(2)]


class TextWatermark(str):
    """The watermark of a target that keeps its cursor as text (csv, ndjson): the largest text, which is what a
    text cursor compares with; and, where every value reads as one, the largest number and the latest timestamp,
    which are what a number or timestamp cursor compares with ('9' is the largest text of 9 and 10; text in
    several timestamp forms does not sort by time). The store cannot tell which: only the source's type can."""

    number: str | None
    latest: str | None

    def __new__(cls, text: str, *, number: str | None = None, latest: str | None = None) -> TextWatermark:
        made = super().__new__(cls, text)
        made.number, made.latest = number, latest
        return made

    def for_type(self, dtype: pl.DataType) -> str:
        if dtype.is_numeric() and self.number is not None:
            return self.number
        if dtype.is_temporal() and self.latest is not None:
            return self.latest
        return str(self)


def text_watermark(frame: pl.LazyFrame, column: str, top: str | None = None) -> TextWatermark | None:
    """The watermark of a text column of `frame`: its largest text (`top`, when already known), and, where every
    value reads as one, its largest number and its latest timestamp (which of them counts depends on the source
    cursor's type, see TextWatermark). Only a largest text that looks like a number or a timestamp costs a pass
    over the column."""
    text = pl.col(column)
    if top is None:
        top = frame.select(text.max()).collect().item()
    if top is None:
        return None
    checks = [text.count().alias("count")]
    if _NUMBER_TEXT.match(top):
        ints, floats = text.str.strip_chars().cast(pl.Int64, strict=False), text.cast(pl.Float64, strict=False)
        # the text of the largest number, not the number: a decimal's digits stay as written
        checks += [ints.count().alias("ints"), ints.max().alias("int"), floats.count().alias("floats")]
        checks.append(text.filter(floats == floats.max()).max().alias("float"))
    if shape := TIMESTAMP_TEXT.fullmatch(top.strip()):
        zoned = bool(shape.group("offset"))
        instants = as_instants(text, zoned=zoned)
        checks += [instants.count().alias("instants")]
        checks.append(as_text(instants.max(), pl.Datetime("ns", "UTC" if zoned else None)).alias("latest"))
    if len(checks) == 1:
        return TextWatermark(top)
    found = frame.select(checks).collect().row(0, named=True)
    every = found["count"]
    number = None
    if found.get("ints") == every:
        number = str(found["int"])
    elif found.get("floats") == every:
        number = found["float"]
    latest = found["latest"] if found.get("instants") == every else None
    return TextWatermark(top, number=number, latest=latest)


_NUMBER_TEXT = re.compile(r"\s*[-+]?(\d|\.\d|inf|nan)", re.IGNORECASE)


def literal(value: Any, dtype: pl.DataType) -> pl.Expr:
    """`value` (from YAML or a target) as an expression of the cursor's type, so comparisons are typed."""
    if isinstance(value, TextWatermark):
        value = value.for_type(dtype)
    if isinstance(value, str) and dtype.is_temporal():
        if isinstance(dtype, pl.Date):
            return pl.lit(value).str.to_date()
        if isinstance(dtype, pl.Datetime):
            return _timestamp(value.strip(), dtype)
        if isinstance(dtype, pl.Time):
            return pl.lit(value).str.to_time()
    return pl.lit(value).cast(dtype)


def _timestamp(text: str, dtype: pl.Datetime) -> pl.Expr:
    """Text as a timestamp of the cursor's type, to its last digit: text with an offset names an instant (shown
    in the cursor's zone); text without one is a wall time in the cursor's zone."""
    unit = dtype.time_unit or "us"
    match = TIMESTAMP_TEXT.fullmatch(text)
    if match is None:  # other shapes, such as a bare date: as Polars reads them
        parsed = pl.lit(text).str.to_datetime(time_unit=unit)
    else:
        shape = f"%Y-%m-%d{match.group(1)}%H:%M:%S%.f"
        if match.group("offset") is None:
            parsed = pl.lit(text).str.to_datetime(shape, time_unit=unit)
        else:
            text = text.removesuffix("Z") + ("+00:00" if text.endswith("Z") else "")
            instant = pl.lit(text).str.to_datetime(shape + "%#z", time_unit=unit)  # in UTC
            # A naive cursor compared with an instant: its wall time in UTC, the zone text targets are kept in.
            return instant.dt.convert_time_zone(dtype.time_zone or "UTC").dt.replace_time_zone(dtype.time_zone)
    return parsed.dt.replace_time_zone(dtype.time_zone) if dtype.time_zone else parsed


def lower_bound(incremental: Incremental, dtype: pl.DataType) -> pl.Expr | None:
    """The value rows must be past: the watermark minus the lag, or None to read everything."""
    lag = parse_lag(incremental.lag)
    _check_lag(lag, incremental, dtype)
    if incremental.after is None:
        return None
    bound = literal(incremental.after, dtype)
    if lag is not None:
        bound = bound - (lag if not isinstance(lag, dt.timedelta) else _as_duration(lag))
    return bound


def _check_lag(lag: int | float | dt.timedelta | None, incremental: Incremental, dtype: pl.DataType) -> None:
    """A number lag goes with a number cursor, a duration with a date or timestamp; nothing goes with text."""
    if lag is None:
        return
    duration = isinstance(lag, dt.timedelta)
    if (isinstance(dtype, pl.Date | pl.Datetime)) if duration else dtype.is_numeric():
        return
    kinds = "a date or timestamp" if duration else "a number"
    if dtype.is_numeric():
        fix = "a number, such as lag: 100"
    elif isinstance(dtype, pl.Date | pl.Datetime):
        fix = "a duration, such as lag: 2h"
    else:
        fix = "none: remove lag:, as text has no distance to go back by"
    raise FlowError(
        f"incremental.lag {incremental.lag!r} needs {kinds} cursor, and '{incremental.cursor}' is {dtype}",
        hint=f"The lag for this cursor is {fix}.",
    )


def _as_duration(lag: dt.timedelta) -> pl.Expr:
    return pl.lit(lag)


def only_new_rows(frame: pl.LazyFrame, incremental: Incremental, where: str) -> tuple[pl.LazyFrame, pl.Expr]:
    """Rows whose cursor is past the watermark (minus the lag), null cursors as the policy says; and the predicate
    that selects them, for pieces of the same source (Home.read_with_pieces)."""
    keep = _new_rows_filter(incremental, frame.collect_schema(), where)
    if incremental.nulls == "fail" and frame.select(pl.col(incremental.cursor).is_null().any()).collect().item():
        raise null_cursor_error(incremental.cursor, where)
    return frame.filter(keep), keep


def _new_rows_filter(incremental: Incremental, schema: pl.Schema, where: str) -> pl.Expr:
    if incremental.cursor not in schema:
        raise FlowError(
            f"the incremental cursor '{incremental.cursor}' is not a column of the source",
            where=where,
            hint=f"Columns: {', '.join(schema.names())}.",
        )
    cursor = pl.col(incremental.cursor)
    dtype = schema[incremental.cursor]
    bound = lower_bound(incremental, dtype)
    compared = cursor
    if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns" and isinstance(incremental.after, dt.datetime):
        # The target keeps microseconds (a Python datetime has no more): the rows it holds are the source's cut
        # to microseconds, and compared whole, the last of them would be past the watermark on every run.
        compared = cursor.dt.truncate("1us")
    past = compared > bound if bound is not None else pl.lit(True)
    if incremental.nulls == "include":
        return past | cursor.is_null()
    return past & cursor.is_not_null()


def null_cursor_error(column: str, where: str) -> FlowError:
    return FlowError(
        f"the incremental cursor '{column}' is null in some source rows, so they cannot be placed before or "
        "after the watermark",
        where=where,
        hint="Choose in the flow: incremental.nulls: exclude (never load them) or include (load them on every "
        "run; needs mode merge).",
    )
