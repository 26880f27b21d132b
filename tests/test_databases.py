"""The sqlite, duckdb and postgres connectors against the real databases: modes, failures, names, types."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest
from databases import POSTGRES_URL, Db
from polars.io.plugins import register_io_source
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from hygge.connectors import get_connector
from hygge.connectors.base import Cancelled, Incremental, ReadRequest, WriteRequest
from hygge.connectors.sql import STAGE_PREFIX
from hygge.connectors.sqldatabase import PARALLEL_READS
from hygge.connectors.sqlnames import quote, split_name
from hygge.connectors.sqlsession import DatabaseError
from hygge.errors import FlowError, MissingDriverError

ORDERS = pl.DataFrame({"id": [1, 2, 3], "amount": [10.5, 20.0, 7.25], "status": ["paid", "new", "paid"]})
LATER = pl.DataFrame({"id": [3, 4], "amount": [8.0, 1.0], "status": ["shipped", "new"]})


def no_staging_left(db: Db) -> None:
    assert [t for t in db.tables() if t.startswith(STAGE_PREFIX)] == []


# --- names ---------------------------------------------------------------------------------------


def test_names_split_on_dots_outside_quotes() -> None:
    assert split_name("orders") == ["orders"]
    assert split_name("shop.orders") == ["shop", "orders"]
    assert split_name('"my.schema"."Or""ders"') == ["my.schema", 'Or"ders']
    assert split_name('we"ird; DROP TABLE x; --') == ['we"ird; DROP TABLE x; --']
    assert quote('a"b') == '"a""b"'


def test_a_name_with_three_parts_is_refused(sqlite_db: Db) -> None:
    with pytest.raises(FlowError, match="not a table name"):
        sqlite_db.write(ORDERS, "a.b.c")


# --- replace -------------------------------------------------------------------------------------


def test_replace_swaps_in_exactly_this_runs_rows(db: Db) -> None:
    assert db.write(ORDERS, "orders") == 3
    assert db.write(LATER, "orders") == 2
    assert_frame_equal(db.read("orders", sort="id"), LATER)
    no_staging_left(db)


def test_replace_may_change_the_schema(db: Db) -> None:
    db.write(ORDERS, "orders")
    db.write(pl.DataFrame({"id": ["a"], "note": [True]}), "orders")
    assert db.read("orders").schema == pl.Schema({"id": pl.String, "note": pl.Boolean})


def test_replacing_rows_with_none_needs_allow_empty(db: Db) -> None:
    db.write(ORDERS, "orders")
    with pytest.raises(FlowError, match="refusing to replace") as caught:
        db.write(ORDERS.clear(), "orders")
    assert "--allow-empty" in str(caught.value)
    assert db.read("orders").height == 3
    assert db.write(ORDERS.clear(), "orders", allow_empty=True) == 0
    assert db.read("orders").height == 0
    no_staging_left(db)


def test_replace_with_a_key_gives_the_table_a_primary_key(db: Db) -> None:
    db.write(pl.DataFrame({"id": [1, 2], "v": ["new", "x"]}), "orders", key=("id",))
    db.write(pl.DataFrame({"id": [2], "v": ["y"]}), "orders", mode="merge", key=("id",))
    assert db.read("orders", sort="id")["v"].to_list() == ["new", "y"]


def test_replace_with_a_key_refuses_rows_sharing_a_key_rather_than_drop_them(db: Db) -> None:
    """Files keep all three rows; the databases kept the last per key without a word."""
    db.write(ORDERS, "orders", key=("id",))
    with pytest.raises(
        FlowError, match=r"this run's 3 rows hold only 2 different keys \(id=1 is on 2 rows\)"
    ) as caught:
        db.write(
            pl.DataFrame({"id": [1, 1, 2], "amount": [1.0, 2.0, 3.0], "status": ["a", "b", "c"]}), "orders", key=("id",)
        )
    assert "mode: merge" in str(caught.value.hint) and "Remove key:" in str(caught.value.hint)
    assert_frame_equal(db.read("orders", sort="id"), ORDERS)
    no_staging_left(db)


# --- append --------------------------------------------------------------------------------------


def test_append_adds_the_runs_rows(db: Db) -> None:
    assert db.write(ORDERS, "orders", mode="append") == 3
    assert db.write(LATER, "orders", mode="append") == 2
    assert_frame_equal(db.read("orders").sort("id", "status"), pl.concat([ORDERS, LATER]).sort("id", "status"))


def test_append_adds_new_columns_and_fills_old_rows_with_null(db: Db) -> None:
    db.write(ORDERS, "orders", mode="append")
    db.write(LATER.with_columns(pl.lit("eu").alias("region")), "orders", mode="append")
    back = db.read("orders", sort="id")
    assert back.columns == ["id", "amount", "status", "region"]
    assert back["region"].to_list() == [None, None, None, "eu", "eu"]


def test_a_dropped_column_fails_with_the_difference(db: Db) -> None:
    db.write(ORDERS, "orders", mode="append")
    with pytest.raises(FlowError) as caught:
        db.write(LATER.drop("status"), "orders", mode="append")
    assert "status" in str(caught.value) and "dropped" in str(caught.value)
    assert db.read("orders").height == 3


def test_a_narrowing_type_fails_with_the_difference(db: Db) -> None:
    db.write(ORDERS, "orders", mode="append")
    with pytest.raises(FlowError, match="does not fit") as caught:
        db.write(LATER.with_columns(pl.col("id").cast(pl.String)), "orders", mode="append")
    assert "id" in str(caught.value)


def test_on_schema_change_fail_refuses_new_columns(db: Db) -> None:
    db.write(ORDERS, "orders", mode="append")
    with pytest.raises(FlowError, match="new column"):
        db.write(ORDERS.with_columns(x=pl.lit(1)), "orders", mode="append", on_schema_change="fail")


def test_on_schema_change_ignore_leaves_new_columns_out_and_fills_missing(db: Db) -> None:
    db.write(ORDERS, "orders", mode="append")
    db.write(LATER.drop("status").with_columns(x=pl.lit(1)), "orders", mode="append", on_schema_change="ignore")
    back = db.read("orders", sort="id")
    assert back.columns == ["id", "amount", "status"]
    assert back["status"].to_list()[-1] is None


def test_a_wider_incoming_type_is_cast_to_the_target(db: Db) -> None:
    db.write(ORDERS, "orders", mode="append")
    db.write(LATER.with_columns(pl.col("id").cast(pl.Int16)), "orders", mode="append")
    assert db.read("orders").schema["id"] == pl.Int64


# --- merge ---------------------------------------------------------------------------------------


def test_merge_upserts_by_key_and_the_last_duplicate_wins(db: Db) -> None:
    db.write(ORDERS, "orders", mode="merge", key=("id",))
    incoming = pl.DataFrame({"id": [3, 4, 4, 3], "amount": [1.0, 2.0, 3.0, 4.0], "status": ["a", "b", "c", "d"]})
    assert db.write(incoming, "orders", mode="merge", key=("id",)) == 4
    expected = pl.DataFrame({"id": [1, 2, 3, 4], "amount": [10.5, 20.0, 4.0, 3.0], "status": ["paid", "new", "d", "c"]})
    assert_frame_equal(db.read("orders", sort="id"), expected)
    no_staging_left(db)


def test_merge_on_a_composite_key_with_new_columns(db: Db) -> None:
    first = pl.DataFrame({"shop": ["a", "a", "b"], "day": [1, 2, 1], "n": [1, 2, 3]})
    db.write(first, "sales", mode="merge", key=("shop", "day"))
    second = pl.DataFrame({"shop": ["a", "c"], "day": [2, 1], "n": [20, 30], "note": ["fixed", None]})
    db.write(second, "sales", mode="merge", key=("shop", "day"))
    back = db.read("sales", sort="n")
    assert back.rows() == [("a", 1, 1, None), ("b", 1, 3, None), ("a", 2, 20, "fixed"), ("c", 1, 30, None)]


def test_merge_with_only_key_columns_inserts_new_keys(db: Db) -> None:
    db.write(pl.DataFrame({"id": [1, 2]}), "ids", mode="merge", key=("id",))
    db.write(pl.DataFrame({"id": [2, 3]}), "ids", mode="merge", key=("id",))
    assert db.read("ids", sort="id")["id"].to_list() == [1, 2, 3]


@pytest.mark.parametrize("made_by", ["hygge", "others"])
def test_merge_refuses_a_null_key_which_would_be_inserted_again_every_run(db: Db, made_by: str) -> None:
    """SQLite lets a composite primary key (or a unique index) hold nulls, and ON CONFLICT never matches one."""
    if made_by == "others":
        table = db.sql_name("t")
        db.execute(f"CREATE TABLE {table} (a bigint, b text, v bigint)")
        db.execute(db.database.unique_index_sql(db.database.table(db.name("t")), ["a", "b"]))
    db.write(pl.DataFrame({"a": [1], "b": ["x"], "v": [0]}), "t", mode="merge", key=["a", "b"])
    incoming = pl.DataFrame(
        {"a": [None, None, 5], "b": ["n", "n", None], "v": [1, 2, 3]}, schema_overrides={"a": pl.Int64}
    )
    for _ in range(2):
        with pytest.raises(FlowError, match="key column 'a' is null in 2 row"):
            db.write(incoming, "t", mode="merge", key=["a", "b"])
    assert db.read("t").rows() == [(1, "x", 0)]
    no_staging_left(db)


def test_merge_without_a_key_is_an_error(db: Db) -> None:
    with pytest.raises(FlowError, match="merge needs a key"):
        db.write(ORDERS, "orders", mode="merge")


def test_merge_into_a_table_that_cannot_enforce_the_key_says_how_to_fix_it(db: Db) -> None:
    db.write(ORDERS, "orders", mode="append")
    with pytest.raises(FlowError, match="no primary key or unique index on") as caught:
        db.write(LATER, "orders", mode="merge", key=("id",))
    assert "CREATE UNIQUE INDEX" in str(caught.value) and "--full-refresh" in str(caught.value)
    db.execute(db.database.unique_index_sql(db.database.table(db.name("orders")), ["id"]))  # what the hint says
    db.write(LATER, "orders", mode="merge", key=("id",))
    assert db.read("orders", sort="id")["status"].to_list() == ["paid", "new", "shipped", "new"]


def test_merge_with_a_key_the_data_lacks_is_an_error(db: Db) -> None:
    with pytest.raises(FlowError, match="no key column nope"):
        db.write(ORDERS, "orders", mode="merge", key=("nope",))


# --- failures leave the target as it was -----------------------------------------------------


def _state(db: Db) -> pl.DataFrame:
    return db.read("orders", sort="id")


@pytest.mark.parametrize("mode", ["replace", "append", "merge"])
@pytest.mark.parametrize("step", ["write.batch", "write.before_commit"])
def test_an_injected_fault_leaves_the_target_unchanged(
    db: Db, mode: str, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.write(ORDERS, "orders", mode="merge", key=("id",))
    before = _state(db)
    monkeypatch.setenv("HYGGE_FAULT", step)
    big = pl.DataFrame({"id": range(10, 30), "amount": [1.0] * 20, "status": ["x"] * 20, "extra": ["e"] * 20})
    with pytest.raises(FlowError, match=f"injected fault at {step}"):
        db.write(big, "orders", mode=mode, key=("id",), batch_size=5)
    monkeypatch.delenv("HYGGE_FAULT")
    assert_frame_equal(_state(db), before)
    no_staging_left(db)


def _breaking_source(good: pl.DataFrame) -> pl.LazyFrame:
    """A source that yields one batch, then fails as a broken connection or a bad file would."""

    def source(*_: object) -> Iterator[pl.DataFrame]:
        yield good
        raise FlowError("the source broke mid-stream")

    return register_io_source(source, schema=good.schema)


@pytest.mark.parametrize("mode", ["replace", "append", "merge"])
def test_a_source_failing_mid_stream_leaves_the_target_unchanged(db: Db, mode: str) -> None:
    db.write(ORDERS, "orders", mode="merge", key=("id",))
    before = _state(db)
    with pytest.raises(FlowError, match="broke mid-stream"):
        db.write(_breaking_source(LATER.with_columns(id=pl.col("id") + 10)), "orders", mode=mode, key=("id",))
    assert_frame_equal(_state(db), before)
    no_staging_left(db)


def test_a_value_the_database_refuses_rolls_back_and_names_the_target(sqlite_db: Db) -> None:
    sqlite_db.write(ORDERS, "orders")
    too_big = pl.DataFrame({"id": pl.Series([1, 2**64 - 1], dtype=pl.UInt64)})
    with pytest.raises(DatabaseError, match="could not write orders in data/test.sqlite"):
        sqlite_db.write(too_big, "orders", batch_size=1)
    assert_frame_equal(_state(sqlite_db), ORDERS)


def test_a_cancelled_run_leaves_the_target_unchanged(db: Db) -> None:
    db.write(ORDERS, "orders")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        db.write(LATER, "orders", cancel=cancel)
    assert_frame_equal(_state(db), ORDERS)


def test_state_written_before_commit_moves_with_the_data(db: Db) -> None:
    seen: list[int] = []

    def on_commit(rows: int) -> None:
        seen.append(rows)
        raise FlowError("the journal is full")

    db.write(ORDERS, "orders")
    with pytest.raises(FlowError, match="journal is full"):
        db.write(LATER, "orders", mode="append", on_commit=on_commit)
    assert seen == [2]
    assert_frame_equal(_state(db), ORDERS)


# --- names are always quoted ---------------------------------------------------------------------

ODD_TABLE = 'we"ird; DROP TABLE orders; --'
ODD_FRAME = pl.DataFrame({'Ke"y': [1, 2], "Two Words": ["a", "b"], "select": [True, False]})


def test_names_with_quotes_spaces_capitals_and_sql_are_handled_as_names(db: Db) -> None:
    db.write(ORDERS, "orders")
    target = quote(ODD_TABLE)  # the quoted form names the table whatever it holds
    db.write(ODD_FRAME, target, mode="merge", key=('Ke"y',))
    db.write(ODD_FRAME.with_columns(pl.lit("c").alias("Two Words")), target, mode="merge", key=('Ke"y',))
    db.write(ODD_FRAME.with_columns(pl.col('Ke"y') + 2, pl.lit(1).alias("New; Col")), target, mode="append")
    back = db.read(target)
    assert back.columns == ['Ke"y', "Two Words", "select", "New; Col"]
    assert back.height == 4 and sorted(back["Two Words"].to_list()) == ["a", "b", "c", "c"]
    assert db.read("orders").height == 3  # still there
    assert ODD_TABLE in db.tables()


def test_an_unquoted_odd_name_is_one_table_name_too(db: Db) -> None:
    db.write(ODD_FRAME, ODD_TABLE)
    assert db.read(ODD_TABLE).height == 2


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_schemas_are_created_and_quoted(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    db: Db = request.getfixturevalue(f"{kind}_db")
    schema = f'"{db.schema or "main"} Extra ""Q"""'
    target = f'{schema}."Ta.ble"'
    try:
        db.store().write(ORDERS.lazy(), WriteRequest(flow="t", target=target))
        assert db.home().read(ReadRequest(flow="t", source=target)).collect().height == 3
    finally:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_flows_writing_into_one_new_schema_at_once_all_succeed(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Each created the schema in its own transaction: all but the first failed on a duplicate or a conflict.
    db: Db = request.getfixturevalue(f"{kind}_db")
    schema = f"{db.schema or 'main'}_race"
    store = db.store()

    def write(name: str) -> int:
        return store.write(ORDERS.lazy(), WriteRequest(flow=name, target=f"{schema}.{name}")).rows

    try:
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(write, ["a", "b", "c", "d"])) == [3] * 4
    finally:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# --- reading -------------------------------------------------------------------------------------


def test_a_query_is_read_with_its_columns_types(db: Db) -> None:
    db.write(ORDERS, "orders")
    back = db.query(f"SELECT status, count(*) AS n, sum(amount) AS total FROM {db.sql_name('orders')} GROUP BY status;")
    assert_frame_equal(
        back.sort("status"),
        pl.DataFrame({"status": ["new", "paid"], "n": [1, 2], "total": [20.0, 17.75]}),
        check_dtypes=False,
    )
    assert back.schema["status"] == pl.String and back.schema["n"].is_integer()


def test_reading_in_small_batches_with_projection_filter_and_limit(db: Db) -> None:
    frame = pl.DataFrame({"id": range(50), "v": [None] * 20 + [f"v{i}" for i in range(30)]})
    db.write(frame, "many")
    home = db.home()
    lazy = home.read(ReadRequest(flow="t", source=db.name("many"), batch_size=7))
    assert lazy.collect().height == 50
    assert lazy.select(pl.len()).collect().item() == 50
    assert lazy.filter(pl.col("id") >= 45).select("v").collect()["v"].to_list() == [f"v{i}" for i in range(25, 30)]
    assert lazy.head(9).collect().height == 9
    assert lazy.select("v").collect()["v"].null_count() == 20


def test_incremental_reads_only_rows_past_the_watermark(db: Db) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "at": [dt.datetime(2025, 1, d) for d in (1, 2, 3)]})
    db.write(frame, "events", mode="merge", key=("id",))
    store = db.store()
    watermark = store.max_value(db.name("events"), "at")
    assert watermark == dt.datetime(2025, 1, 3)
    assert store.max_value(db.name("nothing_here"), "at") is None
    later = ReadRequest(flow="t", source=db.name("events"), incremental=Incremental("at", dt.datetime(2025, 1, 2)))
    assert db.home().read(later).collect()["id"].to_list() == [3]
    with pytest.raises(FlowError, match="no column 'nope'"):
        store.max_value(db.name("events"), "nope")


def test_a_missing_table_names_the_tables_there(db: Db) -> None:
    db.write(ORDERS, "orders")
    with pytest.raises(FlowError, match="does not exist") as caught:
        db.read("orderz")
    assert "Did you mean 'orders'?" in str(caught.value)


def test_sqlite_reads_declared_types_of_a_file_made_by_others(sqlite_db: Db) -> None:
    # Values stored by their own class, nulls first: what the driver's type inference gets wrong by itself.
    sqlite_db.execute(
        "CREATE TABLE legacy (id INTEGER PRIMARY KEY, at DATETIME, day DATE, ok BOOLEAN, price DECIMAL(8,2), "
        "note VARCHAR(20), raw BLOB, score REAL, anything)"
    )
    sqlite_db.execute(
        "INSERT INTO legacy VALUES (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(2, '2025-11-01 08:26:00', '2025-11-01', 1, 29.5, 'x', X'00ff', 3, 'text'), "
        "(3, '2025-11-01T08:26:00.123456', '2025-11-02', 0, '0.29', 42, NULL, 1.5, 7)"
    )
    back = sqlite_db.read("legacy", sort="id", batch_size=1)
    assert back.schema == pl.Schema(
        {
            "id": pl.Int64,
            "at": pl.Datetime("us"),
            "day": pl.Date,
            "ok": pl.Boolean,
            "price": pl.Decimal(8, 2),
            "note": pl.String,
            "raw": pl.Binary,
            "score": pl.Float64,
            "anything": pl.String,
        }
    )
    assert back.row(1) == (
        2,
        dt.datetime(2025, 11, 1, 8, 26),
        dt.date(2025, 11, 1),
        True,
        decimal.Decimal("29.50"),
        "x",
        b"\x00\xff",
        3.0,
        "text",
    )
    assert back.row(2)[1] == dt.datetime(2025, 11, 1, 8, 26, 0, 123456)
    assert back.row(2)[4] == decimal.Decimal("0.29") and back.row(2)[5] == "42"


def test_sqlite_stores_dates_and_timestamps_as_the_text_the_driver_itself_writes(sqlite_db: Db) -> None:
    # hygge formats them in Polars before the insert; files written before (by the driver) must read the same.
    import adbc_driver_sqlite.dbapi as dbapi

    moments = [
        dt.datetime(2020, 1, 1, 1, 2, 3, 456789),
        dt.datetime(1969, 12, 31, 23, 59, 59, 1),
        dt.datetime(1900, 2, 28),
        dt.datetime(2262, 4, 11, 23, 47, 16, 854775),
        None,
    ]
    at = pl.Series(moments, dtype=pl.Datetime("us"))
    frame = pl.DataFrame(
        {
            **{f"at_{unit}": at.dt.cast_time_unit(unit) for unit in ("ms", "us", "ns")},
            "at_utc": at.dt.replace_time_zone("UTC"),
            "day": pl.Series(
                [dt.date(2020, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1969, 12, 31), None]
            ),
        }
    )
    sqlite_db.write(frame, "ours")
    with dbapi.connect(str(sqlite_db.database.files()[0]), autocommit=True) as conn, conn.cursor() as cursor:
        cursor.adbc_ingest("theirs", frame.to_arrow(), mode="create")
    columns = ", ".join(frame.columns)
    assert sqlite_db.rows(f"SELECT {columns} FROM ours") == sqlite_db.rows(f"SELECT {columns} FROM theirs")
    assert sqlite_db.rows("SELECT at_us FROM ours LIMIT 1") == [("2020-01-01T01:02:03.456789",)]
    assert_frame_equal(sqlite_db.read("ours"), frame)


def test_sqlite_stores_decimals_as_the_numbers_their_text_would_become(sqlite_db: Db) -> None:
    # hygge binds decimals of up to 15 digits as doubles; SQLite made the same number (or integer) of their text.
    values = ["0", "0.29", "-0.01", "12.50", "1.00", "99999999.99", "-99999999.99", "0.07", "1234567.89", None]
    frame = pl.DataFrame({"price": pl.Series(values).cast(pl.Decimal(10, 2))})
    sqlite_db.write(frame, "ours")
    sqlite_db.execute("CREATE TABLE theirs (price DECIMAL(10,2))")
    for value in values:
        sqlite_db.execute(f"INSERT INTO theirs VALUES ({'NULL' if value is None else repr(value)})")
    stored = "SELECT price, typeof(price) FROM {} ORDER BY rowid"
    assert sqlite_db.rows(stored.format("ours")) == sqlite_db.rows(stored.format("theirs"))
    assert_frame_equal(sqlite_db.read("ours"), frame)


# Values near each fixed-width timestamp shape: other widths, separators, zones, out-of-range fields.
ODD_MOMENTS = [
    "2024-01-01 12:00:00.123456",
    "2024-01-01T12:00:00.123456",
    "2024-01-01 12:00:00.123",
    "2024-01-01 12:00:00.123456789",
    "2024-01-01 12:00:00",
    "2024-01-01 12:00",
    "2024-01-01",
    "2024-01-01 12:00:00.12345",
    "2024-01-01 12:00:00.1234567",
    "2024-01-01 12:00:00.09",
    "2024-01-01 12:00:00.000000+02:00",
    "2024-01-01 12:00:00+0200",
    "2024-01-01 12:00:00.000000Z",
    "2024-01-01 12:00:00,000000",
    "2024/01/01 12:00:00.000000",
    "2024-01-01x12:00:00.000000",
    "2024-01-01 12-00-00.000000",
    "2024-01-01 12:00:00.00000a",
    "2024-01-01 12:00:00.-12345",
    "2024-01-01 12:00:00.000000 ",
    " 2024-01-01 12:00:00.000000",
    "2024-02-30 12:00:00.000000",
    "2024-13-01 12:00:00.000000",
    "2024-01-01 24:00:00.000000",
    "2024-01-01 12:60:00.000000",
    "2024-01-01 23:59:60.000000",
    "1969-12-31 23:59:59.999999",
    "0001-01-01 00:00:00.000000",
    "9999-12-31T23:59:59.999999",
]


def _every_format(column: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    """Each value as the first of the variable-width formats that reads it: what hygge reads a value as."""
    from hygge.connectors.sqlread import _formats, _parse_as

    return pl.coalesce([_parse_as(column, dtype, fmt) for fmt in _formats(dtype)])


@pytest.mark.parametrize("dtype", [pl.Datetime(u, z) for u in ("ms", "us", "ns") for z in (None, "UTC")], ids=str)
def test_fixed_width_timestamp_formats_read_only_what_every_format_reads_the_same(dtype: pl.Datetime) -> None:
    # hygge parses with a fixed-width format where the first value has one (several times faster); a value it
    # reads must read the same as with every format, or speed would cost a value (those it cannot read are
    # parsed again with every format).
    from hygge.connectors.sqlread import _FIXED_FORMATS, _parse_as

    # Behind a run of ordinary values, as in a batch.
    text = pl.DataFrame({"at": ["2024-05-05 01:02:03.456789"] * 20 + ODD_MOMENTS})
    every = text.select(_every_format(pl.col("at"), dtype)).to_series().to_physical()
    read_by_some = set()
    for fmt in _FIXED_FORMATS:
        fixed = text.select(_parse_as(pl.col("at"), dtype, fmt)).to_series().to_physical()
        for value, got, want in zip(text["at"], fixed, every, strict=True):
            if got is not None:
                assert got == want, f"{value!r} as {fmt}"
                read_by_some.add(value)
    assert {m for m in ODD_MOMENTS[:5]} <= read_by_some  # the shapes they are for


@pytest.mark.parametrize("dtype", [pl.Datetime("us"), pl.Datetime("ns", "UTC")], ids=str)
def test_values_a_format_missed_read_as_the_first_other_format_that_reads_them(dtype: pl.Datetime) -> None:
    # The formats are tried one after another on what is still missing, not all at once on every missed value;
    # each value must still read as it would with every format at once, in its own row.
    from hygge.connectors.sqlread import _FIXED_FORMATS, _formats, _parse_as, _parse_missed

    shapes = [*ODD_MOMENTS, "2024-03-04 05:06", "2024-03-04", "2024-03-04T05:06:07.5", "2024-03-04 05:06+02:00"]
    shapes += ["2024-03-04 05:06:07.25-01:30", "2024-03-04T05:06:07Z", None, "no date"]
    text = pl.Series("at", [v for i, shape in enumerate(shapes) for v in (f"2024-05-05T01:02:03.{i:06}", shape)])
    for first in (_FIXED_FORMATS[0], _formats(dtype)[-1]):
        parsed = pl.select(_parse_as(pl.lit(text), dtype, first)).to_series()
        got = _parse_missed(text, parsed, dtype)
        want = pl.select(pl.coalesce(_parse_as(pl.lit(text), dtype, first), _every_format(pl.lit(text), dtype)))
        assert got.to_physical().to_list() == want.to_series().to_physical().to_list(), first
        utc = dtype.time_zone is not None
        zoned = [
            dt.datetime(2024, 3, 4, 3, 6),
            dt.datetime(2024, 3, 4, 6, 36, 7, 250000),
            dt.datetime(2024, 3, 4, 5, 6, 7),
        ]
        assert got.dt.replace_time_zone(None).to_list()[-15::2] == [
            dt.datetime(2024, 3, 4, 5, 6),
            dt.datetime(2024, 3, 4),
            dt.datetime(2024, 3, 4, 5, 6, 7, 500000),
            *(zoned if utc else [None] * 3),
            None,
            None,
        ]
        assert got.filter(parsed.is_not_null()).to_list() == parsed.drop_nulls().to_list()  # kept as read


def test_a_column_whose_first_values_are_null_still_takes_a_fixed_format() -> None:
    # A timestamp column that is null in the first batch chooses its format from the first batch with values.
    from hygge.connectors.sqldatabase import Column
    from hygge.connectors.sqlread import _FIXED_FORMATS, _Converter

    convert = _Converter([Column("at", "TIMESTAMP", pl.Datetime("us"))])
    empty = convert(pl.DataFrame({"at": [None, None]}, schema={"at": pl.String}))
    assert empty["at"].dtype == pl.Datetime("us") and convert.formats == {}
    later = convert(pl.DataFrame({"at": ["2024-01-01T10:00:00.000001", None]}))
    assert later["at"].to_list() == [dt.datetime(2024, 1, 1, 10, 0, 0, 1), None]
    assert convert.formats == {"at": _FIXED_FORMATS[0]}
    odd = convert(pl.DataFrame({"at": ["2024-01-02 03:04", "2024-01-02T03:04:05.000006"]}))
    assert odd["at"].to_list() == [dt.datetime(2024, 1, 2, 3, 4), dt.datetime(2024, 1, 2, 3, 4, 5, 6)]


def test_sqlite_timestamps_of_another_shape_later_in_a_column_read_exactly(sqlite_db: Db) -> None:
    # The first batch picks a fixed-width format; later rows written another way, among rows it reads, must read
    # as what they say ('...:00.09' is 90 ms, not 9 us), never as null, and each in its own row.
    sqlite_db.execute("CREATE TABLE mixed (id INTEGER, at TIMESTAMP)")
    written = ["2025-01-01T10:00:00.123456", "2025-01-01T10:00:00.500000", "2025-01-01T11:00:00.000001"]
    written += ["2025-01-02 11:30:00.09", "2025-01-04T05:06:07.123456", "2025-01-03"]
    written += [None, "2025-01-05T05:06:07", "2025-01-06 05:06:07.1234567"]
    values = ", ".join(f"({i}, {'NULL' if v is None else repr(v)})" for i, v in enumerate(written))
    sqlite_db.execute(f"INSERT INTO mixed VALUES {values}")
    got = sqlite_db.read("mixed", sort="id", batch_size=3)
    assert got["at"].to_list() == [
        dt.datetime(2025, 1, 1, 10, 0, 0, 123456),
        dt.datetime(2025, 1, 1, 10, 0, 0, 500000),
        dt.datetime(2025, 1, 1, 11, 0, 0, 1),
        dt.datetime(2025, 1, 2, 11, 30, 0, 90000),
        dt.datetime(2025, 1, 4, 5, 6, 7, 123456),
        dt.datetime(2025, 1, 3),
        None,
        dt.datetime(2025, 1, 5, 5, 6, 7),
        dt.datetime(2025, 1, 6, 5, 6, 7, 123456),
    ]


def test_the_format_chosen_reads_all_of_the_first_values() -> None:
    # One whole second without a fraction among the first values (Python's isoformat) takes the flexible format.
    from hygge.connectors.sqlread import _likely_format

    fractions = [f"2024-01-01T10:00:{i % 60:02}.{i:06}" for i in range(1, 150)]
    assert _likely_format(pl.Series(fractions), pl.Datetime("us")) == "%Y-%m-%dT%H:%M:%S.%6f"
    assert _likely_format(pl.Series([None, *fractions]), pl.Datetime("us")) == "%Y-%m-%dT%H:%M:%S.%6f"
    mixed = [*fractions[:50], "2024-01-01T10:00:00", *fractions[50:]]
    assert _likely_format(pl.Series(mixed), pl.Datetime("us")) == "%Y-%m-%d %H:%M:%S%.f"
    assert _likely_format(pl.Series(["2024-01-01 10:00:00+02:00"]), pl.Datetime("us", "UTC")) == (
        "%Y-%m-%d %H:%M:%S%.f%#z"
    )


def test_sqlite_timestamps_written_by_python_read_exactly(sqlite_db: Db) -> None:
    # Python's sqlite3 writes datetimes as isoformat(" "), which leaves out the fraction of a whole second: such
    # values after the first ones are read again on their own, the rest of their batch as it was.
    moments = [
        dt.datetime(2025, 1, 1) + dt.timedelta(seconds=i, microseconds=1 + (i * 7919) % 999_999) for i in range(300)
    ]
    moments[150] = moments[150].replace(microsecond=0)
    moments[299] = moments[299].replace(microsecond=0)
    path = sqlite_db.root / "data" / "test.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE made_by_python (id INTEGER, at TIMESTAMP)")
        connection.executemany(
            "INSERT INTO made_by_python VALUES (?, ?)", [(i, m.isoformat(" ")) for i, m in enumerate(moments)]
        )
    assert sqlite_db.rows("SELECT at FROM made_by_python WHERE id = 150") == [("2025-01-01 00:02:30",)]
    got = sqlite_db.read("made_by_python", sort="id", batch_size=200)
    assert got["at"].to_list() == moments


def test_sqlite_says_which_value_is_not_of_its_declared_type(sqlite_db: Db) -> None:
    sqlite_db.execute("CREATE TABLE bad (at TIMESTAMP)")
    sqlite_db.execute("INSERT INTO bad VALUES ('2025-11-01'), ('next tuesday')")
    with pytest.raises(FlowError, match="'next tuesday', which is not a Datetime"):
        sqlite_db.read("bad")


def test_sqlite_nanosecond_timestamps_outside_their_years_are_an_error_not_another_date(sqlite_db: Db) -> None:
    # Polars reads year 1 as nanoseconds as a day in 1754; the edges of the range and a zone that moves the year
    # still read.
    sqlite_db.execute("CREATE TABLE moments (id INTEGER, at TIMESTAMP_NS, utc TIMESTAMPTZ_NS)")
    sqlite_db.execute(
        "INSERT INTO moments VALUES (1, '1677-09-22T00:00:00.000000001', '2261-12-31 23:30:00-02:00'),"
        " (2, '2262-04-11T00:00:00.000000000', ' 1999-12-31 23:00:00.5-01:00')"
    )
    got = sqlite_db.read("moments", sort="id")
    assert got["at"].to_list() == [dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 11)]
    assert got["utc"].dt.replace_time_zone(None).to_list() == [
        dt.datetime(2262, 1, 1, 1, 30),
        dt.datetime(2000, 1, 1, 0, 0, 0, 500000),
    ]
    sqlite_db.execute("INSERT INTO moments VALUES (3, '0001-01-01T00:00:00.000000000', NULL)")
    with pytest.raises(FlowError, match=r"'0001-01-01T00:00:00.000000000', outside the years a Datetime\(ns\)"):
        sqlite_db.read("moments")


def test_postgres_types_it_cannot_move_natively_pass_as_text(postgres_db: Db) -> None:
    table = postgres_db.sql_name("special")
    postgres_db.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, doc jsonb, price numeric(6,2), total numeric)")
    postgres_db.execute(
        f"INSERT INTO {table} VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{\"a\": 1}}', 1.5, 1234.56789)"
    )
    back = postgres_db.read("special")
    assert back.schema == pl.Schema(
        {"id": pl.String, "doc": pl.String, "price": pl.Decimal(6, 2), "total": pl.Decimal(38, 9)}
    )
    assert back.row(0) == (
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        '{"a": 1}',
        decimal.Decimal("1.50"),
        decimal.Decimal("1234.567890000"),
    )
    again = pl.DataFrame(
        {"id": ["b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], "doc": ['{"b": [2]}'], "price": [decimal.Decimal("2.25")]}
    ).with_columns(pl.col("price").cast(pl.Decimal(6, 2)), total=pl.lit(None, pl.Decimal(38, 9)))
    postgres_db.write(again, "special", mode="merge", key=("id",))
    assert postgres_db.rows(f"SELECT doc->'b'->>0 FROM {table} WHERE price = 2.25") == [("2",)]


def test_postgres_keeps_structs_as_jsonb(postgres_db: Db) -> None:
    frame = pl.DataFrame({"id": [1], "doc": [{"a": 1, "b": "x"}]})
    postgres_db.write(frame, "docs")
    assert postgres_db.rows(f"SELECT doc->>'b', jsonb_typeof(doc) FROM {postgres_db.sql_name('docs')}") == [
        ("x", "object")
    ]


# --- locations, checks, drivers ----------------------------------------------------------------


def test_a_home_and_a_store_on_one_table_share_a_location(db: Db, tmp_path: Path) -> None:
    home, store = db.home(), db.store()
    assert home.location(db.name("orders")) == store.location(db.name("orders"))
    if db.kind == "postgres":
        assert home.location(db.name("Orders")) != store.location(db.name("orders"))  # quoted names keep case
        assert store.location("orders") == store.location("public.orders") == home.location('"public"."orders"')
    else:
        assert home.location("orders") == store.location("main.ORDERS") == store.location('"main"."Orders"')
        absolute = Db(db.kind, Path("/"), {"path": str(tmp_path / db.settings["path"])})
        assert absolute.store().location("orders") == home.location("orders")


def test_watch_mode_knows_the_files_of_an_embedded_database(db: Db) -> None:
    files = db.store().output_paths("orders")
    assert files == db.home().watch_paths("orders")
    if db.kind == "postgres":
        assert files == []
    else:
        assert files[0] == (db.root / db.settings["path"]).resolve() and len(files) > 1


def test_postgres_locations_name_host_port_and_database_never_the_password() -> None:
    connector = get_connector("postgres")

    def location(**settings: object) -> str:
        model = connector.settings_model.model_validate({"type": "postgres", **settings})
        return connector.store("pg", model, Path()).location("orders")

    by_url = location(url="postgresql://bob:s3cret@DB.example:5432/shop")
    by_parts = location(host="db.example", user="bob", password="s3cret", database="shop")
    assert by_url == by_parts == 'postgres://db.example:5432/shop/"public"."orders"'


def test_postgres_settings_need_a_url_or_host_and_database() -> None:
    model = get_connector("postgres").settings_model
    with pytest.raises(ValueError, match="either url or host"):
        model.model_validate({"type": "postgres", "url": "postgresql://x/y", "host": "h"})
    with pytest.raises(ValueError, match="set url"):
        model.model_validate({"type": "postgres", "user": "u"})


def test_check_opens_the_database(db: Db) -> None:
    db.store().check()  # a store's database file need not exist yet
    if db.kind != "postgres":
        with pytest.raises(FlowError, match="does not exist"):
            db.home().check()
    db.write(ORDERS, "orders")
    db.home().check()


def test_check_of_an_unreachable_postgres_fails_without_the_password() -> None:
    connector = get_connector("postgres")
    model = connector.settings_model.model_validate(
        {"type": "postgres", "host": "127.0.0.1", "port": 1, "user": "u", "password": "hunter2secret", "database": "d"}
    )
    with pytest.raises(DatabaseError) as caught:
        connector.home("pg", model, Path()).check()
    assert caught.value.retryable
    assert "hunter2secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "module", "extra"),
    [
        ("sqlite", "adbc_driver_sqlite", "sqlite"),
        ("duckdb", "duckdb", "duckdb"),
        ("postgres", "adbc_driver_postgresql", "postgres"),
    ],
)
def test_a_missing_driver_says_what_to_install(
    kind: str, module: str, extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, module, None)
    settings = {"url": POSTGRES_URL} if kind == "postgres" else {"path": "x.db"}
    db = Db(kind, tmp_path, settings)
    with pytest.raises(MissingDriverError) as caught:
        db.write(ORDERS, "orders")
    assert f'pip install "hygge[{extra}]"' in str(caught.value)


def test_importing_hygge_and_its_connectors_imports_no_driver() -> None:
    code = (
        "import sys, hygge, hygge.connectors.sqlite, hygge.connectors.duckdb, hygge.connectors.postgres\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('duckdb', 'adbc_driver_manager', "
        "'adbc_driver_sqlite', 'adbc_driver_postgresql', 'pyarrow')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _read_while_a_row_arrives(db: Db, table: str) -> pl.DataFrame:
    """All of `table` read in batches, with a row (id 99999) committed after the first batch arrived."""
    lazy = db.home().read(ReadRequest(flow="t", source=db.name(table), batch_size=1000))
    batches = lazy.collect_batches(chunk_size=1000)
    first = next(batches)
    db.execute(f"INSERT INTO {db.sql_name(table)} VALUES (99999, 'late')")
    return pl.concat([first, *batches])


def test_a_large_postgres_table_is_read_in_page_ranges_in_one_snapshot(
    postgres_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row exactly once across the ranges, and rows committed mid-read are not seen (one snapshot)."""
    import hygge.connectors.postgres as postgres

    monkeypatch.setattr(postgres, "MIN_PARALLEL_PAGES", 2)
    frame = pl.DataFrame({"id": range(20_000), "v": [f"value {i:>40}" for i in range(20_000)]})
    postgres_db.write(frame, "big")
    database = postgres_db.database
    assert isinstance(database, postgres.PostgresDatabase)
    with database.connect(create=False) as session:
        ranges = database._page_ranges(session, database.table(postgres_db.name("big")))
    assert ranges is not None and len(ranges) == PARALLEL_READS

    rest = _read_while_a_row_arrives(postgres_db, "big")
    assert sorted(rest["id"].to_list()) == list(range(20_000))
    assert postgres_db.read("big").height == 20_001


def test_a_large_sqlite_table_is_read_in_rowid_ranges_in_one_snapshot(
    sqlite_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row exactly once across the ranges, and rows committed mid-read are not seen (one snapshot)."""
    import hygge.connectors.sqlite as sqlite

    monkeypatch.setattr(sqlite, "MIN_PARALLEL_ROWS", 2)
    frame = pl.DataFrame({"id": range(20_000), "v": [f"value {i}" for i in range(20_000)]})
    sqlite_db.write(frame, "big")
    sqlite_db.execute("DELETE FROM big WHERE id % 7 = 3")  # rowids with gaps
    kept = frame.filter(pl.col("id") % 7 != 3)
    database = sqlite_db.database
    with database.connect(create=False) as session:
        parts = database.parts(session, database.table("big"))
        assert parts is not None and len(parts.conditions) == PARALLEL_READS
        session.execute("ROLLBACK")

    # the late row commits at once: WAL lets it
    assert_frame_equal(_read_while_a_row_arrives(sqlite_db, "big").sort("id"), kept)
    assert sqlite_db.read("big").height == kept.height + 1


def test_sqlite_reads_in_one_query_while_another_connection_writes(
    sqlite_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts need a moment with no writer to begin in one state; a reader does not wait for one."""
    import hygge.connectors.sqlite as sqlite

    monkeypatch.setattr(sqlite, "MIN_PARALLEL_ROWS", 2)
    sqlite_db.write(ORDERS, "orders")
    database = sqlite_db.database
    with database.connect(create=False) as writer, database.connect(create=False) as session:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO orders VALUES (4, 1.0, 'uncommitted')")
        assert database.parts(session, database.table("orders")) is None
        assert_frame_equal(sqlite_db.read("orders", sort="id"), ORDERS)


@pytest.mark.parametrize(
    "statements",
    [
        ["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID", "INSERT INTO t VALUES (1, 'a'), (2, 'b')"],
        [
            "CREATE TABLE base (x INTEGER)",
            "INSERT INTO base VALUES (1), (2)",
            "CREATE VIEW t AS SELECT x AS id FROM base",
        ],
        [
            "CREATE TABLE t (rowid INTEGER, _rowid_ INTEGER, oid INTEGER, id INTEGER)",
            "INSERT INTO t (id) VALUES (1), (2)",
        ],
    ],
    ids=["without-rowid", "view", "rowid-hidden"],
)
def test_sqlite_tables_without_a_reachable_rowid_are_read_in_one_query(
    sqlite_db: Db, monkeypatch: pytest.MonkeyPatch, statements: list[str]
) -> None:
    import hygge.connectors.sqlite as sqlite

    monkeypatch.setattr(sqlite, "MIN_PARALLEL_ROWS", 0)
    for statement in statements:
        sqlite_db.execute(statement)
    database = sqlite_db.database
    with database.connect(create=False) as session:
        assert database.parts(session, database.table("t")) is None
    assert sqlite_db.read("t", sort="id")["id"].to_list() == [1, 2]


def test_a_sqlite_table_with_a_column_named_rowid_is_split_on_its_real_rowid(
    sqlite_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hygge.connectors.sqlite as sqlite

    monkeypatch.setattr(sqlite, "MIN_PARALLEL_ROWS", 2)
    sqlite_db.execute("CREATE TABLE t (rowid TEXT, id INTEGER)")
    sqlite_db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
        "INSERT INTO t SELECT 'r' || i, i FROM n"
    )
    database = sqlite_db.database
    with database.connect(create=False) as session:
        parts = database.parts(session, database.table("t"))
        assert parts is not None and all("_rowid_" in condition for condition in parts.conditions)
        session.execute("ROLLBACK")
    assert sorted(sqlite_db.read("t")["id"].to_list()) == list(range(1, 5001))


def test_merge_keeps_the_last_duplicate_across_batches(db: Db) -> None:
    """Each batch is reshaped on its own (feed.Shaped), so the row numbers that pick the last row per key must
    carry on from one batch to the next."""
    db.write(pl.DataFrame({"id": [1, 2], "v": ["old", "old"]}), "t", mode="merge", key=["id"])
    incoming = pl.DataFrame({"id": [1, 2, 3, 1, 2, 1, 3], "v": ["a", "b", "c", "d", "e", "last1", "last3"]})
    db.write(incoming, "t", mode="merge", key=["id"], batch_size=2)
    assert db.read("t", sort="id").to_dicts() == [
        {"id": 1, "v": "last1"},
        {"id": 2, "v": "e"},
        {"id": 3, "v": "last3"},
    ]


@pytest.mark.parametrize(("setting", "mode"), [(None, "wal"), ("wal", "wal"), ("delete", "delete")])
def test_a_new_sqlite_file_gets_the_journal_mode_asked_for_and_large_pages(
    tmp_path: Path, setting: str | None, mode: str
) -> None:
    settings = {"path": "data/new.sqlite", **({"journal_mode": setting} if setting else {})}
    db = Db("sqlite", tmp_path, settings)
    db.write(ORDERS, "orders")
    assert db.rows("PRAGMA journal_mode") == [(mode,)]
    assert db.rows("PRAGMA page_size") == [(16_384,)]
    assert db.read("orders", sort="id").height == ORDERS.height


def test_an_existing_sqlite_file_keeps_its_journal_mode_and_page_size(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "theirs.sqlite") as conn:
        conn.execute("CREATE TABLE other (x INTEGER)")
    db = Db("sqlite", tmp_path, {"path": "data/theirs.sqlite", "journal_mode": "wal"})
    db.write(ORDERS, "orders")
    assert db.rows("PRAGMA journal_mode") == [("delete",)]
    assert db.rows("PRAGMA page_size") == [(4096,)]


def test_an_unknown_sqlite_journal_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="journal_mode"):
        Db("sqlite", tmp_path, {"path": "x.sqlite", "journal_mode": "memory"}).store()


@pytest.mark.parametrize(("setting", "read", "write"), [(None, "30.5 MiB", "61.0 MiB"), ("1GB", "953.6 MiB", None)])
def test_duckdb_reads_with_a_smaller_memory_limit_than_it_writes_unless_told(
    tmp_path: Path, setting: str | None, read: str, write: str | None
) -> None:
    db = Db("duckdb", tmp_path, {"path": "data/test.duckdb", **({"memory_limit": setting} if setting else {})})
    with db.database.connect(create=True) as session:
        assert session.rows("SELECT current_setting('memory_limit')") == [(write or read,)]
    with db.database.connect(create=False) as session:
        assert session.rows("SELECT current_setting('memory_limit')") == [(read,)]


# Slow: large data, a million rows (about 2 s) to need the memory the key's index takes. The fast suite keeps the
# same merge path (test_merge_upserts_by_key_and_the_last_duplicate_wins[duckdb]) and the limits each connection
# sets (test_duckdb_reads_with_a_smaller_memory_limit_than_it_writes_unless_told).
@pytest.mark.slow
def test_a_duckdb_merge_of_a_million_rows_fits_the_default_memory_limit(duckdb_db: Db) -> None:
    """ON CONFLICT and the key's index are held in memory, which DuckDB cannot spill: 64MB failed here."""
    ids = pl.int_range(0, 1_000_000, eager=True)
    frame = pl.DataFrame({"id": ids, "s": ids.cast(pl.String) + "_payload_xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "v": ids})
    assert duckdb_db.write(frame, "m", mode="merge", key=["id"]) == 1_000_000
    assert duckdb_db.write(frame.head(10).with_columns(v=-1), "m", mode="merge", key=["id"]) == 10
    assert duckdb_db.rows(f"SELECT count(*), count(*) FILTER (v = -1) FROM {duckdb_db.sql_name('m')}") == [
        (1_000_000, 10)
    ]


def test_a_postgres_column_name_over_63_bytes_is_named_with_the_limit(postgres_db: Db) -> None:
    with pytest.raises(FlowError, match=f"column name '{'x' * 70}' is 70 bytes, longer than postgres's 63"):
        postgres_db.write(pl.DataFrame({"x" * 70: [1]}), "long", mode="append")


def test_a_sqlite_target_in_a_schema_says_sqlite_has_none(sqlite_db: Db) -> None:
    with pytest.raises(FlowError, match="a SQLite file has no schema 'sch'") as caught:
        sqlite_db.store().write(ORDERS.lazy(), WriteRequest(flow="t", target="sch.orders"))
    assert "Name the target without 'sch.'" in str(caught.value.hint)
