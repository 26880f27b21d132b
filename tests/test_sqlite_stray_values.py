"""SQLite keeps any value in any column: one its declared type cannot hold exactly is an error naming it, never a
truncated or rounded value; values that fit read exactly, in the first batch and in later ones."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import polars as pl
import pytest
from conftest import build_project
from databases import Db

from hygge.connectors.base import ReadRequest
from hygge.errors import FlowError

D = decimal.Decimal


def _table(db: Db, declared: str, values: list[object]) -> None:
    db.execute(f"CREATE TABLE t (id INTEGER, v {declared})")
    rows = ", ".join(f"({i}, {value})" for i, value in enumerate(values))
    db.execute(f"INSERT INTO t VALUES {rows}")


@pytest.mark.parametrize("batch_size", [1, 1000])  # a stray value later in the column, or in the first batch
@pytest.mark.parametrize(
    ("declared", "values", "stray"),
    [
        ("INTEGER", ["1", "3.7"], "3.7"),
        ("INTEGER", ["1", "1e20"], "1.0e+20"),
        ("INTEGER", ["1", "'abc'"], "'abc'"),
        ("INTEGER", ["1", "X'00'"], "X'00'"),
        ("DECIMAL(10,2)", ["'1.50'", "'1.005'"], "1.005"),
        ("DECIMAL(10,2)", ["'1.50'", "1.239"], "1.239"),
        ("DECIMAL(10,2)", ["'1.50'", "-1.999"], "-1.999"),
        ("DECIMAL(10,2)", ["'1.50'", "0.000001"], "1.0e-06"),
        ("NUMERIC(5,1)", ["1", "'2.25'"], "2.25"),
        ("NUMERIC(5,1)", ["1", "9.99"], "9.99"),
        ("DECIMAL_TEXT(20,2)", ["'1.50'", "'123456789012345678.915'"], "'123456789012345678.915'"),
        ("NUMERIC", ["1.5", str(2**53 + 1)], str(2**53 + 1)),
        ("REAL", ["1.5", "'abc'"], "'abc'"),
        ("BOOLEAN", ["1", "2"], "2"),
        ("BOOLEAN", ["0", "0.5"], "0.5"),
    ],
)
def test_a_value_its_type_cannot_hold_is_an_error_naming_column_and_value(
    sqlite_db: Db, declared: str, values: list[str], stray: str, batch_size: int
) -> None:
    _table(sqlite_db, declared, values)
    with pytest.raises(FlowError, match="column 'v'") as raised:
        sqlite_db.read("t", batch_size=batch_size)
    assert f"holds {stray}, which" in str(raised.value)


def test_a_stray_value_in_a_query_is_an_error_too(sqlite_db: Db) -> None:
    _table(sqlite_db, "INTEGER", ["1", "3.7"])
    with pytest.raises(FlowError, match="column 'v' \\(INTEGER\\) holds 3.7, which Int64 cannot hold exactly"):
        sqlite_db.query("SELECT v FROM t WHERE id >= 0")


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_values_that_fit_read_exactly(sqlite_db: Db, batch_size: int) -> None:
    sqlite_db.execute(
        "CREATE TABLE t (id INTEGER, i INTEGER, d DECIMAL(10,2), n NUMERIC(5,1), small DECIMAL(12,8), "
        "wide DECIMAL_TEXT(20,2), r REAL, b BOOLEAN)"
    )
    sqlite_db.execute(
        "INSERT INTO t VALUES "
        "(0, 3.0, '1.50', 2.5, 0.00001, '123456789012345678.91', 1, 1), "
        "(1, '42', 0.07, '9.9', 1.5e-7, '-0.10', 1.5, 0.0), "
        f"(2, 1e3, 0.1 + 0.2, 10, 12.34, '7', {2**53}, NULL), "
        "(3, '4.0', 99999999.99, -9999.9, -0.00000001, NULL, NULL, 1.0), "
        f"(4, {2**63 - 1}, 1e3, NULL, 0, '1.5e1', -2.5, 0), "
        "(5, NULL, NULL, 0, NULL, '1.2000', 0, NULL)"
    )
    got = sqlite_db.read("t", sort="id", batch_size=batch_size)
    assert got.schema["d"] == pl.Decimal(10, 2) and got.schema["b"] == pl.Boolean
    assert got["i"].to_list() == [3, 42, 1000, 4, 2**63 - 1, None]
    assert got["d"].to_list() == [D("1.50"), D("0.07"), D("0.30"), D("99999999.99"), D("1000.00"), None]
    assert got["n"].to_list() == [D("2.5"), D("9.9"), D("10.0"), D("-9999.9"), None, D("0.0")]
    assert got["small"].to_list() == [D("0.00001"), D("1.5E-7"), D("12.34"), D("-1E-8"), D(0), None]
    assert got["wide"].to_list() == [D("123456789012345678.91"), D("-0.10"), D("7"), None, D("15"), D("1.2")]
    assert got["r"].to_list() == [1.0, 1.5, float(2**53), None, -2.5, 0.0]
    assert got["b"].to_list() == [True, False, None, True, False, None]


def test_a_stray_value_leaves_the_target_unchanged(sqlite_db: Db) -> None:
    sqlite_db.write(pl.DataFrame({"id": [7], "v": [D("9.99")]}, schema={"id": pl.Int64, "v": pl.Decimal(10, 2)}), "out")
    _table(sqlite_db, "DECIMAL(10,2)", ["'1.50'", "'2.00'", "'1.005'"])
    source = sqlite_db.home().read(ReadRequest(flow="test", source="t", batch_size=1))
    with pytest.raises(FlowError, match="holds 1.005"):
        sqlite_db.write(source, "out")
    assert sqlite_db.rows("SELECT id, v FROM out") == [(7, 9.99)]


def test_a_float4_column_refuses_a_double_it_would_round(sqlite_db: Db) -> None:
    # hygge writes Float32 columns as FLOAT4 and reads them back exactly; another tool may store any double there.
    sqlite_db.execute("CREATE TABLE f (id INTEGER, v FLOAT4)")
    sqlite_db.execute("INSERT INTO f VALUES (0, 1.5), (1, -0.25), (2, NULL), (3, 9e999)")
    assert sqlite_db.read("f", sort="id")["v"].to_list() == [1.5, -0.25, None, float("inf")]
    sqlite_db.execute("INSERT INTO f VALUES (4, 0.1)")
    with pytest.raises(FlowError, match="column 'v' holds 0.1, which a Float32 column cannot hold exactly"):
        sqlite_db.read("f")


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize("declared", ["TEXT", "VARCHAR(20)", "JSON", "DATE", ""])
def test_text_that_is_not_utf8_is_an_error_naming_the_column(sqlite_db: Db, declared: str, batch_size: int) -> None:
    # SQLite keeps any bytes as text, and the driver passed them on into the frame, to fail later or be garbled.
    sqlite_db.execute(f"CREATE TABLE t (id INTEGER, v {declared})")
    sqlite_db.execute("INSERT INTO t VALUES (0, '2024-01-02'), (1, NULL), (2, CAST(X'61FF62' AS TEXT))")
    with pytest.raises(FlowError, match=r"column 'v' holds text that is not UTF-8: b'a\\xffb'") as raised:
        sqlite_db.read("t", batch_size=batch_size)
    assert 'CAST("v" AS BLOB)' in (raised.value.hint or "")


def test_text_that_is_not_utf8_reads_as_bytes_through_the_hinted_query(sqlite_db: Db) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER, v TEXT)")
    sqlite_db.execute("INSERT INTO t VALUES (0, 'ok'), (1, CAST(X'C3' AS TEXT)), (2, 'åse')")
    with pytest.raises(FlowError, match="not UTF-8: b'\\\\xc3'"):
        sqlite_db.query("SELECT id, v FROM t")
    got = sqlite_db.query('SELECT id, CAST("v" AS BLOB) AS "v" FROM t').sort("id")
    assert got["v"].to_list() == [b"ok", b"\xc3", "åse".encode()]


def test_text_that_is_not_utf8_in_a_table_read_in_parts_is_an_error(sqlite_db: Db) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    sqlite_db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000) "
        "INSERT INTO t SELECT i, 'row ' || i FROM n"
    )
    sqlite_db.execute("UPDATE t SET v = CAST(X'FE' AS TEXT) WHERE id = 450000")
    with pytest.raises(FlowError, match=r"column 'v' holds text that is not UTF-8: b'\\xfe'"):
        sqlite_db.read("t", batch_size=100_000)


def test_a_flow_stops_on_text_that_is_not_utf8_and_leaves_the_target_unchanged(
    tmp_path: Path, hygge: Callable[..., CompletedProcess[str]]
) -> None:
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: texts\n",
            "homes/shop.yml": "type: sqlite\npath: data/shop.sqlite\n",
            "stores/lake.yml": "type: parquet\npath: data/lake\n",
            "flows/notes.yml": "home: shop\nstore: lake\nsource: notes\ntarget: notes\n",
        },
    )
    db = Db("sqlite", root, {"path": "data/shop.sqlite"})
    db.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
    db.execute("INSERT INTO notes VALUES (1, 'fine'), (2, CAST(X'42E96C6C65' AS TEXT))")  # Latin-1 'Bélle'
    result = hygge("run", "notes", cwd=root)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "flow notes" in output and "column 'body' holds text that is not UTF-8" in output, output
    assert 'CAST("body" AS BLOB)' in output and "Traceback" not in output
    assert not (root / "data/lake/notes.parquet").exists()
