"""Writing to a database: each incoming column as the type its table column holds.

`to_stored` converts a column to its table column's type, batch by batch as the store writes: nested values
become JSON text where the database keeps them as text (`json_text`), zoned times move to the column's zone, and
a time finer than the column keeps is an error, never cut short.
"""

from __future__ import annotations

from hygge.connectors.sqldatabase import Database, inner_type, is_nested, time_step
from hygge.errors import FlowError
from hygge.lazy import pl
from hygge.schema import type_label

__all__ = ["json_text", "to_stored"]


def json_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A nested column as JSON text (null stays null)."""
    column = pl.col(name)
    if isinstance(dtype, pl.Struct):
        encoded = column.struct.json_encode()
    else:
        # Polars encodes structs only, so a list is wrapped as {"v": [...]} and unwrapped again.
        encoded = pl.struct(column.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
    return pl.when(column.is_null()).then(None).otherwise(encoded).alias(name)


def _element(dtype: pl.DataType) -> pl.DataType:
    return inner_type(dtype) if isinstance(dtype, pl.List | pl.Array) else dtype


def to_stored(name: str, source: pl.DataType, stored: pl.DataType, database: Database | None = None) -> pl.Expr:
    """Column `name` converted from its incoming type to the type its table column holds. A time finer than the
    column keeps (nanoseconds into PostgreSQL's microseconds) is an error, never cut short: values whose finer
    part is zero pass."""
    column = pl.col(name)
    if database is not None and (step := time_step(_element(source))) is not None:
        kept = database.kept_step(_element(stored))
        if kept is not None and kept > step:
            column = _whole_steps(name, source, stored, kept // step, database)
    if source == stored:
        return column
    if stored == pl.String and is_nested(source):
        return json_text(name, source)
    if isinstance(source, pl.Datetime) and isinstance(stored, pl.Datetime) and source.time_zone:
        column = column.dt.convert_time_zone(stored.time_zone or "UTC")
    return column.cast(stored).alias(name)


_STEPS = {1_000_000: "milliseconds", 1_000: "microseconds"}


def _whole_steps(name: str, source: pl.DataType, stored: pl.DataType, factor: int, database: Database) -> pl.Expr:
    """Column `name`, checked per batch (vectorised) that no value has a part finer than its table column keeps:
    `factor` of the source's steps make one of the column's."""
    kept = _STEPS.get(factor * (time_step(_element(source)) or 1), "step")

    def exactly(values: pl.Series) -> pl.Series:
        flat = values.explode() if isinstance(source, pl.List | pl.Array) else values
        finer = flat.to_physical() % factor != 0
        if finer.any():
            # as text: a Python datetime (and Polars' text of a Time) drops the nanoseconds
            first = flat.filter(finer).head(1)
            shown = (first.dt.to_string("%H:%M:%S%.f") if first.dtype == pl.Time else first.cast(pl.String))[0]
            raise FlowError(
                f"column '{name}' holds {shown}, but {database.type_name} keeps {kept}: "
                f"storing it as {type_label(_element(stored))} would cut it short",
                hint=f"The target is unchanged. Cut the values to {kept} on purpose in the source (in a query, or "
                "where they are made), or store them where nanoseconds are kept.",
            )
        return values

    return pl.col(name).map_batches(exactly, return_dtype=source, is_elementwise=True)
