"""Dates, times and timestamps as text: the one form csv and ndjson files hold them in, and reading back any
form they have held.

Text targets read back as String, and later writes are compared with (merge keys) and ordered after
(incremental watermarks) what earlier writes left. So every write uses one form whose text sorts like the
values: fixed width per time unit, a 'T' separator, zoned values in UTC with a fixed `+00:00`. Polars' own forms
differ between sink_csv, sink_ndjson and a cast to String, and files written before hygge settled on this form
(or by other tools) hold those; `as_instants` reads them all, so such files are compared by value, not by text.
"""

from __future__ import annotations

import re

from hygge.lazy import pl

# A timestamp as text stores hold it (temporal_as_text) or as users and other tools write it: 'T' or a space, any
# fraction, and perhaps an offset. Matched whole (fullmatch).
TIMESTAMP_TEXT = re.compile(r"\d{4}-\d\d-\d\d([T ])\d\d:\d\d:\d\d(\.\d{1,9})?(?P<offset>Z|[+-]\d\d(:?\d\d)?)?")
_FRACTION = {"ms": "%.3f", "us": "%.6f", "ns": "%.9f"}
# What earlier writes may hold: 'T' or a space, any fraction (or none), and for zoned values an offset as
# +02, +0200, +02:00 or Z. `%#z` reads them all, into UTC.
_ZONED = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")


def temporal_as_text(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Dates, times and timestamps of `frame` as their one text form."""
    columns = [
        as_text(pl.col(name), dtype)
        for name, dtype in frame.collect_schema().items()
        if isinstance(dtype, pl.Date | pl.Datetime | pl.Time)
    ]
    return frame.with_columns(columns) if columns else frame


def as_text(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """`column` (of type `dtype`: a date, time or timestamp) in the one text form."""
    if isinstance(dtype, pl.Datetime):
        text = f"%Y-%m-%dT%H:%M:%S{_FRACTION[dtype.time_unit]}"
        if dtype.time_zone is None:
            return column.dt.strftime(text)
        return column.dt.convert_time_zone("UTC").dt.strftime(text + "+00:00")
    if isinstance(dtype, pl.Time):
        return column.dt.strftime("%H:%M:%S%.9f")  # Polars' Time is always in nanoseconds
    return column.dt.strftime("%Y-%m-%d")


def as_instants(text: pl.Expr, *, zoned: bool) -> pl.Expr:
    """Timestamp text in any of the forms above as nanosecond timestamps (zoned text as UTC instants, naive text
    as wall times); null where the text is not such a timestamp."""
    formats = _ZONED if zoned else _NAIVE
    return pl.coalesce(text.str.to_datetime(form, time_unit="ns", strict=False) for form in formats)


def canonical_text(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Text of a target column that now receives `dtype` timestamps, rewritten in the one form where it reads
    as such a timestamp (kept as it is where it does not), so old and new rows compare by value."""
    if not isinstance(dtype, pl.Datetime):
        return text
    unit = dtype.time_unit or "us"
    instants = as_instants(text, zoned=dtype.time_zone is not None).dt.cast_time_unit(unit)
    return pl.coalesce(as_text(instants, pl.Datetime(unit, "UTC" if dtype.time_zone else None)), text)
