"""Reading a database: a query's Arrow batches as frames of its columns' Polars types, eagerly or as a lazy source.

`batches` reads them on a connection of its own (through `Database.stream`, which reads ahead on threads and may
read a large table in parts at once); `scan` hands them to Polars as a lazy frame. Columns the driver returns
otherwise than as their Polars type (timestamps as text, doubles for a Float32 column) are converted batch by
batch, and a value that does not convert exactly is an error naming it.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from hygge.connectors.base import stop_if_cancelled
from hygge.connectors.sqldatabase import Column, Database
from hygge.connectors.sqlnames import TableName
from hygge.errors import FlowError, first_line
from hygge.faults import checkpoint
from hygge.lazy import pl
from hygge.schema import type_label

__all__ = ["batches", "scan"]

_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_ZONED_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z")
# The fixed-width shapes most tools write (hygge writes the 'T' ones): Polars parses these with its own fast
# reader, several times faster than the variable-width formats above, and reads every value it accepts exactly as
# they would; a value of another shape reads as null there and is parsed again, on its own, with those formats.
_FIXED_FORMATS = tuple(
    f"%Y-%m-%d{sep}%H:%M:%S{fraction}" for sep in ("T", " ") for fraction in (".%6f", ".%3f", ".%9f", "")
)
# How many of a batch's first timestamps choose the format it is parsed with.
LIKELY_FORMAT_SAMPLE = 100


def _formats(dtype: pl.Datetime) -> list[str]:
    """The variable-width formats, in the order a value is tried with them."""
    return [*(_ZONED_FORMATS if dtype.time_zone else ()), *_DATETIME_FORMATS]


def _parse_as(column: pl.Expr, dtype: pl.Datetime, fmt: str) -> pl.Expr:
    # A fixed format names its separator; the others read both, as a space.
    text = column if fmt in _FIXED_FORMATS else column.str.replace("T", " ", literal=True)
    unit = dtype.time_unit
    # No cache: a column's timestamps are nearly all distinct (10M of them: 2.9 -> 2.4 s of CPU without it).
    if fmt in _ZONED_FORMATS:
        return text.str.to_datetime(fmt, time_unit=unit, strict=False, time_zone="UTC", cache=False)
    parsed = text.str.to_datetime(fmt, time_unit=unit, strict=False, cache=False)
    return parsed.dt.replace_time_zone("UTC") if dtype.time_zone else parsed


def _parse_missed(text: pl.Series, parsed: pl.Series, dtype: pl.Datetime, tried: str | None = None) -> pl.Series:
    """`parsed` (the timestamps of `text`, read with format `tried`) with each value it lacks parsed again, each
    other format tried in turn on only the values the ones before it missed: a value reads as the first of the
    formats that reads it."""
    parsed = parsed.clone()  # scatter writes in place
    for fmt in (f for f in _formats(dtype) if f != tried):
        missed = text.is_not_null() & parsed.is_null()
        if not missed.any():
            break
        again = pl.select(_parse_as(pl.lit(text.filter(missed)), dtype, fmt)).to_series()
        parsed.scatter(missed.arg_true(), again)
    return parsed


def _wrapped(text: pl.Series, parsed: pl.Series) -> pl.Series:
    """Where `parsed` is not the year `text` says (a zone moves it by one at most): Polars reads a timestamp outside
    the years nanoseconds hold as one centuries away, not as null."""
    year = text.str.strip_chars_start().str.slice(0, 4).cast(pl.Int32, strict=False)
    return ((parsed.dt.year() - year).abs() > 1).fill_null(False)


def _likely_format(values: pl.Series, dtype: pl.Datetime) -> str | None:
    """The first format that reads all of the first values (a column is nearly always written one way): a
    fixed-width one where it can, so a column whose whole seconds carry no fraction takes the flexible one.
    None while there is no value to go by."""
    sample = values.drop_nulls().head(LIKELY_FORMAT_SAMPLE)
    if not sample.len():
        return None
    zoned = _ZONED_FORMATS if dtype.time_zone else ()
    for fmt in (*zoned, *_FIXED_FORMATS, *_DATETIME_FORMATS):
        if pl.select(_parse_as(pl.lit(sample), dtype, fmt)).to_series().null_count() == 0:
            return fmt
    return _formats(dtype)[0]  # written several ways: the values it misses are parsed again


def _text_parser(column: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
    """How text becomes a date or time where a cast would not do; None where a cast does."""
    if dtype == pl.Date:
        return column.str.to_date("%Y-%m-%d", strict=False)
    if dtype == pl.Time:
        return column.str.to_time("%H:%M:%S%.f", strict=False)
    return None


@dataclass
class _Converter:
    """Turns the driver's batches into the columns' Polars types (planned from the first batch, then reused).

    Timestamps read as text are parsed with the one format their column's first values show (planned again
    while a column has shown none); values written another way are parsed again with the other formats, so
    speed never costs a value.
    """

    columns: Sequence[Column]
    exprs: list[pl.Expr] | None = None
    parsed: dict[str, pl.DataType] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    undecided: bool = False
    narrowed: list[str] = field(default_factory=list)  # doubles read into Float32 columns

    @property
    def nanoseconds(self) -> list[str]:
        return [
            name for name, dtype in self.parsed.items() if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns"
        ]

    def _plan(self, frame: pl.DataFrame) -> list[pl.Expr]:
        exprs = []
        self.undecided = False
        for c in self.columns:
            column, have = pl.col(c.name), frame.schema[c.name]
            if have == c.dtype:
                exprs.append(column)
            elif have == pl.String and isinstance(c.dtype, pl.Datetime):
                self.parsed[c.name] = c.dtype
                fmt = self.formats.get(c.name) or _likely_format(frame[c.name], c.dtype)
                if fmt is None:
                    self.undecided = True
                else:
                    self.formats[c.name] = fmt
                exprs.append(_parse_as(column, c.dtype, fmt or _formats(c.dtype)[0]).alias(c.name))
            elif have == pl.String and (parser := _text_parser(column, c.dtype)) is not None:
                self.parsed[c.name] = c.dtype
                exprs.append(parser.alias(c.name))
            elif isinstance(c.dtype, pl.Datetime) and isinstance(have, pl.Datetime) and c.dtype.time_zone:
                exprs.append(column.dt.convert_time_zone(c.dtype.time_zone).cast(c.dtype).alias(c.name))
            else:
                if have == pl.Float64 and c.dtype == pl.Float32:
                    self.narrowed.append(c.name)
                exprs.append(column.cast(c.dtype).alias(c.name))
        return exprs

    def __call__(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.exprs is None or self.undecided:
            self.exprs = self._plan(frame)
        try:
            converted = frame.select(self.exprs)
        except pl.exceptions.PolarsError as exc:
            raise FlowError(f"could not read a value as its column's type: {first_line(exc)}") from exc
        for name, dtype in self.parsed.items():
            if frame[name].null_count() == converted[name].null_count():
                continue  # every value parsed: the common case, decided without a row-wise comparison
            if isinstance(dtype, pl.Datetime):
                # A column written by Python's isoformat drops the fraction from whole seconds, one value in a
                # million or so: only such values are parsed again, the rest of the batch stays as it is.
                again = _parse_missed(frame[name], converted[name], dtype, self.formats.get(name))
                converted = converted.with_columns(again)
            unreadable = frame[name].is_not_null() & converted[name].is_null()
            if unreadable.any():
                value = frame[name].filter(unreadable)[0]
                raise FlowError(f"column '{name}' holds {value!r}, which is not a {type_label(dtype)}")
        for name in self.nanoseconds:
            if (wrapped := _wrapped(frame[name], converted[name])).any():
                value = frame[name].filter(wrapped)[0]
                raise FlowError(
                    f"column '{name}' holds {value!r}, outside the years a Datetime(ns) holds (1677 to 2262)",
                    hint="Declare the column TIMESTAMP (microseconds) to move such dates.",
                )
        for name in self.narrowed:
            # A FLOAT4 column of SQLite holds doubles: one a float cannot hold would read as a neighbouring number.
            before, after = frame[name], converted[name]
            if (changed := (after.cast(pl.Float64) != before) & ~before.is_nan()).any():
                value = before.filter(changed)[0]
                raise FlowError(
                    f"column '{name}' holds {value!r}, which a Float32 column cannot hold exactly",
                    hint="Declare the column DOUBLE (or REAL) to move such values.",
                )
        return converted


def batches(
    database: Database,
    relation: str,
    columns: Sequence[Column],
    batch_size: int,
    params: Sequence[Any] = (),
    table: TableName | None = None,
    limit: int | None = None,
    cancel: threading.Event | None = None,
) -> Generator[pl.DataFrame, None, None]:
    """The rows of `relation` as frames of the columns' types, read in batches on a connection of their own;
    `table` when `relation` is that whole table (a window's parameters make it a part: read as a query). A set
    `cancel` stops the read at the next batch."""
    convert = _Converter(columns)

    def select(source: str) -> str:
        return database.select_sql(source, columns, limit)

    whole = table if not params and limit is None else None
    with closing(database.stream(select, relation, batch_size, params, whole)) as fetched:
        for batch in fetched:
            stop_if_cancelled(cancel)
            checkpoint("read.batch")
            yield convert(database.finish_batch(pl.DataFrame(batch), columns))


def scan(
    database: Database,
    relation: str,
    columns: Sequence[Column],
    batch_size: int,
    label: str,
    params: Sequence[Any] = (),
    table: TableName | None = None,
    cancel: threading.Event | None = None,
) -> pl.LazyFrame:
    """A lazy frame over `relation` that reads it in batches, on a connection of its own, when collected;
    `table` when `relation` is that table, read whole (a database may then read parts of it at once)."""
    from polars.io.plugins import register_io_source

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _hint: int | None
    ) -> Iterator[pl.DataFrame]:
        wanted = set(with_columns) if with_columns is not None else None
        # Polars may ask for no column at all (a row count); one column still yields the rows.
        chosen = [c for c in columns if wanted is None or c.name in wanted] or list(columns[:1])
        remaining = n_rows
        whole = table if n_rows is None else None
        limit = n_rows if predicate is None else None
        with closing(batches(database, relation, chosen, batch_size, params, whole, limit, cancel)) as frames:
            for frame in frames:
                if with_columns:
                    frame = frame.select(with_columns)
                if predicate is not None:
                    frame = frame.filter(predicate)
                if remaining is not None:
                    frame = frame.head(remaining)
                    remaining -= frame.height
                yield frame
                if remaining == 0:
                    return

    schema = pl.Schema([(c.name, c.dtype) for c in columns])
    return register_io_source(source, schema=schema, explain_name=label)
