"""Incremental flows into file stores: windows, merge with moved cursors, lag, nulls, refresh and reset."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hygge.errors import ProjectError
from hygge.incremental import literal
from hygge.project import load_project
from hygge.resolver import resolve
from hygge.runner import RunOptions, RunResult, run
from hygge.state import StateStore

Make = Callable[..., Path]
FORMATS = ["parquet", "csv", "ndjson"]


def run_all(root: Path, **options: bool) -> RunResult:
    plan = resolve(load_project(root, environ={}))
    result = run(plan, plan.select([]), RunOptions(**options))
    assert result.exit_code == 0, [o.error for o in result.outcomes]
    return result


def write_source(root: Path, frame: pl.DataFrame) -> None:
    frame.write_parquet(root / "data" / "src" / "events.parquet")


def read_target(root: Path, fmt: str) -> pl.DataFrame:
    base = root / "data" / "out"
    file = base / f"events.{fmt}"
    files = [file] if file.exists() else sorted((base / "events").glob(f"*.{fmt}"))
    scan = {"parquet": pl.read_parquet, "csv": pl.read_csv, "ndjson": pl.read_ndjson}[fmt]
    return pl.concat([scan(f) for f in files], how="diagonal_relaxed")  # type: ignore[operator]


def make(project: Make, fmt: str, flow: str) -> Path:
    root = project(
        {
            "hygge.yml": "name: inc\ndefaults: {home: src, store: out}\n",
            "homes/src.yml": "type: parquet\npath: data/src\n",
            "stores/out.yml": f"type: {fmt}\npath: data/out\n",
            "flows/events.yml": flow,
        },
        base=False,
    )
    (root / "data" / "src").mkdir(parents=True)
    return root


def rows(ids: list[int], version: int = 0) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "version": [version] * len(ids), "note": [f"n{i}-{version}" for i in ids]})


@pytest.mark.parametrize("fmt", FORMATS)
def test_append_reads_only_new_rows(project: Make, fmt: str) -> None:
    root = make(project, fmt, "incremental: {cursor: id}\n")
    write_source(root, rows([1, 2, 3]))
    first = run_all(root)
    write_source(root, rows([1, 2, 3, 4, 5]))
    second = run_all(root)
    third = run_all(root)
    assert [r.outcomes[0].rows for r in (first, second, third)] == [3, 2, 0]
    assert_frame_equal(read_target(root, fmt).sort("id"), rows([1, 2, 3, 4, 5]))
    assert second.outcomes[0].window == ("3", "5")


@pytest.mark.parametrize("fmt", FORMATS)
def test_merge_with_a_moving_cursor_equals_the_source(project: Make, fmt: str) -> None:
    root = make(project, fmt, "incremental: {cursor: seq}\nkey: [id]\n")
    source = rows([1, 2, 3]).with_columns(seq=pl.Series([1, 2, 3]))
    write_source(root, source)
    run_all(root)
    # id 2 is updated (its cursor moves past the watermark), id 4 is new
    source = pl.DataFrame(
        {"id": [1, 2, 3, 4], "version": [0, 1, 0, 0], "note": ["n1-0", "n2-1", "n3-0", "n4-0"], "seq": [1, 4, 3, 5]}
    )
    write_source(root, source)
    assert run_all(root).outcomes[0].rows >= 2
    assert_frame_equal(read_target(root, fmt).sort("id"), source, check_column_order=False)


def test_initial_is_the_first_watermark(project: Make) -> None:
    root = make(project, "parquet", "incremental: {cursor: id, initial: 2}\n")
    write_source(root, rows([1, 2, 3, 4]))
    run_all(root)
    assert read_target(root, "parquet")["id"].sort().to_list() == [3, 4]


def test_timestamp_cursor_with_time_zone_and_initial_text(project: Make) -> None:
    root = make(project, "parquet", "incremental: {cursor: at, initial: '2025-01-01 00:00:00'}\n")
    at = [dt.datetime(2024, 12, 31, 23), dt.datetime(2025, 1, 1, 1), dt.datetime(2025, 1, 2)]
    frame = rows([1, 2, 3]).with_columns(at=pl.Series(at).dt.replace_time_zone("Europe/Copenhagen"))
    write_source(root, frame)
    run_all(root)
    assert read_target(root, "parquet")["id"].sort().to_list() == [2, 3]


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([dt.date(2025, 1, d) for d in (1, 2, 3)], pl.Date),
        (["a", "b", "c"], pl.String),
        ([dt.datetime(2025, 1, 1, h) for h in (1, 2, 3)], pl.Datetime("us")),
    ],
)
def test_cursor_types(project: Make, values: list[object], dtype: pl.DataType) -> None:
    root = make(project, "parquet", "incremental: {cursor: c}\n")
    write_source(root, rows([1, 2]).with_columns(c=pl.Series(values[:2], dtype=dtype)))
    run_all(root)
    write_source(root, rows([1, 2, 3]).with_columns(c=pl.Series(values, dtype=dtype)))
    assert run_all(root).outcomes[0].rows == 1
    assert read_target(root, "parquet")["id"].sort().to_list() == [1, 2, 3]


def test_lag_with_merge_is_idempotent(project: Make) -> None:
    root = make(project, "parquet", "incremental: {cursor: id, lag: 2}\nkey: [id]\n")
    write_source(root, rows([1, 2, 3, 4]))
    run_all(root)
    second = run_all(root)
    assert second.outcomes[0].rows == 2  # re-read 3..4, merged over themselves: the rows this run moved
    assert_frame_equal(read_target(root, "parquet").sort("id"), rows([1, 2, 3, 4]))


def test_null_cursors_fail_by_default_and_say_what_to_do(project: Make) -> None:
    root = make(project, "parquet", "incremental: {cursor: c}\n")
    write_source(root, rows([1, 2]).with_columns(c=pl.Series([1, None])))
    plan = resolve(load_project(root, environ={}))
    result = run(plan, ["events"])
    assert result.exit_code == 1
    assert "is null in some source rows" in (result.outcomes[0].error or "")
    assert "nulls: exclude" in (result.outcomes[0].error or "")


def test_null_cursors_exclude_and_include(project: Make) -> None:
    root = make(project, "parquet", "incremental: {cursor: c, nulls: include}\nkey: [id]\n")
    write_source(root, rows([1, 2]).with_columns(c=pl.Series([1, None])))
    run_all(root)
    run_all(root)
    assert read_target(root, "parquet")["id"].sort().to_list() == [1, 2]
    (root / "flows" / "events.yml").write_text("incremental: {cursor: c, nulls: exclude}\n")
    (root / "data" / "out" / "events.parquet").unlink()
    run_all(root)
    assert read_target(root, "parquet")["id"].to_list() == [1]


def test_full_refresh_replaces_from_scratch(project: Make) -> None:
    root = make(project, "parquet", "incremental: {cursor: id}\n")
    write_source(root, rows([1, 2, 3]))
    run_all(root)
    write_source(root, rows([2, 3]))  # the source lost a row: only a refresh shows it
    run_all(root, full_refresh=True)
    assert read_target(root, "parquet")["id"].sort().to_list() == [2, 3]


def test_state_reset_rebuilds_append_and_rereads_merge(project: Make) -> None:
    root = make(project, "parquet", "incremental: {cursor: id}\n")
    write_source(root, rows([1, 2, 3]))
    run_all(root)
    state = StateStore(root / ".hygge" / "state.db")
    assert state.watermarks()[0]["value"] == "3"
    state.request_reset("events", "events", "id")
    again = run_all(root)
    assert again.outcomes[0].rows == 3
    assert read_target(root, "parquet")["id"].sort().to_list() == [1, 2, 3]
    assert not state.reset_requested("events", "events")


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        ("incremental: {cursor: id}\nmode: replace\n", "an incremental flow appends or merges"),
        ("incremental: {cursor: id, lag: 5}\n", "lag re-reads rows on every run, which append would add again"),
        ("incremental: {cursor: id, nulls: include}\n", "nulls: include re-reads null-cursor rows"),
        ("incremental: {cursor: id, lag: soon}\nkey: [id]\n", "is not a number or a duration"),
    ],
)
def test_incremental_settings_errors(project: Make, flow: str, message: str) -> None:
    root = make(project, "parquet", flow)
    with pytest.raises(ProjectError, match=message):
        resolve(load_project(root, environ={}))


def _cursor(kind: str, ids: list[int]) -> pl.Series:
    start = dt.datetime(2024, 3, 30)  # a DST night in Europe: zoned values cross an offset change
    stamps = pl.Series([start + dt.timedelta(minutes=20 * i, microseconds=i) for i in ids])
    if kind == "date":
        return pl.Series([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in ids])
    if kind.startswith("ns"):
        stamps = stamps.cast(pl.Datetime("ns")).dt.offset_by("7ns")  # digits a Python datetime would lose
    if kind.endswith("zoned"):
        return stamps.dt.replace_time_zone("Europe/Amsterdam")
    return stamps if kind.startswith("ns") else stamps.cast(pl.Datetime(kind))


@pytest.mark.parametrize("kind", ["us", "ms", "ns", "zoned", "ns_zoned", "date"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_temporal_cursor_watermark_moves_in_every_store(project: Make, fmt: str, kind: str) -> None:
    # Text stores hold the cursor as text: the watermark is the max of that text, read back as the cursor's type.
    root = make(project, fmt, "incremental: {cursor: c}\n")
    counts = []
    for ids in (list(range(10)), list(range(15)), list(range(15))):
        write_source(root, rows(ids).with_columns(c=_cursor(kind, ids)))
        counts.append(run_all(root).outcomes[0].rows)
    assert counts == [10, 5, 0]
    assert read_target(root, fmt)["id"].sort().to_list() == list(range(15))


AMSTERDAM = pl.Datetime("us", "Europe/Amsterdam")


@pytest.mark.parametrize(
    ("text", "dtype", "expected"),
    [
        ("2024-03-30T03:20:00.000001", pl.Datetime("us"), dt.datetime(2024, 3, 30, 3, 20, 0, 1)),
        ("2024-03-30 03:20:00.000001", pl.Datetime("us"), dt.datetime(2024, 3, 30, 3, 20, 0, 1)),
        ("2024-03-30T03:20:00.123", pl.Datetime("ms"), dt.datetime(2024, 3, 30, 3, 20, 0, 123000)),
        # an offset names an instant, shown in the cursor's zone (not re-read as a wall time there)
        ("2024-03-30T02:00:00.000000+00:00", AMSTERDAM, dt.datetime(2024, 3, 30, 2, tzinfo=dt.UTC)),
        ("2024-03-30 03:00:00+01:00", AMSTERDAM, dt.datetime(2024, 3, 30, 2, tzinfo=dt.UTC)),
        ("2024-03-30T02:00:00Z", AMSTERDAM, dt.datetime(2024, 3, 30, 2, tzinfo=dt.UTC)),
        # without one, a wall time in the cursor's zone (as users write `initial:`)
        ("2024-03-30 03:00:00", AMSTERDAM, dt.datetime(2024, 3, 30, 2, tzinfo=dt.UTC)),
        ("2024-03-30", pl.Datetime("us"), dt.datetime(2024, 3, 30)),
        ("2024-03-30", pl.Date(), dt.date(2024, 3, 30)),
    ],
)
def test_literal_reads_stored_text_as_the_cursor_type(text: str, dtype: pl.DataType, expected: object) -> None:
    value = pl.select(literal(text, dtype).alias("v"))
    assert value.schema["v"] == dtype
    assert value.item() == expected


def test_literal_keeps_nanoseconds() -> None:
    value = pl.select(literal("2024-03-30T03:00:00.000000007", pl.Datetime("ns")).alias("v"))
    assert value.select(pl.col("v").dt.nanosecond()).item() == 7


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_csv_target_holding_timestamps_in_another_text_form(project: Make, mode: str) -> None:
    # The target was written by another tool (or an earlier hygge): local offsets and a space. By text, its
    # '2024-03-30 05:00:00+0100' sorts after the latest '2024-03-30T04:20:...+00:00' row, which would keep the
    # watermark stuck and re-add rows on every run; by value it does not.
    root = make(project, "csv", "incremental: {cursor: c}\n" + ("key: [id, c]\n" if mode == "merge" else ""))
    out = root / "data" / "out"
    out.mkdir(parents=True)
    ids = list(range(6))
    old = rows(ids[:3]).with_columns(c=pl.Series([f"2024-03-30 0{h}:00:00+0100" for h in (3, 4, 5)]))
    old.write_csv(out / "events.csv")
    source = rows(ids).with_columns(c=pl.Series([dt.datetime(2024, 3, 30, h, 0) for h in (2, 3, 4, 5, 6, 7)]))
    source = source.with_columns(pl.col("c").dt.replace_time_zone("UTC"))
    write_source(root, source)
    for _ in range(3):
        run_all(root)
    # the old rows are 02:00, 03:00 and 04:00 UTC: 05:00 to 07:00 are new, and are added once
    target = read_target(root, "csv")
    assert target.height == 6 and target["id"].sort().to_list() == ids
    if mode == "merge":  # the rewrite put the old rows' text in the one form, so keys compare by value
        assert target["c"].str.ends_with("+00:00").all()


@pytest.mark.parametrize(
    ("values", "lag", "message"),
    [
        (["a", "b"], "2", "needs a number cursor, and 'c' is String. The lag for this cursor is none: remove lag:"),
        ([1, 2], "2h", "needs a date or timestamp cursor, and 'c' is Int64. The lag for this cursor is a number"),
        ([dt.date(2025, 1, 1), dt.date(2025, 1, 2)], "3", "is Date. The lag for this cursor is a duration"),
    ],
)
def test_a_lag_that_does_not_fit_the_cursor_says_which_does(
    project: Make, values: list[object], lag: str, message: str
) -> None:
    root = make(project, "parquet", f"incremental: {{cursor: c, lag: {lag}}}\nkey: [id]\n")
    write_source(root, rows([1, 2]).with_columns(c=pl.Series(values)))
    plan = resolve(load_project(root, environ={}))
    result = run(plan, plan.select([]), RunOptions())
    assert result.exit_code == 1
    assert message in (result.outcomes[0].error or ""), result.outcomes[0].error


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize(
    "values",
    [
        ["2025-11-04 15:03:00", "2025-11-04 09:00:00", "2025-11-04 16:00:00"],  # text that reads as timestamps
        ["2025-11-20T05:58:52Z", "2025-11-20T05:00:00Z", "2025-11-20T06:00:00Z"],
        ["0008", "0009", "0010"],  # text that reads as numbers ('0010' is not 10 here)
        ["8.50", "9.00", "10.00"],
    ],
)
def test_a_text_cursor_compares_as_text_in_text_stores(project: Make, fmt: str, values: list[str]) -> None:
    # The target keeps the text as it is; its largest text, not its latest time or largest number, is what the
    # source's text cursor is compared with. Read any other way, rows were skipped for good or added every run.
    root = make(project, fmt, "incremental: {cursor: c}\n")
    write_source(root, rows([1, 2]).with_columns(c=pl.Series(values[:2])))
    write_source(root, rows([1, 2, 3]).with_columns(c=pl.Series(values)))
    counts = [run_all(root).outcomes[0].rows for _ in range(2)]
    expected = sorted(values)
    assert counts == [3, 0]
    write_source(root, rows([1, 2, 3, 4]).with_columns(c=pl.Series([*values, expected[-1] + "1"])))
    assert run_all(root).outcomes[0].rows == 1
    assert read_target(root, fmt)["id"].sort().to_list() == [1, 2, 3, 4]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_number_cursor_compares_as_numbers_in_text_stores(project: Make, fmt: str) -> None:
    root = make(project, fmt, "incremental: {cursor: c}\n")
    write_source(root, rows([1, 2]).with_columns(c=pl.Series([9, 10])))
    assert run_all(root).outcomes[0].rows == 2
    write_source(root, rows([1, 2, 3]).with_columns(c=pl.Series([9, 10, 11])))
    assert [run_all(root).outcomes[0].rows for _ in range(2)] == [1, 0]


@pytest.mark.parametrize("store", ["sqlite", "duckdb"])
def test_a_nanosecond_cursor_into_a_store_of_microseconds_adds_each_row_once(project: Make, store: str) -> None:
    root = make(project, "parquet", "incremental: {cursor: c}\n")
    (root / "stores/out.yml").write_text(f"type: {store}\npath: data/out.db\n")
    stamps = pl.Series([dt.datetime(2025, 1, 1, 0, 0, 20, 123456)] * 2).cast(pl.Datetime("ns"))
    write_source(root, rows([1, 2]).with_columns(c=stamps + pl.Series([1, 999], dtype=pl.Duration("ns"))))
    assert [run_all(root).outcomes[0].rows for _ in range(3)] == [2, 0, 0]
