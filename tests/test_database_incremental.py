"""Incremental reads from database homes: the window is pushed into the query, and exact for every cursor type."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from databases import Db

from hygge.connectors.base import Incremental
from hygge.connectors.sql import _window

UTC = dt.UTC
CURSORS = {
    "int": pl.Series([1, 2, 3, 4], dtype=pl.Int64),
    "ts_tz": pl.Series([dt.datetime(2025, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)]),
    "ts": pl.Series([dt.datetime(2025, 1, d, 12) for d in (1, 2, 3, 4)]),
    "day": pl.Series([dt.date(2025, 1, d) for d in (1, 2, 3, 4)]),
    "text": pl.Series(["a", "b", "c", "d"]),
}


@pytest.mark.parametrize("cursor", sorted(CURSORS))
def test_rows_past_the_watermark_for_every_cursor_type(db: Db, cursor: str) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "c": CURSORS[cursor]})
    db.write(frame, "events")
    after = db.read("events", sort="id")["c"][1]  # the watermark as a target would report it: the second row's value
    got = db.read("events", sort="id", incremental=Incremental(cursor="c", after=after))
    assert got["id"].to_list() == [3, 4]
    none = db.read("events", incremental=Incremental(cursor="c", after=db.read("events")["c"].max()))
    assert none.height == 0


def test_initial_from_yaml_text_and_lag(db: Db) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "c": CURSORS["ts_tz"]})
    db.write(frame, "events")
    got = db.read("events", sort="id", incremental=Incremental(cursor="c", after="2025-01-02 00:00:00"))
    assert got["id"].to_list() == [3, 4]
    lagged = Incremental(cursor="c", after=dt.datetime(2025, 1, 3, tzinfo=UTC), lag="1d")
    assert db.read("events", sort="id", incremental=lagged)["id"].to_list() == [3, 4]


def test_null_cursors_with_include_reach_the_filter(db: Db) -> None:
    db.write(pl.DataFrame({"id": [1, 2, 3], "c": [1, None, 3]}), "events")
    got = db.read("events", sort="id", incremental=Incremental(cursor="c", after=1, nulls="include"))
    assert got["id"].to_list() == [2, 3]


def test_the_window_is_pushed_into_the_query(db: Db) -> None:
    db.write(pl.DataFrame({"id": [1, 2], "c": [1, 2]}), "events")
    database = db.database
    with database.connect(create=False) as session:
        table = database.table(db.name("events"))
        columns = database.columns(session, table) or []
    relation, params = _window(database, table.sql, columns, Incremental(cursor="c", after=1))
    assert "WHERE" in relation and params == [1]
    first_run, none = _window(database, table.sql, columns, Incremental(cursor="c"))
    assert first_run == table.sql and none == []


def test_sqlite_timestamps_written_in_several_formats_all_read(sqlite_db: Db) -> None:
    import sqlite3

    path = sqlite_db.root / "data" / "test.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE made_elsewhere (id INTEGER, at TIMESTAMP)")
        connection.executemany(
            "INSERT INTO made_elsewhere VALUES (?, ?)",
            [(1, "2025-01-01 10:00:00"), (2, "2025-01-02T11:30"), (3, "2025-01-03"), (4, None)],
        )
    got = sqlite_db.read("made_elsewhere", sort="id")
    assert got["at"].to_list() == [
        dt.datetime(2025, 1, 1, 10),
        dt.datetime(2025, 1, 2, 11, 30),
        dt.datetime(2025, 1, 3),
        None,
    ]


# A text column declared with a collation that orders unlike Polars' bytes ('a' > 'B' there, not here).
COLLATED_TEXT = {
    "sqlite": "TEXT COLLATE NOCASE",
    "duckdb": "VARCHAR COLLATE NOCASE",
    "postgres": 'text COLLATE "und-x-icu"',
}


def _collated_table(db: Db, rows: pl.DataFrame) -> None:
    db.execute(f"CREATE TABLE {db.sql_name('events')} (id bigint, c {COLLATED_TEXT[db.kind]})")
    db.write(rows, "events", mode="append")


def test_the_watermark_of_a_collated_text_cursor_is_the_max_polars_filters_by(db: Db) -> None:
    """max(c) under the column's collation was 'B', and the filter c > 'B' kept 'a' again on every run."""
    _collated_table(db, pl.DataFrame({"id": [1, 2], "c": ["a", "B"]}))
    after = db.store().max_value(db.name("events"), "c")
    assert after == "a"
    assert db.read("events", incremental=Incremental(cursor="c", after=after)).height == 0


def test_a_window_on_a_collated_text_cursor_keeps_every_row_past_it(db: Db) -> None:
    """Pushed down as c > 'bZ' under NOCASE, 'bb' was left out (equal to 'BB' < 'BZ'): rows lost for good."""
    _collated_table(db, pl.DataFrame({"id": [1, 2, 3, 4], "c": ["A", "bZ", "bb", "c"]}))
    got = db.read("events", sort="id", incremental=Incremental(cursor="c", after="bZ"))
    assert got["id"].to_list() == [3, 4]
