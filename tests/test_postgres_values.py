"""Values never change on their way out of PostgreSQL or into a database store: one the other side would hold
differently (±infinity dates, a numeric Polars would round, a flattened 2-D array, nanoseconds cut to
microseconds) fails the flow naming the column and the value, with a hint; values that fit move exactly."""

from __future__ import annotations

import decimal
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
    assert_frame_equal(db.read("out"), frame)


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
