"""The watermark of a database target is its largest cursor value as the home's Polars filter orders them, exactly.

SQLite keeps wide decimals and every timestamp as text, and a table another tool wrote may hold timestamps in
several text forms: max() there compares text ('9.50' > '10.10', 'T' > ' ', '11:00+02:00' > '10:00+00:00'), so
rows were appended again or skipped. A text column of any database may hold a number or timestamp cursor too.
Each case runs the real `hygge run` and counts the rows every run moves.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import run_hygge
from databases import Db

Make = Callable[..., Path]
UTC = dt.UTC


def make(project: Make, store: str = "sqlite") -> Path:
    root = project(
        {
            "hygge.yml": "name: marks\ndefaults: {home: src, store: out}\n",
            "homes/src.yml": "type: parquet\npath: data/src\n",
            "stores/out.yml": f"type: {store}\npath: data/out.db\n",
            "flows/events.yml": "incremental: {cursor: c}\n",
        },
        base=False,
    )
    (root / "data" / "src").mkdir(parents=True)
    return root


def source(root: Path, cursor: pl.Series) -> None:
    pl.DataFrame({"id": range(1, cursor.len() + 1), "c": cursor}).write_parquet(root / "data/src/events.parquet")


def moved(root: Path) -> int:
    """Run the flow with the real command; the rows it moved."""
    done = run_hygge("run", "--all", "--log-format", "json", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    (finished,) = [e for e in events if e.get("event") == "flow_finished"]
    return int(finished["rows"])


def target_ids(root: Path) -> list[int]:
    with sqlite3.connect(root / "data/out.db") as connection:
        return [row[0] for row in connection.execute("SELECT id FROM events ORDER BY id")]


def existing_table(root: Path, declared: str, values: list[str]) -> None:
    """A target table another tool made, with the cursor written as it writes it."""
    with sqlite3.connect(root / "data/out.db") as connection:
        connection.execute(f"CREATE TABLE events (id BIGINT, c {declared})")
        connection.executemany("INSERT INTO events VALUES (?, ?)", list(enumerate(values, 1)))


WIDE = pl.Decimal(20, 2)


def test_a_wide_decimal_cursor_moves_each_row_once(project: Make) -> None:
    """DECIMAL(20,2) is kept as text: max() took '9.50' for the largest, and every run added 10.10 again. The
    last value differs from the one before only in its 19th digit, which a double does not keep."""
    root = make(project)
    values = [Decimal("9.50"), Decimal("10.10"), Decimal("12345678901234567.88")]
    source(root, pl.Series(values, dtype=WIDE))
    assert [moved(root), moved(root)] == [3, 0]
    source(root, pl.Series([*values, Decimal("12345678901234567.89")], dtype=WIDE))
    assert [moved(root), moved(root)] == [1, 0]
    assert target_ids(root) == [1, 2, 3, 4]


def test_negative_wide_decimals_give_the_numerically_largest_watermark(sqlite_db: Db) -> None:
    values = [Decimal("-10.50"), Decimal("-9.25"), Decimal("-1.00"), Decimal("-100000000000000000.01"), None]
    sqlite_db.write(pl.DataFrame({"c": pl.Series(values, dtype=WIDE), "top": [1, 2, 3, 4, 5]}), "events")
    assert sqlite_db.store().max_value("events", "c") == Decimal("-1.00")


def test_a_timestamp_cursor_written_with_t_and_with_a_space_moves_each_row_once(project: Make) -> None:
    """Another tool wrote '2025-01-01 11:00:00', hygge writes '2025-01-01T...': as text 'T' > ' ', so the
    watermark was 10:00 and the 11:00 row was appended again."""
    root = make(project)
    existing_table(root, "TIMESTAMP", ["2025-01-01T10:00:00", "2025-01-01 11:00:00"])
    hours = [dt.datetime(2025, 1, 1, h) for h in (10, 11, 12)]
    source(root, pl.Series(hours))
    assert [moved(root), moved(root)] == [1, 0]
    # hygge's own rows (with a fraction) beside the other tool's (without one, or with a space)
    with sqlite3.connect(root / "data/out.db") as connection:
        connection.execute("INSERT INTO events VALUES (4, '2025-01-01 12:30:00')")
    source(root, pl.Series([*hours, dt.datetime(2025, 1, 1, 12, 30), dt.datetime(2025, 1, 1, 12, 45)]))
    assert [moved(root), moved(root)] == [1, 0]
    assert target_ids(root) == [1, 2, 3, 4, 5]


@pytest.mark.slow  # several hygge runs end to end; CI runs it with -m slow
def test_a_zoned_cursor_written_with_offsets_moves_each_row_once(project: Make) -> None:
    """'2025-01-01 11:00:00+02:00' is 09:00 UTC, before '2025-01-01 10:00:00+00:00', but larger as text; the
    latest is in a form SQLite's date functions do not read (+0200), and hygge does."""
    root = make(project)
    existing_table(
        root, "TIMESTAMPTZ", ["2025-01-01 10:00:00+00:00", "2025-01-01 11:00:00+02:00", "2025-01-01T12:15:00+0200"]
    )
    instants = [dt.datetime(2025, 1, 1, h, m, tzinfo=UTC) for h, m in ((10, 0), (9, 0), (10, 15), (10, 30))]
    source(root, pl.Series(instants))
    assert [moved(root), moved(root)] == [1, 0]
    source(root, pl.Series([*instants, dt.datetime(2025, 1, 1, 10, 45, tzinfo=UTC)]))
    assert [moved(root), moved(root)] == [1, 0]
    assert target_ids(root) == [1, 2, 3, 4, 5]


@pytest.mark.slow  # several hygge runs end to end; CI runs it with -m slow
def test_a_date_cursor_moves_each_row_once(project: Make) -> None:
    root = make(project)
    days = [dt.date(2025, 1, d) for d in (9, 10)]
    source(root, pl.Series(days))
    assert [moved(root), moved(root)] == [2, 0]
    source(root, pl.Series([*days, dt.date(2025, 1, 11)]))
    assert [moved(root), moved(root)] == [1, 0]


@pytest.mark.parametrize("store", ["sqlite", "duckdb"])
def test_a_nanosecond_cursor_kept_in_nanoseconds_moves_each_row_once(project: Make, store: str) -> None:
    """The target keeps nanoseconds, but its watermark was a Python datetime (microseconds): a row later in the
    same microsecond as the target's last one was never moved."""
    root = make(project, store)
    first = dt.datetime(2025, 1, 1, 0, 0, 20, 123456)
    stamps = pl.Series([first] * 2).cast(pl.Datetime("ns")) + pl.Series([1, 999], dtype=pl.Duration("ns"))
    source(root, stamps[:1])
    assert moved(root) == 1
    source(root, stamps)
    assert [moved(root), moved(root)] == [1, 0]


def test_every_store_takes_the_exact_largest_decimal_and_the_latest_instant(db: Db) -> None:
    """DuckDB and PostgreSQL keep typed columns: their max() is already the one Polars compares with."""
    decimals = [Decimal("9.50"), Decimal("10.10"), Decimal("12345678901234567.89"), Decimal("12345678901234567.88")]
    offsets = [dt.timezone(dt.timedelta(hours=h)) for h in (0, 2, -5)]
    instants = [dt.datetime(2025, 1, 1, 10, tzinfo=offsets[0]), dt.datetime(2025, 1, 1, 11, tzinfo=offsets[1])]
    instants.append(dt.datetime(2025, 1, 1, 4, 59, tzinfo=offsets[2]))  # 09:59 UTC
    frame = pl.DataFrame({"d": pl.Series(decimals, dtype=WIDE), "t": [*instants, None]})
    db.write(frame, "events")
    store = db.store()
    assert store.max_value(db.name("events"), "d") == Decimal("12345678901234567.89")
    assert store.max_value(db.name("events"), "t") == dt.datetime(2025, 1, 1, 10, tzinfo=UTC)


def test_a_timestamp_cursor_kept_in_a_text_column_moves_each_row_once(project: Make) -> None:
    """A table another tool made with a TEXT column of timestamps in both forms: hygge appends its timestamps as
    text there too, and the watermark of a timestamp cursor is the latest of them, not the largest text."""
    root = make(project)
    existing_table(root, "TEXT", ["2025-01-01T10:00:00", "2025-01-01 11:00:00"])
    hours = [dt.datetime(2025, 1, 1, h) for h in (10, 11, 12)]
    source(root, pl.Series(hours))
    assert [moved(root), moved(root)] == [1, 0]
    source(root, pl.Series([*hours, dt.datetime(2025, 1, 1, 12, 30)]))
    assert [moved(root), moved(root)] == [1, 0]
    assert target_ids(root) == [1, 2, 3, 4]


def test_a_text_column_gives_a_number_or_timestamp_cursor_its_largest_number_or_latest_time(db: Db) -> None:
    """As in csv targets (TextWatermark): the store cannot tell which the source's cursor is, so it has all."""
    db.execute(f"CREATE TABLE {db.sql_name('events')} (n text, t text, s text)")
    db.execute(
        f"INSERT INTO {db.sql_name('events')} VALUES ('9', '2025-01-01T10:00:00', 'b'), "
        "('10', '2025-01-01 11:00:00', 'a'), (NULL, NULL, NULL)"
    )
    store = db.store()
    number = store.max_value(db.name("events"), "n")
    latest = store.max_value(db.name("events"), "t")
    assert (number, number.for_type(pl.Int64())) == ("9", "10")
    assert latest.for_type(pl.Datetime()) == "2025-01-01T11:00:00.000000000"
    assert latest.for_type(pl.String()) == "2025-01-01T10:00:00"
    assert store.max_value(db.name("events"), "s") == "b"
