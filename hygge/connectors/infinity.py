"""Dates and timestamps of ±infinity, which PostgreSQL and DuckDB keep and Polars has no value for.

Their drivers hand them over as numbers at or past the ends of the range the database's real values take (the
PostgreSQL driver wraps them around to dates long before any real one); read as they are, they become ordinary
dates thousands of years away. So each batch's date and timestamp columns are checked: their min() and max(),
a cost too small to measure, and only when one is past the range are the values looked at. The same goes for
writing, where a Polars value at the end of its range would become DuckDB's infinity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hygge.connectors.sqldatabase import Column
from hygge.connectors.sqlnames import quote
from hygge.errors import FlowError
from hygge.lazy import pl
from hygge.schema import type_label


@dataclass(frozen=True)
class Infinities:
    """How a database's driver hands over ±infinity, for `check`."""

    # The range of real values of "date" (days since 1970) and "timestamp" (ticks of the column's unit).
    ranges: dict[str, tuple[int, int]]
    names: dict[int, str]  # the number each infinity is read as -> 'infinity' or '-infinity'
    beyond: str  # what any other value past the range is
    list_fix: str  # SQL that maps them in a list column `{name}` to null

    def check(self, frame: pl.DataFrame, columns: Sequence[Column]) -> None:
        """Raise for the first value of `frame` that is past its column's range, naming it and the fix."""
        schema = frame.schema
        found = [(c, kind) for c in columns if not c.read_as_text and (kind := _kind(schema[c.name]))]
        if not found:
            return
        ticks = [_ticks(pl.col(c.name), schema[c.name]) for c, _ in found]
        edges = frame.select(
            *(t.min().alias(f"min{i}") for i, t in enumerate(ticks)),
            *(t.max().alias(f"max{i}") for i, t in enumerate(ticks)),
        ).row(0)
        for i, (column, kind) in enumerate(found):
            low, high = self.ranges[kind]
            lowest, highest = edges[i], edges[len(found) + i]
            if lowest is None or low <= lowest and highest <= high:
                continue
            values = frame.select(ticks[i]).to_series()
            value = values.filter((values < low) | (values > high))[0]
            self._raise(column, schema[column.name], self.names.get(value))

    def refused(self, name: str, dtype: pl.DataType, database: str) -> pl.Expr | None:
        """Column `name` (a date or timestamp, or a list of them) of a write, checked per batch: a value past the
        range, which the database would keep as ±infinity (or as another value), is an error. None for other
        types."""
        kind = _kind(dtype)
        if kind is None:
            return None
        low, high = self.ranges[kind]

        def checked(values: pl.Series) -> pl.Series:
            flat = values.explode() if isinstance(dtype, pl.List) else values
            ticks = flat.to_physical()
            lowest, highest = ticks.min(), ticks.max()
            if isinstance(lowest, int) and isinstance(highest, int) and (lowest < low or highest > high):
                past = (ticks < low) | (ticks > high)
                value = ticks.filter(past)[0]
                kept = f"as '{self.names[value]}'" if value in self.names else "as another date"
                # as a number: Polars cannot write out a date this far (it panics)
                unit = {"ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}.get(
                    getattr(flat.dtype, "time_unit", None) or "", "days"
                )
                raise FlowError(
                    f"column '{name}' holds the {type_label(flat.dtype)} {value} {unit} from 1970, which {database} "
                    f"would keep {kept}",
                    hint="The target is unchanged. Change or leave out the value in the source.",
                )
            return values

        return pl.col(name).map_batches(checked, return_dtype=dtype, is_elementwise=True)

    def _raise(self, column: Column, dtype: pl.DataType, infinity: str | None) -> None:
        name = quote(column.name)
        fix = (
            f"{self.list_fix.format(name=name)} AS {name}"
            if isinstance(dtype, pl.List)
            else f"CASE WHEN isfinite({name}) THEN {name} END AS {name} (null for ±infinity)"
        )
        declared = f" ({column.declared})" if column.declared else ""
        what = f"'{infinity}'" if infinity else self.beyond
        raise FlowError(
            f"column '{column.name}'{declared} holds {what}, which {type_label(dtype)} cannot hold",
            hint=f"Read it through a query that maps it to a value, such as {fix}.",
        )


def _kind(dtype: pl.DataType) -> str | None:
    if isinstance(dtype, pl.List):
        dtype = dtype.inner  # type: ignore[assignment]
    if dtype == pl.Date:
        return "date"
    return "timestamp" if isinstance(dtype, pl.Datetime) else None


def _ticks(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A date or timestamp column's (or list's) values as their numbers."""
    return (column.explode() if isinstance(dtype, pl.List) else column).to_physical()
