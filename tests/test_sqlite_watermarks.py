"""The watermark of a database target is its largest cursor value as the home's Polars filter orders them, exactly.

SQLite keeps wide decimals and every timestamp as text, and a table another tool wrote may hold timestamps in
several text forms: max() there compares text ('9.50' > '10.10', 'T' > ' ', '11:00+02:00' > '10:00+00:00'), so
rows were appended again or skipped. A text column of any database may hold a number or timestamp cursor too.
The end-to-end cases run the real `hygge run` and count the rows every run moves: they share one project, where
each case is a flow into a target of its own, and the same four runs (two, the sources grow, two more).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import build_project, made_once, run_hygge
from databases import Db

UTC = dt.UTC
WIDE = pl.Decimal(20, 2)
FIRST_NS = dt.datetime(2025, 1, 1, 0, 0, 20, 123456)
# Two nanosecond stamps in the same microsecond.
STAMPS = pl.Series([FIRST_NS] * 2).cast(pl.Datetime("ns")) + pl.Series([1, 999], dtype=pl.Duration("ns"))
DECIMALS = [Decimal("9.50"), Decimal("10.10"), Decimal("12345678901234567.88")]
HOURS = [dt.datetime(2025, 1, 1, h) for h in (10, 11, 12)]
INSTANTS = [dt.datetime(2025, 1, 1, h, m, tzinfo=UTC) for h, m in ((10, 0), (9, 0), (10, 15), (10, 30))]
DAYS = [dt.date(2025, 1, d) for d in (9, 10)]


@dataclass(frozen=True)
class Case:
    """One flow of the shared project: its store's type, the target another tool made (if any), the source's
    cursor for the first two runs and for the last two."""

    store: str
    before: pl.Series
    after: pl.Series
    existing: tuple[str, list[str]] | None = None


CASES = {
    "wide_decimal": Case(
        "sqlite",
        pl.Series(DECIMALS, dtype=WIDE),
        pl.Series([*DECIMALS, Decimal("12345678901234567.89")], dtype=WIDE),
    ),
    "t_and_space": Case(
        "sqlite",
        pl.Series(HOURS),
        pl.Series([*HOURS, dt.datetime(2025, 1, 1, 12, 30), dt.datetime(2025, 1, 1, 12, 45)]),
        ("TIMESTAMP", ["2025-01-01T10:00:00", "2025-01-01 11:00:00"]),
    ),
    "zoned": Case(
        "sqlite",
        pl.Series(INSTANTS),
        pl.Series([*INSTANTS, dt.datetime(2025, 1, 1, 10, 45, tzinfo=UTC)]),
        ("TIMESTAMPTZ", ["2025-01-01 10:00:00+00:00", "2025-01-01 11:00:00+02:00", "2025-01-01T12:15:00+0200"]),
    ),
    "date": Case("sqlite", pl.Series(DAYS), pl.Series([*DAYS, dt.date(2025, 1, 11)])),
    "ns_sqlite": Case("sqlite", STAMPS[:1], STAMPS),
    "ns_duckdb": Case("duckdb", STAMPS[:1], STAMPS),
    "text_column": Case(
        "sqlite",
        pl.Series(HOURS),
        pl.Series([*HOURS, dt.datetime(2025, 1, 1, 12, 30)]),
        ("TEXT", ["2025-01-01T10:00:00", "2025-01-01 11:00:00"]),
    ),
}


@dataclass
class Runs:
    root: Path
    outputs: list[str]
    finished: list[dict[str, dict[str, Any]]]  # per run: flow -> its flow_finished event

    def moved(self, flow: str) -> list[list[int]]:
        """The rows each run moved for `flow`, as [[first, second], [third, fourth]], asserting each run of it
        succeeded."""
        rows = []
        for output, finished in zip(self.outputs, self.finished, strict=True):
            event = finished.get(flow)
            assert event is not None and event["outcome"] == "ok", output
            rows.append(int(event["rows"]))
        return [rows[:2], rows[2:]]

    def target_ids(self, flow: str) -> list[int]:
        with closing(sqlite3.connect(self.root / f"data/{flow}.db")) as connection:
            return [row[0] for row in connection.execute("SELECT id FROM events ORDER BY id")]


def source(root: Path, flow: str, cursor: pl.Series) -> None:
    pl.DataFrame({"id": range(1, cursor.len() + 1), "c": cursor}).write_parquet(root / f"data/src/{flow}.parquet")


def run(root: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """Run every flow with the real command: its output and each flow's flow_finished event."""
    done = run_hygge("run", "--all", "--log-format", "json", cwd=root)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    finished = {e["flow"]: e for e in events if e.get("event") == "flow_finished"}
    return done.stdout + done.stderr, finished


def run_all(root: Path) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """The shared project, run twice, its sources grown, run twice more (one process a run for every case)."""
    files = {
        "hygge.yml": "name: marks\ndefaults: {home: src}\n",
        "homes/src.yml": "type: parquet\npath: data/src\n",
    }
    for flow, case in CASES.items():
        files[f"stores/{flow}.yml"] = f"type: {case.store}\npath: data/{flow}.db\n"
        files[f"flows/{flow}.yml"] = f"store: {flow}\ntarget: events\nincremental: {{cursor: c}}\n"
    build_project(root, files)
    (root / "data/src").mkdir(parents=True)
    for flow, case in CASES.items():
        if case.existing:  # a target table another tool made, with the cursor written as it writes it
            declared, values = case.existing
            with closing(sqlite3.connect(root / f"data/{flow}.db")) as connection, connection:
                connection.execute(f"CREATE TABLE events (id BIGINT, c {declared})")
                connection.executemany("INSERT INTO events VALUES (?, ?)", list(enumerate(values, 1)))
        source(root, flow, case.before)
    results = [run(root), run(root)]
    # Another tool adds a row beside hygge's (which have a fraction): without one, and with a space.
    with closing(sqlite3.connect(root / "data/t_and_space.db")) as connection, connection:
        connection.execute("INSERT INTO events VALUES (4, '2025-01-01 12:30:00')")
    for flow, case in CASES.items():
        source(root, flow, case.after)
    return [*results, run(root), run(root)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The runs, made once for every test (and xdist worker) that reads them."""
    root, results = made_once(tmp_path_factory, "sqlite_watermarks", run_all)
    return Runs(root, [output for output, _ in results], [finished for _, finished in results])


def test_a_wide_decimal_cursor_moves_each_row_once(runs: Runs) -> None:
    """DECIMAL(20,2) is kept as text: max() took '9.50' for the largest, and every run added 10.10 again. The
    last value differs from the one before only in its 19th digit, which a double does not keep."""
    assert runs.moved("wide_decimal") == [[3, 0], [1, 0]]
    assert runs.target_ids("wide_decimal") == [1, 2, 3, 4]


def test_negative_wide_decimals_give_the_numerically_largest_watermark(sqlite_db: Db) -> None:
    values = [Decimal("-10.50"), Decimal("-9.25"), Decimal("-1.00"), Decimal("-100000000000000000.01"), None]
    sqlite_db.write(pl.DataFrame({"c": pl.Series(values, dtype=WIDE), "top": [1, 2, 3, 4, 5]}), "events")
    assert sqlite_db.store().max_value("events", "c") == Decimal("-1.00")


def test_a_timestamp_cursor_written_with_t_and_with_a_space_moves_each_row_once(runs: Runs) -> None:
    """Another tool wrote '2025-01-01 11:00:00', hygge writes '2025-01-01T...': as text 'T' > ' ', so the
    watermark was 10:00 and the 11:00 row was appended again. Between the runs another tool adds
    '2025-01-01 12:30:00' (id 4) beside hygge's rows, which have a fraction."""
    assert runs.moved("t_and_space") == [[1, 0], [1, 0]]
    assert runs.target_ids("t_and_space") == [1, 2, 3, 4, 5]


def test_a_zoned_cursor_written_with_offsets_moves_each_row_once(runs: Runs) -> None:
    """'2025-01-01 11:00:00+02:00' is 09:00 UTC, before '2025-01-01 10:00:00+00:00', but larger as text; the
    latest is in a form SQLite's date functions do not read (+0200), and hygge does."""
    assert runs.moved("zoned") == [[1, 0], [1, 0]]
    assert runs.target_ids("zoned") == [1, 2, 3, 4, 5]


def test_a_date_cursor_moves_each_row_once(runs: Runs) -> None:
    assert runs.moved("date") == [[2, 0], [1, 0]]


@pytest.mark.parametrize("store", ["sqlite", "duckdb"])
def test_a_nanosecond_cursor_kept_in_nanoseconds_moves_each_row_once(runs: Runs, store: str) -> None:
    """The target keeps nanoseconds, but its watermark was a Python datetime (microseconds): a row later in the
    same microsecond as the target's last one was never moved."""
    assert runs.moved(f"ns_{store}") == [[1, 0], [1, 0]]


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


def test_a_timestamp_cursor_kept_in_a_text_column_moves_each_row_once(runs: Runs) -> None:
    """A table another tool made with a TEXT column of timestamps in both forms: hygge appends its timestamps as
    text there too, and the watermark of a timestamp cursor is the latest of them, not the largest text."""
    assert runs.moved("text_column") == [[1, 0], [1, 0]]
    assert runs.target_ids("text_column") == [1, 2, 3, 4]


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
