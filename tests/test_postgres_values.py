"""Values never change on their way out of PostgreSQL or into a database store: one the other side would hold
differently (±infinity dates, a numeric Polars would round, a flattened 2-D array, nanoseconds cut to
microseconds) fails the flow naming the column and the value, with a hint; values that fit move exactly."""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import polars as pl
import pytest
from conftest import build_project
from databases import Db
from polars.testing import assert_frame_equal

from hygge.errors import FlowError

D = decimal.Decimal
Hygge = Callable[..., CompletedProcess[str]]


def _table(db: Db, declared: str, values: list[str]) -> None:
    db.execute(f"CREATE TABLE {db.sql_name('t')} (id integer, v {declared})")
    rows = ", ".join(f"({i}, {value})" for i, value in enumerate(values))
    db.execute(f"INSERT INTO {db.sql_name('t')} VALUES {rows}")


# --- reading from PostgreSQL ----------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 1000])  # in a later batch, or in the first one
@pytest.mark.parametrize(
    ("declared", "value", "shown"),
    [
        ("date", "'infinity'", "'infinity'"),
        ("date", "'-infinity'", "'-infinity'"),
        ("timestamp", "'infinity'", "'infinity'"),
        ("timestamp(3)", "'-infinity'", "'-infinity'"),
        ("timestamptz", "'infinity'", "'infinity'"),
        ("timestamptz", "'-infinity'", "'-infinity'"),
        ("timestamp", "'294250-01-01'", "a timestamp after the year 294246"),
        ("date[]", "'{2020-01-01, infinity}'", "'infinity'"),
        ("timestamptz[]", "'{-infinity}'", "'-infinity'"),
    ],
)
def test_infinite_dates_and_timestamps_are_an_error_naming_column_and_value(
    postgres_db: Db, declared: str, value: str, shown: str, batch_size: int
) -> None:
    # The driver read them as dates thousands of years BC (PostgreSQL's sentinels plus its epoch, wrapped around).
    first = "'{2020-01-01}'" if declared.endswith("[]") else "'2020-01-01'"
    _table(postgres_db, declared, [first, "NULL", value])
    with pytest.raises(FlowError, match=f"column 'v' \\(.*\\) holds {shown}, which") as raised:
        postgres_db.read("t", batch_size=batch_size)
    assert "isfinite" in str(raised.value) or "array_replace" in str(raised.value)


@pytest.mark.parametrize(
    ("declared", "values"),
    [
        ("timestamptz", ["'infinity'", "'2020-01-01 00:00:00+00'", "'-infinity'"]),
        ("date[]", ["'{infinity}'", "'{2020-01-01}'", "'{-infinity}'"]),
    ],
)
def test_the_hint_for_infinity_reads_it_as_null(postgres_db: Db, declared: str, values: list[str]) -> None:
    _table(postgres_db, declared, values)
    with pytest.raises(FlowError) as raised:
        postgres_db.read("t")
    fix = str(raised.value).split("such as ")[1].split(" (null")[0].removesuffix(".")
    got = postgres_db.query(f"SELECT id, {fix} FROM {postgres_db.sql_name('t')}").sort("id")["v"]
    assert (got.explode() if declared.endswith("[]") else got).null_count() == 2


def test_dates_and_timestamps_at_postgres_edges_read_exactly(postgres_db: Db) -> None:
    t = postgres_db.sql_name("t")
    postgres_db.execute(f"CREATE TABLE {t} (id integer, d date, ts timestamp, tz timestamptz)")
    postgres_db.execute(
        f"INSERT INTO {t} VALUES "
        "(0, '4714-11-24 BC', '4714-11-24 00:00:00 BC', '4714-11-24 00:00:00+00 BC'), "
        "(1, '5874897-12-31', '294246-12-31 23:59:59.999999', '1970-01-01 00:00:00.000001+00'), "
        "(2, NULL, NULL, NULL), (3, '2000-01-01', '1999-12-31 23:59:59.999999', '2000-01-01 00:00:00+00')"
    )
    got = postgres_db.read("t", sort="id").select(pl.all().to_physical())
    # What PostgreSQL itself counts: days and microseconds since 1970
    epoch = "(extract(epoch FROM {}) * 1000000)::numeric(30,0)::bigint"
    want = postgres_db.rows(
        f"SELECT d - DATE '1970-01-01', {epoch.format('ts')}, {epoch.format('tz')} FROM {t} ORDER BY id"
    )
    assert got.select("d", "ts", "tz").rows() == want
    assert want[0][0] == -2_440_588 and want[3] == (10_957, 946_684_799_999_999, 946_684_800_000_000)


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize(
    ("declared", "value"),
    [
        ("DATE", "'infinity'"),
        ("DATE", "'-infinity'"),
        ("TIMESTAMP", "'infinity'"),
        ("TIMESTAMP WITH TIME ZONE", "'-infinity'"),
        ("TIMESTAMP_NS", "'infinity'"),
        ("TIMESTAMP_MS", "'-infinity'"),
        ("DATE[]", "['2020-01-01'::DATE, 'infinity'::DATE]"),
    ],
)
def test_duckdb_infinite_dates_and_timestamps_are_an_error_too(
    duckdb_db: Db, declared: str, value: str, batch_size: int
) -> None:
    # DuckDB hands them to Arrow as its largest and smallest number but one: dates in the year 5881580 or 294247.
    first = "['2020-01-01'::DATE]" if declared.endswith("[]") else "'2020-01-01'"
    duckdb_db.execute(f"CREATE TABLE t (id INTEGER, v {declared})")
    duckdb_db.execute(f"INSERT INTO t VALUES (0, {first}), (1, NULL), (2, {value})")
    shown = value.strip("'") if not declared.endswith("[]") else "infinity"
    with pytest.raises(FlowError, match=re.escape(f"column 'v' ({declared}) holds '{shown}', which")) as raised:
        duckdb_db.read("t", batch_size=batch_size)
    assert "isfinite" in str(raised.value)
    fix = str(raised.value).split("such as ")[1].split(" (null")[0].removesuffix(".")
    fixed = duckdb_db.query(f"SELECT id, {fix} FROM t").sort("id")["v"]
    assert (fixed.explode() if declared.endswith("[]") else fixed).null_count() == 2  # the hint's query: null


def test_duckdb_dates_and_timestamps_at_its_edges_read_exactly(duckdb_db: Db) -> None:
    duckdb_db.execute("CREATE TABLE t (id INTEGER, d DATE, ts TIMESTAMP)")
    duckdb_db.execute(
        "INSERT INTO t VALUES (0, '5881580-07-10', '294247-01-10 04:00:54.775806'), "
        "(1, '5877642-06-25 (BC)', '290309-12-22 (BC) 00:00:00'), (2, NULL, NULL)"
    )
    got = duckdb_db.read("t", sort="id").select(pl.all().to_physical())
    want = duckdb_db.rows("SELECT d - DATE '1970-01-01', epoch_us(ts) FROM t ORDER BY id")
    assert got.select("d", "ts").rows() == want
    assert want[0] == (2**31 - 2, 2**63 - 2)


@pytest.mark.parametrize(
    ("dtype", "ticks", "kept"),
    [
        (pl.Datetime("ns"), 2**63 - 1, "as 'infinity'"),
        (pl.Datetime("us", "UTC"), 2**63 - 1, "as 'infinity'"),
        (pl.Datetime("ms"), -(2**63), "as another date"),
        (pl.Date(), 2**31 - 1, "as 'infinity'"),
        (pl.List(pl.Date()), -(2**31) + 1, "as '-infinity'"),
    ],
    ids=str,
)
def test_duckdb_stores_refuse_a_value_it_would_keep_as_infinity(
    duckdb_db: Db, dtype: pl.DataType, ticks: int, kept: str
) -> None:
    # The largest Datetime(ns), 2262-04-11 23:47:16.854775807, read back from DuckDB as 'infinity'.
    inner = dtype.inner if isinstance(dtype, pl.List) else dtype
    values = pl.Series("v", [0, None, ticks], dtype=pl.Int32 if inner == pl.Date else pl.Int64).cast(inner)
    frame = pl.DataFrame({"v": values.reshape((3, 1)).cast(dtype) if isinstance(dtype, pl.List) else values})
    duckdb_db.write(frame.head(2), "out")
    with pytest.raises(
        FlowError, match=f"column 'v' holds the .* {ticks} .* from 1970, which duckdb would keep {kept}"
    ):
        duckdb_db.write(frame, "out", mode="append", batch_size=1)
    assert duckdb_db.rows("SELECT count(*) FROM out") == [(2,)]


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize(
    ("declared", "value", "cast"),
    [
        ("numeric", "1.0123456789012", "numeric(38,13)"),
        ("numeric", "-0.0000000001", "numeric(38,10)"),
        ("numeric", "123456789012345678901234567890", "numeric(38,0)"),
        ("numeric", "1" * 40, "text"),
        ("numeric(50,2)", "1" * 37 + ".00", "numeric(38,0)"),
    ],
)
def test_a_numeric_hygge_would_round_is_an_error_naming_the_value_and_the_cast(
    postgres_db: Db, declared: str, value: str, cast: str, batch_size: int
) -> None:
    # An unconstrained numeric is read as Decimal(38, 9): Polars rounded 1.0123456789012 to 1.012345679.
    _table(postgres_db, declared, ["1.5", "NULL", value])
    with pytest.raises(
        FlowError, match=re.escape(f"column 'v' ({declared}) holds {value}, which Decimal(38, ")
    ) as raised:
        postgres_db.read("t", batch_size=batch_size)
    assert f'CAST("v" AS {cast})' in str(raised.value)
    if cast != "text":  # the cast the hint names reads the value exactly
        got = postgres_db.query(f'SELECT id, CAST("v" AS {cast}) AS "v" FROM {postgres_db.sql_name("t")}')
        assert got.sort("id")["v"].to_list()[2] == D(value)


@pytest.mark.parametrize(
    ("declared", "value"),
    [("numeric", "NaN"), ("numeric", "Infinity"), ("numeric", "-Infinity"), ("numeric(10,2)", "NaN")],
)
def test_numeric_nan_and_infinity_are_an_error_naming_them(postgres_db: Db, declared: str, value: str) -> None:
    _table(postgres_db, declared, ["1.5", f"'{value}'"])
    with pytest.raises(FlowError, match=re.escape(f"column 'v' ({declared}) holds {value}, which")):
        postgres_db.read("t")


def test_numerics_that_fit_read_exactly(postgres_db: Db) -> None:
    big = "99999999999999999999999999999.999999999"  # 29 digits before the point and 9 after: Decimal(38, 9)
    _table(postgres_db, "numeric", ["1.5", "NULL", "2.5000000000000000", "-0.000000001", big, f"-{big}", "0", "10"])
    got = postgres_db.read("t", sort="id")
    assert got.schema["v"] == pl.Decimal(38, 9)
    assert got["v"].to_list() == [D("1.5"), None, D("2.5"), D("-1E-9"), D(big), D(f"-{big}"), D(0), D(10)]
    averaged = postgres_db.query(f'SELECT avg(id) AS "v" FROM {postgres_db.sql_name("t")} WHERE id < 3')
    assert averaged["v"].to_list() == [D(1)]  # 1.00000000000000000000: zeros are not digits lost


def test_a_numeric_wider_than_polars_reads_as_its_widest_decimal(postgres_db: Db) -> None:
    # Polars refused to make a Decimal(50, 2), and the read failed with its traceback.
    _table(postgres_db, "numeric(50,2)", ["1.5", "NULL", "-" + "9" * 36 + ".99"])
    got = postgres_db.read("t", sort="id")
    assert got.schema["v"] == pl.Decimal(38, 2)
    assert got["v"].to_list() == [D("1.50"), None, D("-" + "9" * 36 + ".99")]


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize(
    ("declared", "value"),
    [
        ("integer[]", "'{{1,2},{3,4}}'"),
        ("text[]", "'{{a},{b}}'"),
        ("date[]", "'{{{2020-01-01}}}'"),
    ],
)
def test_an_array_of_two_dimensions_is_an_error_naming_the_column(
    postgres_db: Db, declared: str, value: str, batch_size: int
) -> None:
    # The driver read '{{1,2},{3,4}}' as the list [1, 2, 3, 4].
    _table(postgres_db, declared, ["NULL", "'{}'", value])
    with pytest.raises(FlowError, match=re.escape(f"column 'v' ({declared}) holds an array of ")) as raised:
        postgres_db.read("t", batch_size=batch_size)
    assert 'CAST("v" AS text)' in str(raised.value)


def test_one_dimensional_arrays_read_exactly(postgres_db: Db) -> None:
    _table(postgres_db, "integer[]", ["'{1,2}'", "NULL", "'{}'", "'{NULL,3}'"])
    got = postgres_db.read("t", sort="id")
    assert got.columns == ["id", "v"]
    assert got["v"].to_list() == [[1, 2], None, [], [None, 3]]
    flat = postgres_db.query(f'SELECT "id", CAST("v" AS text) AS "v" FROM {postgres_db.sql_name("t")} WHERE id = 0')
    assert flat["v"].to_list() == ["{1,2}"]


def test_a_postgres_value_that_would_change_fails_its_flow_by_the_command(
    tmp_path: Path, hygge: Hygge, postgres_db: Db
) -> None:
    _table(postgres_db, "date", ["'2020-01-01'", "'infinity'"])
    postgres_db.root = tmp_path / "proj"
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: values\n",
            "homes/pg.yml": postgres_db.yaml(),
            "stores/lake.yml": "type: parquet\npath: data/lake\n",
            "flows/days.yml": f"home: pg\nstore: lake\nsource: {postgres_db.name('t')}\ntarget: days\n",
        },
    )
    result = hygge("run", "--all", cwd=root)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "flow days" in output and "column 'v' (date) holds 'infinity'" in output
    assert "isfinite" in output and "Traceback" not in output
    assert not (root / "data/lake/days.parquet").exists()


# --- writing into database stores ------------------------------------------------------------------


def _nanoseconds(dtype: pl.DataType, ticks: list[int | None]) -> pl.Series:
    if isinstance(dtype, pl.List):
        lists = [None if t is None else [t, None] for t in ticks]
        return pl.Series("v", lists, dtype=pl.List(pl.Int64)).cast(dtype)
    return pl.Series("v", ticks, dtype=pl.Int64).cast(dtype)


# Stores whose column keeps microseconds where Polars has nanoseconds.
MICROSECOND_COLUMNS = [
    ("postgres", pl.Datetime("ns")),
    ("postgres", pl.Datetime("ns", "Europe/Berlin")),
    ("postgres", pl.Time()),
    ("postgres", pl.List(pl.Datetime("ns"))),
    ("duckdb", pl.Datetime("ns", "UTC")),
    ("duckdb", pl.List(pl.Datetime("ns", "UTC"))),
]


@pytest.mark.parametrize(("kind", "dtype"), MICROSECOND_COLUMNS, ids=str)
def test_nanoseconds_a_store_would_cut_to_microseconds_are_an_error(
    request: pytest.FixtureRequest, kind: str, dtype: pl.DataType
) -> None:
    db: Db = request.getfixturevalue(f"{kind}_db")
    whole = pl.DataFrame({"id": [1, 2, 3], "v": _nanoseconds(dtype, [1_000_000_000, None, 5_000])})
    db.write(whole, "out")
    finer = pl.DataFrame({"id": [4, 5, 6], "v": _nanoseconds(dtype, [2_000_000_000, None, 3_000_000_001])})
    for mode in ("replace", "append"):
        with pytest.raises(FlowError, match="column 'v' holds .*03.000000001.*, but .* keeps microseconds") as raised:
            db.write(finer, "out", mode=mode, batch_size=1)
        assert "The target is unchanged" in str(raised.value)
    assert db.rows(f"SELECT count(*) FROM {db.sql_name('out')}") == [(3,)]


@pytest.mark.parametrize(("kind", "dtype"), MICROSECOND_COLUMNS, ids=str)
def test_nanoseconds_of_whole_microseconds_store_exactly(
    request: pytest.FixtureRequest, kind: str, dtype: pl.DataType
) -> None:
    db: Db = request.getfixturevalue(f"{kind}_db")
    frame = pl.DataFrame({"id": [1, 2, 3], "v": _nanoseconds(dtype, [1_000_000_000, None, 86_399_999_999_000])})
    db.write(frame, "out")
    got = db.read("out", sort="id")["v"]
    if isinstance(dtype, pl.List):
        got = got.list.eval(pl.element().dt.cast_time_unit("ns"))
    elif isinstance(dtype, pl.Datetime):
        got = got.dt.cast_time_unit("ns")
    assert got.cast(dtype).to_physical().to_list() == frame["v"].to_physical().to_list()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_stores_that_keep_nanoseconds_keep_them(request: pytest.FixtureRequest, kind: str) -> None:
    db: Db = request.getfixturevalue(f"{kind}_db")
    frame = pl.DataFrame({"v": _nanoseconds(pl.Datetime("ns"), [1_700_000_000_000_000_001, None])})
    frame = frame.with_columns(t=_nanoseconds(pl.Time(), [1, 86_399_999_999_999]))
    db.write(frame, "out")
    assert_frame_equal(db.read("out").sort("t"), frame.sort("t"))  # a table keeps no row order


def test_nanoseconds_into_postgres_fail_their_flow_by_the_command(
    tmp_path: Path, hygge: Hygge, postgres_db: Db
) -> None:
    postgres_db.root = tmp_path / "proj"
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: values\n",
            "homes/lake.yml": "type: parquet\npath: data/lake\n",
            "stores/pg.yml": postgres_db.yaml(),
            "flows/events.yml": f"home: lake\nstore: pg\nsource: events\ntarget: {postgres_db.name('events')}\n",
        },
    )
    (root / "data/lake").mkdir(parents=True)
    at = _nanoseconds(pl.Datetime("ns"), [1_700_000_000_000_000_000, 1_700_000_000_123_456_789]).alias("at")
    pl.DataFrame({"id": [1, 2], "at": at}).write_parquet(root / "data/lake/events.parquet")
    result = hygge("run", "--all", cwd=root)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "flow events" in output and "column 'at' holds 2023-11-14 22:13:20.123456789" in output
    assert "keeps microseconds" in output and "Traceback" not in output
    assert "events" not in postgres_db.tables()
