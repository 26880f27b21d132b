"""A frame of every supported type, written to each database and read back, equals what the README promises."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest
from databases import KINDS, Db
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
# Timestamps from year 1 to 9999, as SQL databases take them; Polars' nanoseconds span only 1678 to 2261.
EPOCH = dt.datetime(1970, 1, 1)
SECONDS = (
    int((dt.datetime(1, 1, 1) - EPOCH).total_seconds()),
    int((dt.datetime(9999, 12, 31) - EPOCH).total_seconds()),
)
NS_LIMIT = 2**63 - 1


@dataclass(frozen=True)
class Spec:
    """One column: its Polars type, its values, what each database reads it back as (None: JSON text)."""

    name: str
    dtype: pl.DataType
    values: Callable[[str], st.SearchStrategy[Any]]
    read_as: Callable[[str], pl.DataType | None]


def _same(dtype: pl.DataType) -> Callable[[str], pl.DataType | None]:
    return lambda _kind: dtype


def _ints(lo: int, hi: int) -> Callable[[str], st.SearchStrategy[Any]]:
    return lambda _kind: st.integers(lo, hi)


def _text(kind: str) -> st.SearchStrategy[str]:
    # PostgreSQL text cannot hold NUL; the others keep it.
    characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00" if kind == "postgres" else "")
    return st.text(characters, max_size=8)


def _floats(width: int) -> Callable[[str], st.SearchStrategy[Any]]:
    # SQLite turns NaN into NULL; the others keep it.
    return lambda kind: st.floats(width=width, allow_nan=kind != "sqlite")  # type: ignore[arg-type]


def _decimals(precision: int, scale: int) -> Callable[[str], st.SearchStrategy[Any]]:
    bound = 10 ** (precision - scale) - 1
    return lambda _kind: st.decimals(-bound, bound, places=scale, allow_nan=False, allow_infinity=False)


def _epoch(unit: str) -> Callable[[str], st.SearchStrategy[Any]]:
    per_second = {"ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    lo, hi = (-NS_LIMIT, NS_LIMIT) if unit == "ns" else (SECONDS[0] * per_second, SECONDS[1] * per_second)

    def values(kind: str) -> st.SearchStrategy[Any]:
        # PostgreSQL keeps microseconds, so its nanosecond values are whole microseconds.
        step = 1_000 if unit == "ns" and kind == "postgres" else 1
        # DuckDB keeps the largest nanosecond, 2**63 - 1, as 'infinity', and refuses it (test_postgres_values.py).
        top = hi - 1 if unit == "ns" and kind == "duckdb" else hi
        return st.integers(lo // step + 1, top // step).map(lambda v: v * step)

    return values


def _by_kind(**read_as: pl.DataType | None) -> Callable[[str], pl.DataType | None]:
    return lambda kind: read_as.get(kind, read_as.get("default"))


INT_SPECS = [
    Spec("i8", pl.Int8(), _ints(-(2**7), 2**7 - 1), _by_kind(default=pl.Int8(), postgres=pl.Int16())),
    Spec("i16", pl.Int16(), _ints(-(2**15), 2**15 - 1), _same(pl.Int16())),
    Spec("i32", pl.Int32(), _ints(-(2**31), 2**31 - 1), _same(pl.Int32())),
    Spec("i64", pl.Int64(), _ints(-(2**63), 2**63 - 1), _same(pl.Int64())),
    Spec("u8", pl.UInt8(), _ints(0, 2**8 - 1), _by_kind(default=pl.UInt8(), postgres=pl.Int16())),
    Spec("u16", pl.UInt16(), _ints(0, 2**16 - 1), _by_kind(default=pl.UInt16(), postgres=pl.Int32())),
    Spec("u32", pl.UInt32(), _ints(0, 2**32 - 1), _by_kind(default=pl.UInt32(), postgres=pl.Int64())),
    Spec(
        "u64",
        pl.UInt64(),
        # SQLite's integers are signed 64-bit.
        lambda kind: st.integers(0, 2**63 - 1 if kind == "sqlite" else 2**64 - 1),
        _by_kind(default=pl.UInt64(), postgres=pl.Decimal(20, 0)),
    ),
]
SPECS = [
    *INT_SPECS,
    Spec("f32", pl.Float32(), _floats(32), _same(pl.Float32())),
    Spec("f64", pl.Float64(), _floats(64), _same(pl.Float64())),
    Spec("dec", pl.Decimal(10, 2), _decimals(10, 2), _same(pl.Decimal(10, 2))),
    Spec("wide_dec", pl.Decimal(30, 6), _decimals(30, 6), _same(pl.Decimal(30, 6))),
    Spec("text", pl.String(), _text, _same(pl.String())),
    Spec("flag", pl.Boolean(), lambda _kind: st.booleans(), _same(pl.Boolean())),
    Spec("day", pl.Date(), lambda _kind: st.dates(), _same(pl.Date())),
    Spec("clock", pl.Time(), lambda _kind: st.times(), _same(pl.Time())),
    Spec("at", pl.Datetime("us"), _epoch("us"), _same(pl.Datetime("us"))),
    Spec("at_ms", pl.Datetime("ms"), _epoch("ms"), _by_kind(default=pl.Datetime("ms"), postgres=pl.Datetime("us"))),
    Spec("at_ns", pl.Datetime("ns"), _epoch("ns"), _by_kind(default=pl.Datetime("ns"), postgres=pl.Datetime("us"))),
    Spec("blob", pl.Binary(), lambda _kind: st.binary(max_size=8), _same(pl.Binary())),
    Spec("cat", pl.Categorical(), lambda _kind: st.sampled_from(["a", "b", "ö"]), _same(pl.String())),
    Spec(
        "ints",
        pl.List(pl.Int64()),
        lambda _kind: st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=3),
        _by_kind(default=pl.List(pl.Int64()), sqlite=None),
    ),
    Spec(
        "words",
        pl.List(pl.String()),
        lambda kind: st.lists(st.none() | _text(kind), max_size=3),
        _by_kind(default=pl.List(pl.String()), sqlite=None),
    ),
    Spec(
        "doc",
        pl.Struct({"a": pl.Int64(), "b": pl.String()}),
        lambda kind: st.fixed_dictionaries(
            {"a": st.none() | st.integers(-(2**53), 2**53), "b": st.none() | _text(kind)}
        ),
        _by_kind(default=None, duckdb=pl.Struct({"a": pl.Int64(), "b": pl.String()})),
    ),
]


@st.composite
def frames(draw: st.DrawFn, kind: str) -> pl.DataFrame:
    rows = draw(st.integers(0, 8))
    columns: dict[str, pl.Series] = {"row": pl.Series("row", range(rows), dtype=pl.Int64)}
    for spec in SPECS:
        values = draw(st.lists(st.none() | spec.values(kind), min_size=rows, max_size=rows))
        if isinstance(spec.dtype, pl.Datetime):
            series = pl.Series(spec.name, values, dtype=pl.Int64).cast(spec.dtype)
        else:
            series = pl.Series(spec.name, values, dtype=spec.dtype)
        columns[spec.name] = series
    zone = draw(st.sampled_from(ZONES))
    instants = draw(st.lists(st.none() | _epoch("us")(kind), min_size=rows, max_size=rows))
    columns["zoned"] = pl.Series("zoned", instants, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    columns["zoned"] = columns["zoned"].dt.convert_time_zone(zone)
    return pl.DataFrame(columns)


def _expected(frame: pl.DataFrame, kind: str) -> tuple[pl.DataFrame, list[str]]:
    """The frame as the database reads it back, and the columns compared as JSON text instead."""
    exprs = [pl.col("row"), pl.col("zoned").dt.convert_time_zone("UTC")]
    as_json = []
    for spec in SPECS:
        read_as = spec.read_as(kind)
        if read_as is None:
            as_json.append(spec.name)
        else:
            exprs.append(pl.col(spec.name).cast(read_as))
    return frame.select(exprs), as_json


def _parsed(values: list[Any]) -> list[Any]:
    return [None if v is None else json.loads(v) if isinstance(v, str) else v for v in values]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_type_round_trips(kind: str, request: pytest.FixtureRequest, data: st.DataObject) -> None:
    db: Db = request.getfixturevalue(f"{kind}_db")
    frame = data.draw(frames(kind))
    db.write(frame, "roundtrip", allow_empty=True)
    back = db.read("roundtrip", sort="row")
    expected, as_json = _expected(frame, kind)
    assert_frame_equal(back.select(expected.columns), expected, check_column_order=False)
    for name in as_json:
        assert back.schema[name] == pl.String
        assert _parsed(back[name].to_list()) == frame[name].to_list(), name


def test_time_zones_are_kept_as_instants(db: Db) -> None:
    oslo = pl.Series("at", [dt.datetime(2025, 3, 30, 1, 30), dt.datetime(2025, 10, 26, 2, 30)])
    frame = pl.DataFrame({"at": oslo.dt.replace_time_zone("Europe/Oslo", ambiguous="earliest")})
    db.write(frame, "zoned")
    back = db.read("zoned", sort="at")  # DuckDB does not keep insertion order
    assert back.schema["at"] == pl.Datetime("us", "UTC")
    assert back["at"].to_list() == frame["at"].dt.convert_time_zone("UTC").to_list()
