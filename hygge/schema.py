"""Schema evolution shared by every store: compare target and incoming columns under a policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from hygge.connectors.base import SchemaPolicy
from hygge.errors import FlowError
from hygge.lazy import pl

__all__ = ["ColumnChange", "SchemaPlan", "apply_schema_plan", "can_widen", "plan_schema_change", "type_label"]


@cache
def _bits() -> tuple[dict[type[pl.DataType], int], dict[type[pl.DataType], int], dict[type[pl.DataType], int]]:
    """Widths of the signed, unsigned and float types (built on first use: Polars is imported lazily)."""
    signed: dict[type[pl.DataType], int] = {pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64, pl.Int128: 128}
    unsigned: dict[type[pl.DataType], int] = {pl.UInt8: 8, pl.UInt16: 16, pl.UInt32: 32, pl.UInt64: 64, pl.UInt128: 128}
    floats: dict[type[pl.DataType], int] = {pl.Float16: 16, pl.Float32: 32, pl.Float64: 64}
    return signed, unsigned, floats


# Decimal digits an integer type may need, to check it fits a Decimal's integer part.
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20, 128: 39}
# Significand bits of each float width: it holds every integer of at most that many bits exactly (Float64: Int32).
# Float64 also takes wider integers, because type inference on text files reads whole-number floats as integers (a
# target column of prices meeting "10"); their values are checked as they are cast (_exactly_as_float), so
# 2**53 + 1, which a double would store as 2**53, is an error rather than another number.
_FLOAT_SIGNIFICAND_BITS = {16: 11, 32: 24, 64: 53}
_TIME_UNIT_ORDER = {"ms": 0, "us": 1, "ns": 2}


def _int_bits(dtype: pl.DataType) -> tuple[bool, int] | None:
    """(signed, bits) of an integer type, else None."""
    base = dtype.base_type()
    signed, unsigned, _ = _bits()
    if base in signed:
        return True, signed[base]
    if base in unsigned:
        return False, unsigned[base]
    return None


def _int_fits(source: tuple[bool, int], target: tuple[bool, int]) -> bool:
    (src_signed, src_bits), (dst_signed, dst_bits) = source, target
    if src_signed == dst_signed:
        return dst_bits >= src_bits
    # unsigned fits a signed type only with a spare bit; signed never fits unsigned
    return dst_signed and dst_bits > src_bits


def _exact_in_float(source: tuple[bool, int], float_bits: int) -> bool:
    """Whether every value of an integer type is a float of `float_bits` bits exactly."""
    signed, bits = source
    return (bits - 1 if signed else bits) <= _FLOAT_SIGNIFICAND_BITS[float_bits]


def _numeric_fits(source: pl.DataType, target: pl.DataType) -> bool | None:
    """Whether a numeric source fits a numeric target; None when either side is not numeric."""
    src_int, dst_int = _int_bits(source), _int_bits(target)
    floats = _bits()[2]
    src_float = floats.get(source.base_type())
    dst_float = floats.get(target.base_type())
    if src_int and dst_int:
        return _int_fits(src_int, dst_int)
    if src_int and dst_float:
        return dst_float == 64 or _exact_in_float(src_int, dst_float)
    if src_float and dst_float:
        return dst_float >= src_float
    if isinstance(target, pl.Decimal):
        if src_int:
            return target.precision - target.scale >= _INT_DIGITS[src_int[1]]
        if isinstance(source, pl.Decimal):
            digits_fit = target.precision - target.scale >= source.precision - source.scale
            return digits_fit and target.scale >= source.scale
        return False if src_float else None
    if (src_int or src_float or isinstance(source, pl.Decimal)) and (dst_int or dst_float):
        return False
    return None


def _temporal_fits(source: pl.DataType, target: pl.DataType) -> bool | None:
    """Whether a date/time source fits a date/time target; None when either side is not temporal."""
    if isinstance(target, pl.Datetime):
        if source == pl.Date:
            return True
        if isinstance(source, pl.Datetime):
            # A naive and a zoned timestamp mean different things; two zones name the same instants.
            same_kind = (source.time_zone is None) == (target.time_zone is None)
            return same_kind and _TIME_UNIT_ORDER[target.time_unit] >= _TIME_UNIT_ORDER[source.time_unit]
        return False if source.is_temporal() else None
    if isinstance(target, pl.Duration):
        if isinstance(source, pl.Duration):
            return _TIME_UNIT_ORDER[target.time_unit] >= _TIME_UNIT_ORDER[source.time_unit]
        return False if source.is_temporal() else None
    if target in (pl.Date, pl.Time):
        return False if source.is_temporal() else None
    return None


def _instance(dtype: object) -> pl.DataType:
    """Nested types may hold a bare class (`pl.Int64`) instead of an instance."""
    if isinstance(dtype, pl.DataType):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return dtype()
    raise TypeError(f"not a Polars data type: {dtype!r}")


def _nested_fits(source: pl.DataType, target: pl.DataType) -> bool:
    if isinstance(source, pl.List) and isinstance(target, pl.List):
        return can_widen(_instance(source.inner), _instance(target.inner))
    if isinstance(source, pl.Array) and isinstance(target, pl.Array):
        return source.shape == target.shape and can_widen(_instance(source.inner), _instance(target.inner))
    if isinstance(source, pl.Struct) and isinstance(target, pl.Struct):
        # Polars casts structs by field position, so only the same fields in the same order are safe.
        src, dst = source.fields, target.fields
        return len(src) == len(dst) and all(
            s.name == d.name and can_widen(_instance(s.dtype), _instance(d.dtype))
            for s, d in zip(src, dst, strict=True)
        )
    return False


def can_widen(source: pl.DataType, target: pl.DataType) -> bool:
    """Whether every value of type `source` fits a column of type `target` (perhaps after a cast)."""
    if source == target or source == pl.Null or target == pl.Null:
        return True
    if source.is_nested() or target.is_nested():
        return _nested_fits(source, target)
    if target == pl.String:
        return source != pl.Binary and source != pl.Object
    if target == pl.Categorical or isinstance(target, pl.Categorical):
        return source == pl.String or isinstance(source, pl.Categorical)
    for rule in (_numeric_fits, _temporal_fits):
        verdict = rule(source, target)
        if verdict is not None:
            return verdict
    return False


def type_label(dtype: pl.DataType | None) -> str:
    """A short name for a type in a diff table, such as `Datetime(us, UTC)`."""
    if dtype is None:
        return "-"
    if isinstance(dtype, pl.Datetime):
        zone = f", {dtype.time_zone}" if dtype.time_zone else ""
        return f"Datetime({dtype.time_unit}{zone})"
    if isinstance(dtype, pl.Duration):
        return f"Duration({dtype.time_unit})"
    if isinstance(dtype, pl.Decimal):
        return f"Decimal({dtype.precision}, {dtype.scale})"
    return str(dtype)


@dataclass(frozen=True)
class ColumnChange:
    """One column that differs between target and incoming data, and what the policy makes of it."""

    name: str
    target: pl.DataType | None
    incoming: pl.DataType | None
    verdict: str
    ok: bool


@dataclass(frozen=True)
class SchemaPlan:
    """How to make incoming data fit the target.

    `added`: incoming columns the target lacks and must gain. `dropped`: target columns the data lacks,
    filled with null. `ignored`: incoming columns left out (policy `ignore`). `casts`: incoming columns to
    cast to the target's type. `columns`: the written column order (target's order, then added columns).
    """

    added: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    casts: dict[str, pl.DataType] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    target: pl.Schema = field(default_factory=lambda: pl.Schema())
    changes: tuple[ColumnChange, ...] = ()

    @property
    def is_noop(self) -> bool:
        return not (self.added or self.dropped or self.ignored or self.casts)


def _judge_column(
    name: str, target: pl.DataType | None, incoming: pl.DataType | None, policy: SchemaPolicy
) -> ColumnChange | None:
    if target is None:
        if policy == "fail":
            return ColumnChange(name, target, incoming, "new column (on_schema_change: fail)", ok=False)
        verdict = "new column: left out" if policy == "ignore" else "new column: added"
        return ColumnChange(name, target, incoming, verdict, ok=True)
    if incoming is None:
        if policy == "ignore":
            return ColumnChange(name, target, incoming, "missing from the data: filled with null", ok=True)
        return ColumnChange(name, target, incoming, "dropped: missing from the data", ok=False)
    if incoming == target:
        return None
    if can_widen(incoming, target):
        return ColumnChange(name, target, incoming, "fits: cast to the target type", ok=True)
    return ColumnChange(
        name,
        target,
        incoming,
        f"does not fit: {type_label(target)} cannot hold {type_label(incoming)}",
        ok=False,
    )


def format_schema_diff(changes: list[ColumnChange] | tuple[ColumnChange, ...], unchanged: int = 0) -> str:
    """The differing columns as an aligned table: column, target type, incoming type, verdict."""
    rows = [("column", "target", "incoming", "verdict")]
    rows += [
        (
            "! " + c.name if not c.ok else "  " + c.name,
            type_label(c.target),
            type_label(c.incoming),
            c.verdict,
        )
        for c in changes
    ]
    rows[0] = ("  " + rows[0][0], *rows[0][1:])
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  " + "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[3]])
        for row in rows
    ]
    if unchanged:
        lines.append(f"    ({unchanged} other column{'s match' if unchanged != 1 else ' matches'})")
    return "\n".join(lines)


def plan_schema_change(
    target: pl.Schema,
    incoming: pl.Schema,
    policy: SchemaPolicy,
    *,
    what: str = "the target",
    where: str | None = None,
) -> SchemaPlan:
    """Compare an existing target schema with the incoming data's under `policy`.

    Returns the plan that makes the data fit, or raises FlowError showing the difference when it cannot:
    a type the target cannot hold, a dropped column (unless `ignore`), a new column under `fail`.
    """
    names = list(target) + [name for name in incoming if name not in target]
    changes = [
        change
        for name in names
        if (change := _judge_column(name, target.get(name), incoming.get(name), policy)) is not None
    ]
    if any(not c.ok for c in changes):
        table = format_schema_diff(changes, unchanged=len(names) - len(changes))
        raise FlowError(
            f"the data does not fit {what} (on_schema_change: {policy}):\n{table}\n",
            where=where,
            hint=_hint(changes, policy),
        )
    added = tuple(c.name for c in changes if c.target is None and policy != "ignore")
    ignored = tuple(c.name for c in changes if c.target is None and policy == "ignore")
    dropped = tuple(c.name for c in changes if c.incoming is None)
    kept = [c for c in changes if c.target is not None and c.incoming is not None]
    casts = {c.name: c.target for c in kept if c.target is not None and c.target != pl.Null}
    return SchemaPlan(
        added=added,
        dropped=dropped,
        ignored=ignored,
        casts=casts,
        columns=(*target, *added),
        target=target,
        changes=tuple(changes),
    )


def _hint(changes: list[ColumnChange], policy: SchemaPolicy) -> str:
    parts = []
    if policy == "fail" and any(c.target is None for c in changes):
        parts.append("Set on_schema_change: append_new_columns to add new columns.")
    if any(c.incoming is None and not c.ok for c in changes):
        parts.append("Bring dropped columns back in the source, or fill them with on_schema_change: ignore.")
    if any(c.target is not None and c.incoming is not None and not c.ok for c in changes):
        parts.append("Cast the columns in the source to a type the target holds.")
    parts.append("Or rebuild the target with --full-refresh.")
    return " ".join(parts)


def apply_schema_plan(frame: pl.LazyFrame, plan: SchemaPlan) -> pl.LazyFrame:
    """Make `frame` fit the target: cast, fill dropped columns with null, leave out ignored ones."""
    if plan.is_noop:
        return frame
    incoming = {c.name: c.incoming for c in plan.changes}
    exprs = []
    for name in plan.columns:
        if name in plan.dropped:
            exprs.append(pl.lit(None, dtype=plan.target[name]).alias(name))
        elif name in plan.casts:
            exprs.append(_cast(name, incoming.get(name), plan.casts[name]))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def _cast(name: str, source: pl.DataType | None, target: pl.DataType) -> pl.Expr:
    src_int = _int_bits(source) if source is not None else None
    float_bits = _bits()[2].get(target.base_type())
    if src_int is None or float_bits is None or _exact_in_float(src_int, float_bits):
        return pl.col(name).cast(target)
    limit = 2 ** _FLOAT_SIGNIFICAND_BITS[float_bits]

    def exactly(values: pl.Series) -> pl.Series:
        # Per batch, vectorised: integers beyond the significand would silently become a neighbouring number.
        outside = (values > limit) | (values < -limit) if src_int[0] else values > limit  # unsigned: no -limit
        beyond = values.filter(outside)
        if beyond.len():
            raise FlowError(
                f"column '{name}' holds {beyond[0]}, which a {type_label(target)} column cannot hold exactly "
                f"(whole numbers up to 2**{_FLOAT_SIGNIFICAND_BITS[float_bits]} only).",
                hint="Cast the column in the source, or rebuild the target with --full-refresh so that it takes "
                f"the column's type {type_label(source)}. The target is unchanged.",
            )
        return values.cast(target)

    return pl.col(name).map_batches(exactly, return_dtype=target, is_elementwise=True)
