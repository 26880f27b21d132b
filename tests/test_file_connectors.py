"""The csv, ndjson and parquet connectors against real files: reading, the three modes, and their promises."""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hygge.connectors import get_connector
from hygge.connectors.base import Cancelled, Home, Incremental, ReadRequest, Store, WriteRequest, WriteResult
from hygge.errors import FlowError

FORMATS = ["csv", "ndjson", "parquet"]

FIRST = pl.DataFrame({"id": [1, 2, 3], "name": ["ada", "bo", "cy"], "amount": [10.5, 20.0, 7.25]})
SECOND = pl.DataFrame({"id": [4, 5], "name": ["di", "ed"], "amount": [1.5, 2.5]})


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "data" / "lake"


def make_home(fmt: str, root: Path, **options: object) -> Home:
    connector = get_connector(fmt)
    settings = connector.settings_model.model_validate({"type": fmt, "path": "data/lake", **options})
    return connector.home("lake", settings, root)


def make_store(fmt: str, root: Path, **options: object) -> Store:
    connector = get_connector(fmt)
    settings = connector.settings_model.model_validate({"type": fmt, "path": "data/lake", **options})
    return connector.store("lake", settings, root)


def write_file(fmt: str, path: Path, frame: pl.DataFrame) -> None:
    """Write a source file the way another tool would, not through a store."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "ndjson":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)


def read(fmt: str, root: Path, source: str = "orders", **kwargs: object) -> pl.DataFrame:
    home = make_home(fmt, root)
    return home.read(ReadRequest(flow="orders", source=source, **kwargs)).collect()  # type: ignore[arg-type]


def write(fmt: str, root: Path, frame: pl.DataFrame, mode: str = "replace", **kwargs: object) -> WriteResult:
    request = WriteRequest(flow="orders", target=str(kwargs.pop("target", "orders")), mode=mode, **kwargs)  # type: ignore[arg-type]
    return make_store(fmt, root).write(frame.lazy(), request)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones included) with its bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def hidden_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


# --- reading ----------------------------------------------------------------------------------------------


def test_read_file_by_name_and_by_file_name(fmt: str, tmp_path: Path, lake: Path) -> None:
    write_file(fmt, lake / f"orders.{fmt}", FIRST)
    assert_frame_equal(read(fmt, tmp_path), FIRST)
    assert_frame_equal(read(fmt, tmp_path, f"orders.{fmt}"), FIRST)


def test_read_folder_of_parts_ignores_hidden_files(fmt: str, tmp_path: Path, lake: Path) -> None:
    write_file(fmt, lake / "orders" / f"a.{fmt}", FIRST)
    write_file(fmt, lake / "orders" / f"b.{fmt}", SECOND)
    write_file(fmt, lake / "orders" / f".c.{fmt}", FIRST)
    write_file(fmt, lake / "orders" / f"_d.{fmt}", FIRST)
    write_file(fmt, lake / "orders" / f"e.{fmt}.{'0' * 32}.tmp", FIRST)
    assert_frame_equal(read(fmt, tmp_path), pl.concat([FIRST, SECOND]))


def test_parts_named_with_spaces_percent_hash_and_glob_characters_are_read_as_named(
    fmt: str, tmp_path: Path, lake: Path
) -> None:
    write_file(fmt, lake / "orders" / f"a b%20#1 [x]*ø.{fmt}", FIRST)
    write_file(fmt, lake / "orders" / f"b?.{fmt}", SECOND)
    assert_frame_equal(read(fmt, tmp_path).sort("id"), pl.concat([FIRST, SECOND]))


def test_read_folder_parts_with_differing_columns(fmt: str, tmp_path: Path, lake: Path) -> None:
    write_file(fmt, lake / "orders" / f"a.{fmt}", FIRST)
    write_file(fmt, lake / "orders" / f"b.{fmt}", SECOND.with_columns(note=pl.lit("new")))
    expected = pl.concat([FIRST, SECOND.with_columns(note=pl.lit("new"))], how="diagonal")
    assert_frame_equal(read(fmt, tmp_path), expected)


def test_read_glob(fmt: str, tmp_path: Path, lake: Path) -> None:
    write_file(fmt, lake / f"2024-01.{fmt}", FIRST)
    write_file(fmt, lake / f"2024-02.{fmt}", SECOND)
    write_file(fmt, lake / f"other.{fmt}", FIRST)
    write_file(fmt, lake / f".2024-03.{fmt}", FIRST)
    assert_frame_equal(read(fmt, tmp_path, f"2024-*.{fmt}"), pl.concat([FIRST, SECOND]))


def test_missing_source_says_what_was_tried(fmt: str, tmp_path: Path, lake: Path) -> None:
    write_file(fmt, lake / f"order.{fmt}", FIRST)
    with pytest.raises(FlowError) as caught:
        read(fmt, tmp_path)
    error = caught.value
    assert error.message == f"could not read data/lake/orders.{fmt}: file does not exist"
    assert error.where == "flow orders"
    assert error.hint is not None
    assert f"Tried data/lake/orders.{fmt} and data/lake/orders/." in error.hint
    assert "Sources there: order." in error.hint
    assert str(error).startswith(f"flow orders  could not read data/lake/orders.{fmt}: file does not exist")


def test_missing_folder_and_glob_without_match(fmt: str, tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="does not exist") as caught:
        read(fmt, tmp_path)
    assert "The folder data/lake (path: of home 'lake') does not exist." in str(caught.value.hint)
    (tmp_path / "data" / "lake").mkdir(parents=True)
    with pytest.raises(FlowError, match=rf"could not read data/lake/x\*\.{fmt}: no \.{fmt} file matches"):
        read(fmt, tmp_path, f"x*.{fmt}")


def test_file_and_folder_both_holding_data_is_an_error(fmt: str, tmp_path: Path, lake: Path) -> None:
    write_file(fmt, lake / f"orders.{fmt}", FIRST)
    write_file(fmt, lake / "orders" / f"a.{fmt}", SECOND)
    with pytest.raises(FlowError, match="both data/lake/orders") as caught:
        read(fmt, tmp_path)
    assert "Name one" in str(caught.value.hint)
    # naming one works
    assert_frame_equal(read(fmt, tmp_path, f"orders.{fmt}"), FIRST)
    assert_frame_equal(read(fmt, tmp_path, f"orders/*.{fmt}"), SECOND)


def test_query_is_refused(fmt: str, tmp_path: Path, lake: Path) -> None:
    write_file(fmt, lake / f"orders.{fmt}", FIRST)
    with pytest.raises(FlowError, match="reads files, not queries"):
        read(fmt, tmp_path, query="select 1")


def test_incremental_reads_rows_past_the_watermark(fmt: str, tmp_path: Path, lake: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "seq": [10, 20, None, 30]})
    write_file(fmt, lake / f"orders.{fmt}", frame)
    with pytest.raises(FlowError, match="'seq' is null in some source rows"):
        read(fmt, tmp_path, incremental=Incremental(cursor="seq"))
    first = read(fmt, tmp_path, incremental=Incremental(cursor="seq", nulls="exclude"))
    assert first["id"].to_list() == [1, 2, 4]
    later = read(fmt, tmp_path, incremental=Incremental(cursor="seq", after=10, nulls="exclude"))
    assert later["id"].to_list() == [2, 4]
    with_nulls = read(fmt, tmp_path, incremental=Incremental(cursor="seq", after=10, nulls="include"))
    assert with_nulls["id"].to_list() == [2, 3, 4]
    with pytest.raises(FlowError, match="'nope' is not a column"):
        read(fmt, tmp_path, incremental=Incremental(cursor="nope"))


# --- replace ----------------------------------------------------------------------------------------------


def test_replace_twice_holds_exactly_the_second_run(fmt: str, tmp_path: Path, lake: Path) -> None:
    assert write(fmt, tmp_path, FIRST).rows == 3
    assert write(fmt, tmp_path, SECOND).rows == 2
    assert_frame_equal(read(fmt, tmp_path), SECOND)
    assert sorted(p.name for p in lake.iterdir()) == [f"orders.{fmt}"]


def test_replace_calls_on_commit_with_the_row_count(fmt: str, tmp_path: Path) -> None:
    seen: list[int] = []
    write(fmt, tmp_path, FIRST, on_commit=seen.append)
    assert seen == [3]


def test_replace_refuses_to_empty_a_target(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST)
    before = snapshot(lake)
    with pytest.raises(FlowError, match="with no rows") as caught:
        write(fmt, tmp_path, FIRST.clear())
    assert "--allow-empty" in str(caught.value.hint)
    assert snapshot(lake) == before
    assert write(fmt, tmp_path, FIRST.clear(), allow_empty=True).rows == 0
    assert read(fmt, tmp_path).height == 0
    # an empty target may be replaced by nothing again
    assert write(fmt, tmp_path, FIRST.clear()).rows == 0


# --- append -----------------------------------------------------------------------------------------------


def test_append_twice_holds_both_runs(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST, "append")
    write(fmt, tmp_path, SECOND, "append")
    assert_frame_equal(read(fmt, tmp_path), pl.concat([FIRST, SECOND]))
    parts = sorted(p.name for p in (lake / "orders").iterdir())
    assert len(parts) == 2
    assert all(fnmatch.fnmatch(name, f"part-2*T*-????????.{fmt}") for name in parts)
    assert not hidden_leftovers(lake)


def test_append_rerun_of_the_same_rows_never_overwrites(fmt: str, tmp_path: Path) -> None:
    for _ in range(3):
        write(fmt, tmp_path, FIRST, "append")
    assert read(fmt, tmp_path).height == 9


def test_append_after_replace_keeps_the_replaced_rows(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST)
    write(fmt, tmp_path, SECOND, "append")
    assert not (lake / f"orders.{fmt}").exists()
    assert_frame_equal(read(fmt, tmp_path), pl.concat([FIRST, SECOND]))


def test_replace_after_append_drops_the_parts(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST, "append")
    write(fmt, tmp_path, FIRST, "append")
    write(fmt, tmp_path, SECOND)
    assert_frame_equal(read(fmt, tmp_path), SECOND)
    assert sorted(p.name for p in lake.iterdir()) == [f"orders.{fmt}"]


def test_append_of_zero_rows_writes_no_part(fmt: str, tmp_path: Path, lake: Path) -> None:
    seen: list[int] = []
    assert write(fmt, tmp_path, FIRST.clear(), "append", on_commit=seen.append).rows == 0
    assert seen == [0]
    assert not (lake / "orders").exists()
    write(fmt, tmp_path, FIRST, "append")
    write(fmt, tmp_path, FIRST.clear(), "append")
    assert len(list((lake / "orders").iterdir())) == 1


# --- merge ------------------------------------------------------------------------------------------------


def test_merge_last_row_per_key_wins(fmt: str, tmp_path: Path) -> None:
    write(fmt, tmp_path, FIRST)
    new = pl.DataFrame({"id": [2, 4, 2], "name": ["bo-1", "di", "bo-2"], "amount": [1.0, 2.0, 3.0]})
    assert write(fmt, tmp_path, new, "merge", key=("id",)).rows == 3  # the rows moved, as databases count
    expected = pl.DataFrame(
        {"id": [1, 2, 3, 4], "name": ["ada", "bo-2", "cy", "di"], "amount": [10.5, 3.0, 7.25, 2.0]},
    )
    assert_frame_equal(read(fmt, tmp_path).sort("id"), expected)


def test_merge_into_appended_parts_and_into_nothing(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, SECOND, "merge", key=("id",))
    assert_frame_equal(read(fmt, tmp_path).sort("id"), SECOND)
    write(fmt, tmp_path, FIRST, "append")
    write(fmt, tmp_path, FIRST.with_columns(name=pl.lit("z")).head(1), "merge", key=("id",))
    result = read(fmt, tmp_path).sort("id")
    assert result["id"].to_list() == [1, 2, 3, 4, 5]
    assert result.filter(pl.col("id") == 1)["name"].item() == "z"
    assert sorted(p.name for p in lake.iterdir()) == [f"orders.{fmt}"]


def test_merge_needs_a_key_present_in_the_data(fmt: str, tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="merge needs a key"):
        write(fmt, tmp_path, FIRST, "merge")
    with pytest.raises(FlowError, match="the data has no key column code") as caught:
        write(fmt, tmp_path, FIRST, "merge", key=("id", "code"))
    assert "Columns: id, name, amount." in str(caught.value.hint)


def test_merge_refuses_null_keys_as_the_databases_do(fmt: str, tmp_path: Path) -> None:
    # Polars' unique() takes all null keys for one: the second null-key row would replace the first.
    write(fmt, tmp_path, FIRST)
    before = read(fmt, tmp_path)
    new = pl.DataFrame({"id": [None, 4, None], "name": ["x", "di", "y"], "amount": [1.0, 2.0, 3.0]})
    with pytest.raises(FlowError, match="the key column 'id' is null in some rows of this run") as caught:
        write(fmt, tmp_path, new, "merge", key=("id",))
    assert "The target is unchanged." in str(caught.value)  # made anew by Polars: the hint is in the text
    assert_frame_equal(read(fmt, tmp_path), before)


# --- atomicity, faults, cancellation ----------------------------------------------------------------------


def _prepare(fmt: str, root: Path, layout: str) -> None:
    if layout == "file":
        write(fmt, root, FIRST)
    else:
        write(fmt, root, FIRST, "append")
        write(fmt, root, SECOND, "append")


@pytest.mark.parametrize("layout", ["file", "parts"])
@pytest.mark.parametrize(
    ("mode", "step"),
    [
        ("replace", "write.before_commit"),
        ("append", "write.before_commit"),
        ("merge", "write.before_commit"),
        ("replace", "write.between_renames"),  # appends have no second rename
        ("merge", "write.between_renames"),
    ],
)
def test_injected_fault_leaves_the_target_byte_for_byte(
    fmt: str, tmp_path: Path, lake: Path, monkeypatch: pytest.MonkeyPatch, mode: str, layout: str, step: str
) -> None:
    _prepare(fmt, tmp_path, layout)
    before = snapshot(lake)
    monkeypatch.setenv("HYGGE_FAULT", f"other.step, {step}")
    seen: list[int] = []
    new = SECOND.with_columns(id=pl.col("id") + 100)
    with pytest.raises(FlowError, match=f"injected fault at {step}"):
        write(fmt, tmp_path, new, mode, key=("id",), on_commit=seen.append)
    assert snapshot(lake) == before
    assert not hidden_leftovers(lake)
    if step == "write.before_commit":
        assert seen == []


def test_fault_after_commit_keeps_the_new_data_and_the_next_write_cleans_up(
    fmt: str, tmp_path: Path, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prepare(fmt, tmp_path, "parts")
    monkeypatch.setenv("HYGGE_FAULT", "write.after_commit")
    with pytest.raises(FlowError, match="injected fault at write.after_commit"):
        write(fmt, tmp_path, SECOND)
    assert_frame_equal(read(fmt, tmp_path), SECOND)
    assert [p.name.endswith(".replaced") for p in lake.iterdir() if p.name.startswith(".")] == [True]
    monkeypatch.delenv("HYGGE_FAULT")
    write(fmt, tmp_path, FIRST, "append")
    assert_frame_equal(read(fmt, tmp_path), pl.concat([SECOND, FIRST]))
    assert not hidden_leftovers(lake)


def test_cancelled_write_leaves_the_target_unchanged(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST)
    before = snapshot(lake)
    for mode in ("replace", "append", "merge"):
        request = WriteRequest(flow="orders", target="orders", mode=mode, key=("id",))
        request.cancel.set()
        with pytest.raises(Cancelled, match="interrupted before writing target 'orders'"):
            make_store(fmt, tmp_path).write(SECOND.lazy(), request)
        assert snapshot(lake) == before


def test_failing_source_leaves_the_target_unchanged(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST)
    before = snapshot(lake)
    broken = pl.LazyFrame({"id": ["1", "x"]}).select(pl.col("id").cast(pl.Int64, strict=True))
    store = make_store(fmt, tmp_path)
    # The source's own error (the flow names the source and the target: test_runner_faults)
    with pytest.raises(pl.exceptions.InvalidOperationError, match="conversion from `str` to `i64` failed"):
        store.write(broken, WriteRequest(flow="orders", target="orders"))
    assert snapshot(lake) == before


def test_temp_files_are_not_read_and_stale_ones_are_removed(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST)
    stale = lake / f".orders.{fmt}.{'a' * 32}.tmp"
    fresh = lake / f".orders.{fmt}.{'b' * 32}.tmp"
    other = lake / f".orders2.{fmt}.{'c' * 32}.tmp"
    for path in (stale / f"orders.{fmt}", fresh, other):
        write_file(fmt, path, SECOND)
    old = time.time() - timedelta(hours=1).total_seconds()
    for path in (stale / f"orders.{fmt}", stale, other):
        os.utime(path, (old, old))
    assert_frame_equal(read(fmt, tmp_path), FIRST)
    write(fmt, tmp_path, SECOND, "append")
    assert not stale.exists()
    assert fresh.exists() and other.exists()


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import polars as pl
    from hygge.connectors import get_connector
    from hygge.connectors.base import WriteRequest

    fmt, root, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    connector = get_connector(fmt)
    store = connector.store("lake", connector.settings_model(type=fmt, path="data/lake"), root)
    frame = pl.LazyFrame({"id": [7, 8], "name": ["x", "y"], "amount": [0.5, 0.25]})
    store.write(frame, WriteRequest(flow="orders", target="orders", mode=mode))
    """
)


@pytest.mark.parametrize(
    ("step", "committed"),
    [("write.before_commit", False), ("write.between_renames", False), ("write.after_commit", True)],
)
def test_killed_replace_loses_and_duplicates_nothing(tmp_path: Path, step: str, committed: bool) -> None:
    fmt = "parquet"
    _prepare(fmt, tmp_path, "parts")
    old = pl.concat([FIRST, SECOND])
    new = pl.DataFrame({"id": [7, 8], "name": ["x", "y"], "amount": [0.5, 0.25]})
    env = {**os.environ, "HYGGE_KILL_AT": step}
    done = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, fmt, str(tmp_path), "replace"], env=env, capture_output=True
    )
    assert done.returncode == -9, done.stderr
    if step == "write.between_renames":
        # no visible target for a reader, never the old and new rows together
        with pytest.raises(FlowError, match="interrupted replace set the previous rows aside"):
            read(fmt, tmp_path)
    else:
        assert_frame_equal(read(fmt, tmp_path), new if committed else old)
    # the next write finishes or undoes the interrupted one
    write(fmt, tmp_path, FIRST, "append")
    assert_frame_equal(read(fmt, tmp_path), pl.concat([new if committed else old, FIRST]))
    assert not [p for p in (tmp_path / "data" / "lake").rglob(".*") if not p.name.endswith(".tmp")]


# --- identity and paths -----------------------------------------------------------------------------------


def test_store_target_and_home_source_have_one_location(fmt: str, tmp_path: Path) -> None:
    home, store = make_home(fmt, tmp_path), make_store(fmt, tmp_path)
    lake = (tmp_path / "data" / "lake").resolve()
    assert store.location("orders") == f"file:{lake.as_posix()}/orders.{fmt}"
    assert home.location("orders") == store.location("orders")
    assert home.location(f"orders.{fmt}") == store.location("orders")
    assert home.location("sub/orders") == store.location("sub/orders")
    assert home.location("customers") != store.location("orders")
    other = "csv" if fmt != "csv" else "parquet"
    assert make_home(other, tmp_path).location("orders") != store.location("orders")
    glob = home.location(f"ord*.{fmt}")
    assert glob == f"file:{lake.as_posix()}/ord*.{fmt}"
    assert fnmatch.fnmatchcase(store.location("orders"), glob)


def test_absolute_path_setting(fmt: str, tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    connector = get_connector(fmt)
    settings = connector.settings_model.model_validate({"type": fmt, "path": str(folder)})
    store = connector.store("lake", settings, tmp_path / "project")
    store.write(FIRST.lazy(), WriteRequest(flow="orders", target="orders"))
    assert (folder / f"orders.{fmt}").is_file()
    home = connector.home("lake", settings, tmp_path / "project")
    assert_frame_equal(home.read(ReadRequest(flow="orders", source="orders")).collect(), FIRST)


def test_watch_and_output_paths(fmt: str, tmp_path: Path) -> None:
    lake = tmp_path / "data" / "lake"
    expected = [lake / f"orders.{fmt}", lake / "orders"]
    assert make_store(fmt, tmp_path).output_paths("orders") == expected
    assert make_home(fmt, tmp_path).watch_paths("orders") == expected
    assert make_home(fmt, tmp_path).watch_paths(f"drops/*/x.{fmt}") == [lake / "drops"]


def test_settings_are_validated(fmt: str) -> None:
    model = get_connector(fmt).settings_model
    with pytest.raises(ValueError, match="'gs://' locations are not supported"):
        model.model_validate({"type": fmt, "path": "gs://bucket/lake"})
    with pytest.raises(ValueError, match="in lower case"):
        model.model_validate({"type": fmt, "path": "S3://bucket/lake"})
    with pytest.raises(ValueError, match="names its bucket"):
        model.model_validate({"type": fmt, "path": "s3:///lake"})
    with pytest.raises(ValueError, match="s3: options apply to an s3:// path only"):
        model.model_validate({"type": fmt, "path": "data/lake", "s3": {"region": "eu-west-1"}})
    with pytest.raises(ValueError, match="extra"):
        model.model_validate({"type": fmt, "path": "s3://bucket/lake", "s3": {"regoin": "eu-west-1"}})
    assert model.model_validate({"type": fmt, "path": "s3://bucket/lake"}).s3 is None
    with pytest.raises(ValueError, match="extra"):
        model.model_validate({"type": fmt, "path": "x", "colour": "red"})
    assert get_connector(fmt).template_settings["path"].startswith("data/")


def test_check(fmt: str, tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="data/lake does not exist"):
        make_home(fmt, tmp_path).check()
    make_store(fmt, tmp_path).check()  # created on first write
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lake").write_text("")
    with pytest.raises(FlowError, match="is a file, not a folder"):
        make_store(fmt, tmp_path).check()


def test_csv_options_round_trip(tmp_path: Path) -> None:
    options = {"separator": ";", "null_values": ["NA"]}
    frame = pl.DataFrame({"id": [1, 2], "name": ["a;b", None]})
    store = make_store("csv", tmp_path, **options)
    store.write(frame.lazy(), WriteRequest(flow="orders", target="orders"))
    assert (tmp_path / "data" / "lake" / "orders.csv").read_text() == 'id;name\n1;"a;b"\n2;NA\n'
    home = make_home("csv", tmp_path, **options)
    assert_frame_equal(home.read(ReadRequest(flow="orders", source="orders")).collect(), frame)


# --- schema evolution -------------------------------------------------------------------------------------


def test_append_with_an_added_column_reads_back(fmt: str, tmp_path: Path) -> None:
    write(fmt, tmp_path, FIRST, "append")
    write(fmt, tmp_path, SECOND.with_columns(note=pl.lit("n")), "append")
    expected = pl.concat([FIRST, SECOND.with_columns(note=pl.lit("n"))], how="diagonal")
    assert_frame_equal(read(fmt, tmp_path), expected)


def test_append_with_an_added_column_under_fail_is_an_error(fmt: str, tmp_path: Path) -> None:
    write(fmt, tmp_path, FIRST, "append")
    with pytest.raises(FlowError, match="on_schema_change: fail") as caught:
        write(fmt, tmp_path, SECOND.with_columns(note=pl.lit("n")), "append", on_schema_change="fail")
    assert "! note" in caught.value.message


def test_append_with_a_dropped_column_shows_the_difference(fmt: str, tmp_path: Path, lake: Path) -> None:
    write(fmt, tmp_path, FIRST, "append")
    before = snapshot(lake)
    with pytest.raises(FlowError) as caught:
        write(fmt, tmp_path, SECOND.drop("amount"), "append")
    message = caught.value.message
    assert "the data does not fit target 'orders' (on_schema_change: append_new_columns)" in message
    assert "column  target   incoming  verdict" in message
    assert "! amount  Float64  -         dropped: missing from the data" in message
    assert "(2 other columns match)" in message
    assert snapshot(lake) == before


def test_append_under_ignore_fills_and_drops(fmt: str, tmp_path: Path) -> None:
    write(fmt, tmp_path, FIRST, "append")
    changed = SECOND.drop("amount").with_columns(note=pl.lit("n"))
    write(fmt, tmp_path, changed, "append", on_schema_change="ignore")
    # A csv part whose column holds no values reads as String there, and takes the other parts' type.
    expected = pl.concat([FIRST, SECOND.with_columns(amount=pl.lit(None, pl.Float64))])
    assert_frame_equal(read(fmt, tmp_path), expected)


def test_narrowing_a_column_is_an_error(fmt: str, tmp_path: Path) -> None:
    write(fmt, tmp_path, FIRST, "append")
    floats = SECOND.with_columns(pl.col("id").cast(pl.Float64) + 0.5)
    with pytest.raises(FlowError, match=r"! id\s+Int64\s+Float64\s+does not fit: Int64 cannot hold Float64"):
        write(fmt, tmp_path, floats, "append")
    with pytest.raises(FlowError, match="does not fit"):
        write(fmt, tmp_path, floats, "merge", key=("name",))


def test_parquet_keeps_exact_types_and_widens(tmp_path: Path) -> None:
    narrow = FIRST.with_columns(pl.col("id").cast(pl.Int32))
    write("parquet", tmp_path, narrow, "append")
    with pytest.raises(FlowError, match="Int32 cannot hold Int64"):
        write("parquet", tmp_path, SECOND, "append")
    write("parquet", tmp_path, SECOND.with_columns(pl.col("id").cast(pl.Int16)), "append")
    expected = pl.concat([narrow, SECOND.with_columns(pl.col("id").cast(pl.Int32))])
    assert_frame_equal(read("parquet", tmp_path), expected)


def test_merge_with_an_added_column(fmt: str, tmp_path: Path) -> None:
    write(fmt, tmp_path, FIRST)
    write(fmt, tmp_path, SECOND.with_columns(note=pl.lit("n")).head(1), "merge", key=("id",))
    result = read(fmt, tmp_path).sort("id")
    assert result.columns == ["id", "name", "amount", "note"]
    assert result["note"].to_list() == [None, None, None, "n"]


# --- temporal values in text formats ----------------------------------------------------------------------

STAMPS = pl.DataFrame(
    {
        "us": [dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 1, 2, 12, 0, 0, 5)],
        "ms": pl.Series([dt.datetime(2024, 1, 1, 12, 0, 0, 120000)] * 2, dtype=pl.Datetime("ms")),
        "zoned": pl.Series([dt.datetime(2024, 3, 31, 1), dt.datetime(2024, 3, 31, 3)]).dt.replace_time_zone(
            "Europe/Amsterdam"
        ),
        "day": [dt.date(2024, 1, 1)] * 2,
        "at": [dt.time(1, 2, 3, 4)] * 2,
    }
).with_columns(ns=pl.col("us").cast(pl.Datetime("ns")).dt.offset_by("7ns"))
STAMPS_TEXT = [
    {
        "us": "2024-01-01T12:00:00.000000",
        "ms": "2024-01-01T12:00:00.120",
        "zoned": "2024-03-31T00:00:00.000000+00:00",
        "day": "2024-01-01",
        "at": "01:02:03.000004000",
        "ns": "2024-01-01T12:00:00.000000007",
    },
    {
        "us": "2024-01-02T12:00:00.000005",
        "ms": "2024-01-01T12:00:00.120",
        "zoned": "2024-03-31T01:00:00.000000+00:00",
        "day": "2024-01-01",
        "at": "01:02:03.000004000",
        "ns": "2024-01-02T12:00:00.000005007",
    },
]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_text_formats_write_temporal_values_in_one_sortable_form(fmt: str, tmp_path: Path) -> None:
    # The first write and appends cast to the target's String columns must agree, or max() and merge keys break.
    write(fmt, tmp_path, STAMPS, "append")
    write(fmt, tmp_path, STAMPS, "append")
    result = read(fmt, tmp_path)
    assert result.schema == pl.Schema(dict.fromkeys(STAMPS.columns, pl.String))
    assert result.to_dicts() == STAMPS_TEXT * 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_merge_on_a_timestamp_key_is_idempotent(fmt: str, tmp_path: Path) -> None:
    frame = STAMPS.select("us", "zoned", v=pl.Series([1, 2]))
    for _ in range(3):
        assert write(fmt, tmp_path, frame, "merge", key=("us",)).rows == 2
    assert write(fmt, tmp_path, frame, "merge", key=("zoned",)).rows == 2
    result = read(fmt, tmp_path)
    expected = frame if fmt == "parquet" else pl.DataFrame([{k: r[k] for k in ("us", "zoned")} for r in STAMPS_TEXT])
    assert_frame_equal(result.drop("v"), expected.drop("v", strict=False))


def test_parquet_keeps_temporal_types(tmp_path: Path) -> None:
    write("parquet", tmp_path, STAMPS, "append")
    write("parquet", tmp_path, STAMPS, "append")
    assert_frame_equal(read("parquet", tmp_path), pl.concat([STAMPS, STAMPS]))


def test_csv_home_reads_text_written_by_a_csv_store(tmp_path: Path) -> None:
    write("csv", tmp_path, STAMPS)
    home = make_home("csv", tmp_path)
    request = ReadRequest(
        flow="orders", source="orders", incremental=Incremental(cursor="ns", after=STAMPS_TEXT[0]["ns"])
    )
    assert home.read(request).collect()["ns"].to_list() == [STAMPS_TEXT[1]["ns"]]


def test_appending_integers_a_float_column_cannot_hold_exactly_is_an_error(tmp_path: Path, lake: Path) -> None:
    # A double holds integers up to 2**53 exactly: 2**53 + 1 would be stored as 2**53. Whole numbers it holds
    # (a price column meeting "7" in a text file) are appended as floats.
    write("parquet", tmp_path, FIRST, "append")
    before = snapshot(lake)
    with pytest.raises(FlowError, match=r"column 'amount' holds 9007199254740993, which a Float64 column"):
        write("parquet", tmp_path, SECOND.with_columns(amount=pl.Series([1, 2**53 + 1])), "append")
    assert snapshot(lake) == before
    write("parquet", tmp_path, SECOND.with_columns(amount=pl.Series([7, 1])), "append")
    assert read("parquet", tmp_path)["amount"].to_list()[-2:] == [7.0, 1.0]


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_headerless_csv_refuses_append_and_merge(tmp_path: Path, lake: Path, mode: str) -> None:
    # Read back, a header-less file's columns are column_1, column_2...: no later write would match them.
    store = make_store("csv", tmp_path, has_header=False)
    store.write(FIRST.lazy(), WriteRequest(flow="orders", target="orders"))
    before = snapshot(lake)
    with pytest.raises(FlowError, match="with has_header: false its files do not name their columns") as caught:
        store.write(SECOND.lazy(), WriteRequest(flow="orders", target="orders", mode=mode, key=("id",)))  # type: ignore[arg-type]
    assert "mode: replace" in str(caught.value.hint)
    assert snapshot(lake) == before


def test_a_target_outside_the_store_folder_is_refused(fmt: str, tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="target '../../escape' is outside store") as caught:
        write(fmt, tmp_path, FIRST, target="../../escape")
    assert "inside the store's path" in str(caught.value.hint)
    assert not list(tmp_path.rglob("escape*"))
    write(fmt, tmp_path, FIRST, target="sub/orders")  # a sub-folder is inside
