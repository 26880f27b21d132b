"""The benchmark's smoke run: tiny data, one run, every output checked (no timings are asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from databases import postgres_problem

REPO = Path(__file__).resolve().parents[1]
LOCAL_MOVES = [
    "csv-parquet",
    "parquet-parquet",
    "ndjson-parquet",
    "sqlite-parquet",
    "parquet-sqlite",
    "duckdb-parquet",
    "parquet-duckdb",
]
POSTGRES_MOVES = ["postgres-parquet", "parquet-postgres", "postgres-postgres"]


@pytest.mark.slow
def test_bench_smoke_checks_every_output(tmp_path: Path) -> None:
    # Under CI=true PostgreSQL must be there, so its moves are asked for and must run.
    with_postgres = postgres_problem() is None or os.environ.get("CI") == "true"
    moves = LOCAL_MOVES + (POSTGRES_MOVES if with_postgres else [])
    results = tmp_path / "results.json"
    command = [sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--moves", ",".join(moves)]
    command += ["--data-dir", str(tmp_path / "data"), "--json", str(results)]
    env = {k: v for k, v in os.environ.items() if k != "BENCH_SCANNER_PYTHON"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = json.loads(results.read_text())["moves"]
    verified = {(r["move"], r["tool"]) for r in rows if r["verified"]}
    for move in moves:
        assert (move, "hygge") in verified, f"{move}: hygge's output was not verified"
        assert any(m == move and t.startswith("raw:") for m, t in verified), f"{move}: no raw candidate verified"
