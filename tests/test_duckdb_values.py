"""Values read from a DuckDB home are never changed silently: a value Polars' type for its column cannot hold
fails the flow naming column and value, and types Arrow hands over as bytes are read as the text DuckDB prints."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import polars as pl
import pytest
from conftest import build_project
from databases import Db

from hygge.errors import FlowError

D = decimal.Decimal
MOST = 10**38 - 1  # the largest Decimal(38, 0)


@pytest.mark.parametrize("batch_size", [1, 1000])  # the value later in the column, or in the first batch
@pytest.mark.parametrize(
    ("declared", "value"),
    [
        ("UHUGEINT", 2**127),  # wraps around to a negative number in Arrow's 128 bits
        ("UHUGEINT", 2**128 - 1),  # wraps around to -1
        ("UHUGEINT", MOST + 1),  # 39 digits
        ("HUGEINT", MOST + 1),
        ("HUGEINT", -MOST - 1),
        ("HUGEINT", -(2**127)),
    ],
)
def test_a_128_bit_integer_decimal_38_cannot_hold_is_an_error_naming_column_and_value(
    duckdb_db: Db, declared: str, value: int, batch_size: int
) -> None:
    duckdb_db.execute(f"CREATE TABLE t (id INTEGER, v {declared})")
    duckdb_db.execute(f"INSERT INTO t VALUES (1, 7), (2, NULL), (3, {value})")
    expected = f"column 'v' ({declared}) holds {value}, which Decimal(38, 0) cannot hold"
    with pytest.raises(FlowError, match=expected.replace("(", r"\(").replace(")", r"\)")) as raised:
        duckdb_db.read("t", batch_size=batch_size)
    assert "CAST(col AS VARCHAR)" in (raised.value.hint or "")
    with pytest.raises(FlowError, match=f"holds {value}, which"):
        duckdb_db.query("SELECT v + 0 AS v FROM t")  # an expression's type is checked as a column's is


def test_128_bit_integers_that_fit_read_exactly(duckdb_db: Db) -> None:
    duckdb_db.execute("CREATE TABLE t (id INTEGER, h HUGEINT, u UHUGEINT)")
    duckdb_db.execute(f"INSERT INTO t VALUES (1, {MOST}, {MOST}), (2, {-MOST}, 0), (3, NULL, NULL), (4, -1, 1)")
    got = duckdb_db.read("t", sort="id", batch_size=2)
    assert got.schema["h"] == pl.Decimal(38, 0) and got.schema["u"] == pl.Decimal(38, 0)
    assert got["h"].to_list() == [D(MOST), D(-MOST), None, D(-1)]
    assert got["u"].to_list() == [D(MOST), D(0), None, D(1)]
    assert duckdb_db.query("SELECT CAST(u AS VARCHAR) AS u FROM t WHERE id = 1")["u"].to_list() == [str(MOST)]


def test_bit_strings_big_integers_and_zoned_times_read_as_the_text_duckdb_prints(duckdb_db: Db) -> None:
    # Arrow gets a bit string's and a BIGNUM's bytes, and a TIMETZ without its offset.
    duckdb_db.execute("CREATE TABLE t (id INTEGER, b BIT, n BIGNUM, z TIMETZ)")
    duckdb_db.execute(
        f"INSERT INTO t VALUES (1, '0101', {10**40}, '12:30:00+05'), (2, '1', -5, '23:59:59.5-01:30'), "
        "(3, NULL, NULL, NULL)"
    )
    got = duckdb_db.read("t", sort="id")
    assert got.schema["b"] == pl.String and got.schema["n"] == pl.String and got.schema["z"] == pl.String
    assert got["b"].to_list() == ["0101", "1", None]
    assert got["n"].to_list() == [str(10**40), "-5", None]
    assert got["z"].to_list() == ["12:30:00+05", "23:59:59.5-01:30", None]
    assert duckdb_db.query("SELECT b FROM t WHERE id = 2")["b"].to_list() == ["1"]


def test_a_flow_stops_on_a_wrapped_uhugeint_and_leaves_the_target_unchanged(
    tmp_path: Path, hygge: Callable[..., CompletedProcess[str]]
) -> None:
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: wide\n",
            "homes/warehouse.yml": "type: duckdb\npath: data/warehouse.duckdb\n",
            "stores/lake.yml": "type: parquet\npath: data/lake\n",
            "flows/ids.yml": "home: warehouse\nstore: lake\nsource: ids\ntarget: ids\n",
            "flows/ids_text.yml": (
                "home: warehouse\nstore: lake\ntarget: ids_text\nquery: SELECT id, CAST(v AS VARCHAR) AS v FROM ids\n"
            ),
        },
    )
    db = Db("duckdb", root, {"path": "data/warehouse.duckdb"})
    db.execute("CREATE TABLE ids (id INTEGER, v UHUGEINT)")
    db.execute(f"INSERT INTO ids VALUES (1, 5), (2, {2**127})")
    result = hygge("run", "ids", cwd=root)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "flow ids" in output and f"column 'v' (UHUGEINT) holds {2**127}" in output, output
    assert "CAST(col AS VARCHAR)" in output and "Traceback" not in output
    assert not (root / "data/lake/ids.parquet").exists()
    assert hygge("run", "ids_text", cwd=root).returncode == 0
    got = pl.read_parquet(root / "data/lake/ids_text.parquet").sort("id")
    assert got["v"].to_list() == ["5", str(2**127)]


def test_nested_columns_holding_such_types_read_them_as_their_top_level_columns_do(duckdb_db: Db) -> None:
    duckdb_db.execute(
        'CREATE TABLE t (id INTEGER, l UHUGEINT[], s STRUCT(b BIT, "h h" HUGEINT), m MAP(VARCHAR, TIMETZ), '
        "a HUGEINT[2], plain INTEGER[])"
    )
    duckdb_db.execute(
        f"INSERT INTO t VALUES (1, [{MOST}, NULL], {{'b': '0101', 'h h': -7}}, MAP(['x'], ['12:30:00+05'::TIMETZ]), "
        "[1, 2], [3]), (2, NULL, NULL, NULL, NULL, NULL)"
    )
    got = duckdb_db.read("t", sort="id")
    assert got.schema["l"] == pl.List(pl.Decimal(38, 0)) and got.schema["plain"] == pl.List(pl.Int32)
    assert got.schema["s"] == pl.Struct({"b": pl.String, "h h": pl.Decimal(38, 0)})
    row = got.row(0, named=True)
    assert row["l"] == [D(MOST), None] and row["s"] == {"b": "0101", "h h": D(-7)}
    assert row["m"] == {"x": "12:30:00+05"} and row["a"] == [D(1), D(2)] and row["plain"] == [3]
    duckdb_db.execute(f"INSERT INTO t VALUES (3, [1, {2**127}::UHUGEINT], NULL, NULL, NULL, NULL)")
    with pytest.raises(FlowError, match=f"Could not cast value {2**127}") as raised:
        duckdb_db.read("t")
    assert "CAST(col AS VARCHAR)" in (raised.value.hint or "")
    assert duckdb_db.query("SELECT l FROM t WHERE id = 1")["l"].to_list() == [[D(MOST), None]]
