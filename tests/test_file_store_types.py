"""csv and ndjson stores keep their columns' types across runs: what a run reads back of the target (to add to or
merge into) has the types that were written, and files without values (no rows, a column of nulls) change none."""

from __future__ import annotations

import decimal
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

Make = Callable[..., Path]
Hygge = Callable[..., subprocess.CompletedProcess[str]]

PARQUET_DROPS = "type: parquet\npath: data/drops\n"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def ok_rows(run: subprocess.CompletedProcess[str], flow: str = "orders") -> int:
    """The rows the run reports for `flow`, asserting that it succeeded."""
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(rf"^OK\s+{flow}\s+(\d+) rows", run.stdout, re.MULTILINE)
    assert found, run.stdout
    return int(found.group(1))


def failure(run: subprocess.CompletedProcess[str], flow: str) -> str:
    """What the run says of `flow`, which failed: its FAIL line and the lines under it."""
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"FAIL\s+{flow}\s", line)), None)
    assert start is not None, run.stdout
    end = next((i for i in range(start + 1, len(lines)) if not lines[i] or lines[i][:1] != " "), len(lines))
    return "\n".join(lines[start:end])


MODES = ("append", "merge")


def mode_flow(
    mode: str, target: str | None = None, *, store: str = "out", source: str = "orders", key: bool = False
) -> str:
    """A flow of `source` into `target` (`{source}_{mode}`) of `store`, keyed on id when it merges (or `key`)."""
    target = target or f"{source}_{mode}"
    keyed = "key: [id]\n" if key or mode == "merge" else ""
    return f"source: {source}\nstore: {store}\ntarget: {target}\nmode: {mode}\n{keyed}"


def text_store_project(
    project: Make, fmt: str, flows: dict[str, str], source: pl.DataFrame, files: dict[str, str | bytes] | None = None
) -> Path:
    root = project(
        {
            "homes/drops.yml": PARQUET_DROPS,
            "stores/out.yml": f"type: {fmt}\npath: data/out\n",
            **{f"flows/{name}.yml": text for name, text in flows.items()},
            **(files or {}),
        }
    )
    (root / "data/drops").mkdir(parents=True, exist_ok=True)
    source.write_parquet(root / "data/drops/orders.parquet")
    return root


def store_lines(root: Path, fmt: str, target: str = "orders") -> list[str]:
    files = [root / f"data/out/{target}.{fmt}", *sorted((root / f"data/out/{target}").glob(f"*.{fmt}"))]
    return [line for path in files if path.is_file() for line in path.read_text().splitlines()]


# --- 1. a column without values in a new part ------------------------------------------------------------


def test_a_part_whose_column_holds_no_values_keeps_the_column_type(project: Make, hygge: Hygge) -> None:
    # The part's csv text tells no type for the column (Polars reads it as String), which made the column String
    # for every reader of the store, and later runs cast numbers to text.
    first = pl.DataFrame({"id": [1, 2], "amount": [1.5, 2.5]})
    files: dict[str, str | bytes] = {
        "homes/out.yml": "type: csv\npath: data/out\n",
        "flows/copy.yml": "home: out\nsource: orders\nstore: lake\ntarget: copy\n",
    }
    root = text_store_project(project, "csv", {"orders": "store: out\nmode: append\n"}, first, files)
    assert ok_rows(hygge("run", "orders", cwd=root)) == 2
    first.with_columns(pl.lit(None, pl.Float64).alias("amount")).write_parquet(root / "data/drops/orders.parquet")
    assert ok_rows(hygge("run", "orders", cwd=root)) == 2
    pl.DataFrame({"id": [5], "amount": [0.25]}).write_parquet(root / "data/drops/orders.parquet")
    last = hygge("run", "orders", "copy", cwd=root)  # copy reads what orders writes, so it runs after it
    assert (ok_rows(last), ok_rows(last, "copy")) == (1, 5)
    assert last.stdout.index("OK    orders") < last.stdout.index("START copy"), last.stdout
    copied = pl.read_parquet(root / "data/lake/copy.parquet")
    assert copied.schema == pl.Schema({"id": pl.Int64, "amount": pl.Float64})
    assert copied["amount"].to_list() == [1.5, 2.5, None, None, 0.25]


# --- 2. Decimal and UInt64 columns, appended or merged again ---------------------------------------------


EXACT = pl.DataFrame(
    {
        "id": pl.Series([1, 2, 3], dtype=pl.UInt64),
        "big": pl.Series([0, 2**63, 2**64 - 1], dtype=pl.UInt64),
        "price": pl.Series([decimal.Decimal(v) for v in ("1.50", "0.10", "123456789012.35")], dtype=pl.Decimal(20, 2)),
    }
)


@pytest.mark.parametrize("fmt", ["csv", pytest.param("ndjson", marks=pytest.mark.slow)])
def test_a_text_store_takes_decimal_and_uint64_columns_again(project: Make, hygge: Hygge, fmt: str) -> None:
    # Read back, the guess took them for Int64/Int128 and Float64 (csv) or text (ndjson's decimals), and the second
    # run was refused as a schema change. The values are read back as the written types, exactly. An append and a
    # merge, one flow each, share the runs.
    root = text_store_project(project, fmt, {f"orders_{mode}": mode_flow(mode) for mode in MODES}, EXACT)
    for _ in range(3):
        run = hygge("run", "--all", cwd=root)
        assert [ok_rows(run, f"orders_{mode}") for mode in MODES] == [3, 3]
    for mode in MODES:
        once = store_lines(root, fmt, f"orders_{mode}")[: 4 if fmt == "csv" else 3]
        assert store_lines(root, fmt, f"orders_{mode}") == once * (3 if mode == "append" else 1), mode
        text = "\n".join(once)
        for value in ("18446744073709551615", "9223372036854775808", "123456789012.35", "1.50", "0.10"):
            assert value in text, mode


def test_a_merge_on_a_decimal_key_matches_by_value(project: Make, hygge: Hygge) -> None:
    # The ndjson target holds the decimals as text ('1.5', as another writer left them); compared as text with the
    # new rows' '1.50' no key matched, and every merge added the rows again.
    source = pl.DataFrame({"id": pl.Series([decimal.Decimal("1.50")], dtype=pl.Decimal(10, 2)), "name": ["new"]})
    root = text_store_project(project, "ndjson", {"orders": "store: out\nmode: merge\nkey: [id]\n"}, source)
    (root / "data/out").mkdir(parents=True)
    (root / "data/out/orders.ndjson").write_text('{"id":"1.5","name":"old"}\n{"id":"2.25","name":"other"}\n')
    assert ok_rows(hygge("run", "--all", cwd=root)) == 1
    assert sorted(store_lines(root, "ndjson")) == ['{"id":"1.50","name":"new"}', '{"id":"2.25","name":"other"}']


def test_target_values_the_new_type_cannot_hold_exactly_are_still_a_type_change(project: Make, hygge: Hygge) -> None:
    # '1.005' is no Decimal(20, 2), and -1 no UInt64: the target keeps its guessed types, which do not fit. An
    # append and a merge, one flow each, share the run.
    root = text_store_project(project, "csv", {f"orders_{mode}": mode_flow(mode) for mode in MODES}, EXACT)
    (root / "data/out").mkdir(parents=True)
    for mode in MODES:
        (root / f"data/out/orders_{mode}.csv").write_text("id,big,price\n-1,0,1.005\n")
    before = snapshot(root / "data/out")
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 1
    for mode in MODES:
        said = failure(run, f"orders_{mode}")
        assert re.search(r"! id\s+Int64\s+UInt64\s+does not fit", said), said
        assert re.search(r"! price\s+Float64\s+Decimal\(20, 2\)\s+does not fit", said), said
    assert snapshot(root / "data/out") == before


# --- 3. a csv drop with a header and no rows -------------------------------------------------------------


@pytest.mark.parametrize("store", [pytest.param("parquet", marks=pytest.mark.slow), "csv"])
def test_a_header_only_csv_drop_moves_no_rows(project: Make, hygge: Hygge, store: str) -> None:
    # An append and a merge, one flow each (and one each into a new target), share the runs.
    root = project(
        {
            "stores/out.yml": f"type: {store}\npath: data/out\n",
            "data/drops/orders.csv": "id,amount\n1,1.5\n2,2.5\n",
            **{f"flows/orders_{mode}.yml": mode_flow(mode, key=True) for mode in MODES},
            **{f"flows/fresh_{mode}.yml": mode_flow(mode, f"fresh_{mode}", key=True) for mode in MODES},
        }
    )
    run = hygge("run", "orders_append", "orders_merge", cwd=root)
    assert [ok_rows(run, f"orders_{mode}") for mode in MODES] == [2, 2]
    before = snapshot(root / "data/out")
    (root / "data/drops/orders.csv").write_text("id,amount\n")
    run = hygge("run", "orders_append", "orders_merge", cwd=root)
    assert [ok_rows(run, f"orders_{mode}") for mode in MODES] == [0, 0]
    assert snapshot(root / "data/out") == before
    # a new target: nothing for an append, a file of the columns for a merge
    run = hygge("run", "fresh_append", "fresh_merge", cwd=root)
    assert [ok_rows(run, f"fresh_{mode}") for mode in MODES] == [0, 0]
    if store == "parquet":
        fresh = pl.read_parquet(root / "data/out/fresh_merge.parquet")
        assert fresh.columns == ["id", "amount"] and fresh.height == 0
    else:
        assert (root / "data/out/fresh_merge.csv").read_text() == "id,amount\n"
    assert not list((root / "data/out").glob("fresh_append*"))


# --- 4. an ndjson file without rows ----------------------------------------------------------------------


def test_an_empty_ndjson_file_moves_no_rows(project: Make, hygge: Hygge) -> None:
    # Zero rows are an empty ndjson file, which has no columns: append and merge found every target column
    # missing from the data (or the key), though there was nothing to write. An append and a merge, one flow each
    # at every step, share the runs.
    flows = {}
    for mode in MODES:
        flows[f"flows/orders_{mode}.yml"] = mode_flow(mode, store="lake", key=True)
        flows[f"flows/empty_{mode}.yml"] = mode_flow(mode, f"empty_{mode}", key=True)
        flows[f"flows/again_{mode}.yml"] = (
            f"home: out\nsource: empty_{mode}\ntarget: again_{mode}\nmode: merge\nkey: [id]\n"
            f"depends_on: [empty_{mode}]\n"
        )
    root = project(
        {
            "homes/drops.yml": "type: ndjson\npath: data/drops\n",
            "data/drops/orders.ndjson": '{"id":1,"name":"a"}\n',
            "stores/out.yml": "type: ndjson\npath: data/out\n",
            "homes/out.yml": "type: ndjson\npath: data/out\n",
            **flows,
        }
    )

    def moved(step: str) -> list[int]:
        run = hygge("run", *(f"{step}_{mode}" for mode in MODES), cwd=root)
        return [ok_rows(run, f"{step}_{mode}") for mode in MODES]

    assert moved("orders") == [1, 1]
    before = snapshot(root / "data/lake")
    (root / "data/drops/orders.ndjson").write_text("")
    assert moved("orders") == [0, 0]
    assert snapshot(root / "data/lake") == before
    # an ndjson store's target of no rows (an empty file when merged), read as a home in turn
    assert moved("empty") == [0, 0]
    (root / "data/out").mkdir(exist_ok=True)
    for mode in MODES:
        (root / f"data/out/empty_{mode}.ndjson").touch()
    assert moved("again") == [0, 0]


# --- 5. the rows a merge reports -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stores",
    [
        pytest.param(("csv", "sqlite"), id="csv+sqlite"),
        pytest.param(("ndjson", "parquet"), id="ndjson+parquet", marks=pytest.mark.slow),
    ],
)
def test_a_merge_reports_the_rows_this_run_moved(project: Make, hygge: Hygge, stores: tuple[str, str]) -> None:
    # File stores reported the target's rows after the merge; database stores report the rows of the run. One
    # flow into each store, sharing the runs.
    files: dict[str, str | bytes] = {"data/drops/orders.csv": "id,amount\n1,1.5\n2,2.5\n3,3.5\n"}
    for store in stores:
        path = f"data/{store}.db" if store == "sqlite" else f"data/{store}"
        files[f"stores/{store}.yml"] = f"type: {store}\npath: {path}\n"
        files[f"flows/orders_{store}.yml"] = mode_flow("merge", "orders", store=store)
    root = project(files)
    run = hygge("run", "--all", cwd=root)
    assert [ok_rows(run, f"orders_{store}") for store in stores] == [3, 3]
    (root / "data/drops/orders.csv").write_text("id,amount\n3,4.5\n4,5.5\n")
    run = hygge("run", "--all", cwd=root)
    assert [ok_rows(run, f"orders_{store}") for store in stores] == [2, 2]
    history = hygge("history", cwd=root).stdout
    for store in stores:
        rows = re.findall(rf"│ orders_{store}\s+│[^│]*│ ok\s+│ (\d+)", history)
        assert sorted(rows) == ["2", "3"], history
