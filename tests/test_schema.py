"""Schema evolution: which types fit, what each policy plans, and how the difference reads."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hygge.connectors.base import SchemaPolicy
from hygge.errors import FlowError
from hygge.schema import apply_schema_plan, can_widen, plan_schema_change, type_label

FITS = [
    (pl.Int32(), pl.Int64()),
    (pl.Int8(), pl.Int16()),
    (pl.UInt32(), pl.Int64()),
    (pl.UInt8(), pl.UInt64()),
    (pl.Int16(), pl.Float32()),
    (pl.Int32(), pl.Float64()),
    (pl.UInt32(), pl.Float64()),
    (pl.Int8(), pl.Float16()),
    # wider integers into Float64: each value is checked as it is cast
    (pl.Int64(), pl.Float64()),
    (pl.UInt64(), pl.Float64()),
    (pl.Int128(), pl.Float64()),
    (pl.Float32(), pl.Float64()),
    (pl.Int32(), pl.Decimal(12, 2)),
    (pl.Decimal(10, 2), pl.Decimal(12, 3)),
    (pl.Date(), pl.Datetime("us")),
    (pl.Datetime("ms"), pl.Datetime("us")),
    (pl.Datetime("us", "UTC"), pl.Datetime("us", "Europe/Copenhagen")),
    (pl.Duration("ms"), pl.Duration("ns")),
    (pl.Int64(), pl.String()),
    (pl.Boolean(), pl.String()),
    (pl.Datetime("us"), pl.String()),
    (pl.String(), pl.Categorical()),
    (pl.Null(), pl.Int64()),
    (pl.Int64(), pl.Null()),
    (pl.List(pl.Int32), pl.List(pl.Int64)),
    (pl.Struct({"a": pl.Int32, "b": pl.String}), pl.Struct({"a": pl.Int64, "b": pl.String})),
]

DOES_NOT_FIT = [
    (pl.Int64(), pl.Int32()),
    (pl.Int32(), pl.UInt64()),
    (pl.UInt32(), pl.Int32()),
    (pl.Float64(), pl.Int64()),
    (pl.Float64(), pl.Float32()),
    (pl.Int32(), pl.Float32()),
    # a float's significand holds integers of 11 (Float16) or 24 (Float32) bits exactly
    (pl.UInt32(), pl.Float32()),
    (pl.Int16(), pl.Float16()),
    (pl.String(), pl.Int64()),
    (pl.Boolean(), pl.Int64()),
    (pl.Int64(), pl.Boolean()),
    (pl.Int64(), pl.Decimal(10, 2)),
    (pl.Decimal(12, 3), pl.Decimal(12, 2)),
    (pl.Float64(), pl.Decimal(20, 2)),
    (pl.Datetime("ns"), pl.Datetime("us")),
    (pl.Datetime("us"), pl.Datetime("us", "UTC")),
    (pl.Datetime("us"), pl.Date()),
    (pl.Int64(), pl.Date()),
    (pl.Binary(), pl.String()),
    (pl.String(), pl.Enum(["a"])),
    (pl.List(pl.Int64), pl.List(pl.Int32)),
    (pl.List(pl.Int64), pl.Int64()),
    (pl.Struct({"b": pl.String, "a": pl.Int32}), pl.Struct({"a": pl.Int64, "b": pl.String})),
]


@pytest.mark.parametrize(("source", "target"), FITS, ids=str)
def test_fits(source: pl.DataType, target: pl.DataType) -> None:
    assert can_widen(source, target)


@pytest.mark.parametrize(("source", "target"), DOES_NOT_FIT, ids=str)
def test_does_not_fit(source: pl.DataType, target: pl.DataType) -> None:
    assert not can_widen(source, target)


TARGET = pl.Schema({"id": pl.Int64, "name": pl.String, "amount": pl.Float64})


@pytest.mark.parametrize("policy", ["fail", "append_new_columns", "ignore"])
def test_same_schema_is_a_noop(policy: SchemaPolicy) -> None:
    plan = plan_schema_change(TARGET, TARGET, policy)
    assert plan.is_noop
    frame = pl.LazyFrame(schema=TARGET)
    assert apply_schema_plan(frame, plan) is frame


@pytest.mark.parametrize("policy", ["fail", "append_new_columns", "ignore"])
def test_widening_is_cast_under_every_policy(policy: SchemaPolicy) -> None:
    incoming = pl.Schema({"id": pl.Int32, "name": pl.String, "amount": pl.Int16})
    plan = plan_schema_change(TARGET, incoming, policy)
    assert plan.casts == {"id": pl.Int64, "amount": pl.Float64}
    assert (plan.added, plan.dropped, plan.ignored) == ((), (), ())
    frame = pl.LazyFrame({"id": [1], "name": ["a"], "amount": [2]}, schema=incoming)
    result = apply_schema_plan(frame, plan).collect()
    assert result.schema == TARGET
    assert result.row(0) == (1, "a", 2.0)


@pytest.mark.parametrize("policy", ["fail", "append_new_columns", "ignore"])
def test_narrowing_is_an_error_under_every_policy(policy: SchemaPolicy) -> None:
    incoming = pl.Schema({"id": pl.Float64, "name": pl.String, "amount": pl.Float64})
    with pytest.raises(FlowError, match="Int64 cannot hold Float64") as caught:
        plan_schema_change(TARGET, incoming, policy)
    assert "Cast the columns in the source" in str(caught.value.hint)


def test_added_column_is_added_at_the_end() -> None:
    incoming = pl.Schema({"note": pl.String, "id": pl.Int64, "name": pl.String, "amount": pl.Float64})
    plan = plan_schema_change(TARGET, incoming, "append_new_columns")
    assert plan.added == ("note",)
    assert plan.columns == ("id", "name", "amount", "note")
    frame = pl.LazyFrame({"note": ["n"], "id": [1], "name": ["a"], "amount": [1.0]})
    assert apply_schema_plan(frame, plan).collect().columns == ["id", "name", "amount", "note"]


def test_added_column_under_fail_is_an_error() -> None:
    incoming = pl.Schema([*TARGET.items(), ("note", pl.String())])
    with pytest.raises(FlowError, match="new column \\(on_schema_change: fail\\)") as caught:
        plan_schema_change(TARGET, incoming, "fail")
    assert "append_new_columns" in str(caught.value.hint)


def test_ignore_leaves_out_new_columns_and_fills_missing_ones() -> None:
    incoming = pl.Schema({"id": pl.Int32, "note": pl.String})
    plan = plan_schema_change(TARGET, incoming, "ignore")
    assert plan.ignored == ("note",)
    assert plan.dropped == ("name", "amount")
    frame = pl.LazyFrame({"id": [1, 2], "note": ["x", "y"]}, schema=incoming)
    expected = pl.DataFrame({"id": [1, 2], "name": [None, None], "amount": [None, None]}, schema=TARGET)
    assert_frame_equal(apply_schema_plan(frame, plan).collect(), expected)


@pytest.mark.parametrize("policy", ["fail", "append_new_columns"])
def test_dropped_column_is_an_error(policy: SchemaPolicy) -> None:
    incoming = pl.Schema({"id": pl.Int64, "name": pl.String})
    with pytest.raises(FlowError, match="dropped: missing from the data") as caught:
        plan_schema_change(TARGET, incoming, policy)
    assert "on_schema_change: ignore" in str(caught.value.hint)


def test_target_column_without_type_takes_any_type() -> None:
    plan = plan_schema_change(pl.Schema({"x": pl.Null}), pl.Schema({"x": pl.Int64}), "fail")
    assert plan.casts == {}


def test_the_difference_reads_as_a_table() -> None:
    stamp = pl.Datetime("us", "UTC")
    text, number = pl.String(), pl.Float64()
    target = pl.Schema({"id": pl.Int32(), "name": text, "amount": number, "ts": stamp, "n": pl.Int64()})
    incoming = pl.Schema({"id": pl.Int64(), "name": text, "ts": stamp, "n": pl.Int32(), "note": text})
    with pytest.raises(FlowError) as caught:
        plan_schema_change(target, incoming, "append_new_columns", what="target 'orders'", where="flow f")
    error = caught.value
    assert error.where == "flow f"
    assert error.message == (
        "the data does not fit target 'orders' (on_schema_change: append_new_columns):\n"
        "    column  target   incoming  verdict\n"
        "  ! id      Int32    Int64     does not fit: Int32 cannot hold Int64\n"
        "  ! amount  Float64  -         dropped: missing from the data\n"
        "    n       Int64    Int32     fits: cast to the target type\n"
        "    note    -        String    new column: added\n"
        "    (2 other columns match)\n"
    )
    assert str(error).startswith("flow f  the data does not fit target 'orders'")


def test_type_label() -> None:
    assert type_label(pl.Datetime("ns", "UTC")) == "Datetime(ns, UTC)"
    assert type_label(pl.Datetime("us")) == "Datetime(us)"
    assert type_label(pl.Duration("ms")) == "Duration(ms)"
    assert type_label(pl.Decimal(10, 2)) == "Decimal(10, 2)"
    assert type_label(pl.List(pl.Int64)) == "List(Int64)"
    assert type_label(None) == "-"


@pytest.mark.parametrize("dtype", [pl.Int64, pl.UInt64, pl.Int128])
def test_wide_integers_into_a_float_column_are_checked_value_by_value(dtype: type[pl.DataType]) -> None:
    # "10" read from a text file is an integer meeting a Float64 column of prices; 2**53 + 1 would be stored as
    # 2**53, so it is an error naming the value. The check is per batch.
    incoming = pl.Schema({"id": pl.Int64, "name": pl.String, "amount": dtype})
    plan = plan_schema_change(TARGET, incoming, "append_new_columns")
    whole = pl.LazyFrame({"id": [1, 2], "name": ["a", "b"], "amount": [10, 2**53]}, schema=incoming)
    assert apply_schema_plan(whole, plan).collect()["amount"].to_list() == [10.0, 2.0**53]
    beyond = pl.LazyFrame({"id": [1, 2], "name": ["a", "b"], "amount": [10, 2**53 + 1]}, schema=incoming)
    with pytest.raises(FlowError, match=r"column 'amount' holds 9007199254740993, which a Float64 column cannot"):
        apply_schema_plan(beyond, plan).collect()
    if dtype != pl.UInt64:
        below = pl.DataFrame({"id": [1], "name": ["a"], "amount": [-(2**53) - 1]}, schema=incoming)
        with pytest.raises(FlowError, match="holds -9007199254740993"):
            apply_schema_plan(below.lazy(), plan).collect(engine="streaming")
