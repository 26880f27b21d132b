"""csv and ndjson stores keep their columns' types across runs: what a run reads back of the target (to add to or
merge into) has the types that were written, and files without values (no rows, a column of nulls) change none."""

from __future__ import annotations

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


def text_store_project(
    project: Make, fmt: str, mode: str, source: pl.DataFrame, files: dict[str, str | bytes] | None = None
) -> Path:
    root = project(
        {
            "homes/drops.yml": PARQUET_DROPS,
            "stores/out.yml": f"type: {fmt}\npath: data/out\n",
            "flows/orders.yml": f"store: out\nmode: {mode}\n" + ("key: [id]\n" if mode == "merge" else ""),
            **(files or {}),
        }
    )
    (root / "data/drops").mkdir(parents=True, exist_ok=True)
    source.write_parquet(root / "data/drops/orders.parquet")
    return root


def store_lines(root: Path, fmt: str) -> list[str]:
    files = [root / f"data/out/orders.{fmt}", *sorted((root / "data/out/orders").glob(f"*.{fmt}"))]
    return [line for path in files if path.is_file() for line in path.read_text().splitlines()]


# --- 5. the rows a merge reports -------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["csv", "ndjson", "parquet", "sqlite"])
def test_a_merge_reports_the_rows_this_run_moved(project: Make, hygge: Hygge, store: str) -> None:
    # File stores reported the target's rows after the merge; database stores report the rows of the run.
    path = "path: data/out\n" if store != "sqlite" else "path: data/out.db\n"
    root = project(
        {
            "stores/out.yml": f"type: {store}\n{path}",
            "data/drops/orders.csv": "id,amount\n1,1.5\n2,2.5\n3,3.5\n",
            "flows/orders.yml": "store: out\nmode: merge\nkey: [id]\n",
        }
    )
    assert ok_rows(hygge("run", "--all", cwd=root)) == 3
    (root / "data/drops/orders.csv").write_text("id,amount\n3,4.5\n4,5.5\n")
    assert ok_rows(hygge("run", "--all", cwd=root)) == 2
    history = hygge("history", "orders", cwd=root).stdout
    rows = re.findall(r"│ ok\s+│ (\d+)", history)
    assert sorted(rows) == ["2", "3"], history
