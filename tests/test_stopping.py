"""A stopped run (Ctrl-C, --fail-fast) stops its running flows at their next batch, not after reading the whole
source, and their targets stay as they were."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from conftest import spawn_hygge

Make = Callable[..., Path]
Hygge = Callable[..., subprocess.CompletedProcess[str]]
BIN = Path(sys.executable).parent / "hygge"

# 200 batches of 100 rows, each read pausing 0.2 s: a run that reads it all takes 40 s or more.
ROWS, BATCH = 20_000, 100
SLOW = {"HYGGE_PAUSE_AT": "read.batch:0.2"}


def slow_project(project: Make, store: str) -> Path:
    stores = {
        "parquet": "type: parquet\npath: data/out\n",
        "sqlite": "type: sqlite\npath: data/out.sqlite\n",
        "duckdb": "type: duckdb\npath: data/out.duckdb\n",
    }
    root = project(
        {
            "homes/shop.yml": "type: sqlite\npath: data/shop.sqlite\n",
            "stores/out.yml": stores[store],
            "flows/big.yml": f"home: shop\nstore: out\nmode: append\nbatch_size: {BATCH}\n",
        }
    )
    with sqlite3.connect(root / "data/shop.sqlite") as db:
        db.execute("CREATE TABLE big (id INTEGER, note TEXT)")
        db.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) "
            "INSERT INTO big SELECT i, 'row ' || i FROM n"
        )
    return root


def rows_in(root: Path, store: str) -> int:
    if store == "parquet":
        files = list((root / "data/out").rglob("*.parquet"))
        return pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0
    if store == "sqlite":
        with sqlite3.connect(root / "data/out.sqlite") as db:
            if not db.execute("SELECT 1 FROM sqlite_schema WHERE name = 'big'").fetchall():
                return 0
            return int(db.execute("SELECT count(*) FROM big").fetchone()[0])
    import duckdb

    with duckdb.connect(str(root / "data/out.duckdb"), read_only=True) as db:
        row = db.execute("SELECT count(*) FROM big").fetchone()
        return int(row[0]) if row else 0


def start(root: Path, *args: str) -> subprocess.Popen[str]:
    return spawn_hygge("run", *args, cwd=root, env=SLOW)


def interrupt_while_reading(proc: subprocess.Popen[str], flow: str) -> str:
    """Ctrl-C once `flow` has started and some batches are through; all the output, once hygge has exited."""
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # ends early if hygge exits first
        seen.append(line)
        if line.startswith(f"START {flow}"):
            break
    time.sleep(0.5)  # into the read: a batch takes 0.2 s
    proc.send_signal(signal.SIGINT)
    # Reading the rest would take 40 s; a stop at the next batch takes well under a second.
    proc.wait(timeout=20)
    return "".join(seen) + proc.stdout.read()


@pytest.mark.parametrize(
    "store",
    [
        "parquet",
        # Slow: twins. Ctrl-C itself is [parquet]'s; a database store stopped at its next batch rolls back in
        # test_fail_fast_stops_the_other_running_flows (SQLite, the same path DuckDB's store takes), and each
        # database's rollback of a stopped or failing write is in test_databases.py
        # (test_a_cancelled_run_leaves_the_target_unchanged, test_an_injected_fault_leaves_the_target_unchanged).
        pytest.param("sqlite", marks=pytest.mark.slow),
        pytest.param("duckdb", marks=pytest.mark.slow),
    ],
)
def test_ctrl_c_stops_a_long_read_at_its_next_batch(project: Make, hygge: Hygge, store: str) -> None:
    root = slow_project(project, store)
    assert hygge("run", "big", cwd=root).returncode == 0  # a first load, so the target has rows to keep
    assert rows_in(root, store) == ROWS
    proc = start(root, "big")
    out = interrupt_while_reading(proc, "big")
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    assert "interrupted" in out.lower()
    assert rows_in(root, store) == ROWS  # the append rolled back


def test_fail_fast_stops_the_other_running_flows(project: Make) -> None:
    root = slow_project(project, "sqlite")
    (root / "flows/broken.yml").write_text("source: no_such_file\n")
    proc = start(root, "--all", "--fail-fast")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1, out
    assert "no_such_file" in out
    assert "big" in out and "interrupted" in out.lower()
    assert rows_in(root, "sqlite") == 0  # the first load of big rolled back: no rows, not some
