"""A flow that fails inside a library fails alone: its target unchanged, the journal closed, the rest run."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import polars as pl

Make = Callable[..., Path]
Hygge = Callable[..., subprocess.CompletedProcess[str]]


def test_a_polars_panic_fails_its_flow_only(project: Make, hygge: Hygge) -> None:
    # Polars panics (a BaseException) writing a binary column as JSON: that flow fails with its name and a
    # hint, the other flow still moves, and the journal records the failure instead of 'running' forever.
    buffer = io.BytesIO()
    pl.DataFrame({"id": [1], "blob": [b"\x00\x01"]}).write_parquet(buffer)
    root = project(
        {
            "homes/files.yml": "type: parquet\npath: data/files\n",
            "stores/events.yml": "type: ndjson\npath: data/events\n",
            "data/files/blobs.parquet": buffer.getvalue(),
            "flows/blobs.yml": "home: files\nstore: events\n",
            "flows/orders.yml": "{}\n",
        }
    )
    (root / "data/events").mkdir(parents=True)
    (root / "data/events/blobs.ndjson").write_text('{"id":7}\n')
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 1, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert "Traceback" not in output
    assert "flow blobs" in output and "Polars stopped" in output and "cast or leave out" in output
    assert "OK    orders" in run.stdout
    assert (root / "data/events/blobs.ndjson").read_text() == '{"id":7}\n'
    history = hygge("history", "blobs", cwd=root)
    assert "failed" in history.stdout and "running" not in history.stdout


def test_bad_source_data_names_the_source_and_the_target(project: Make, hygge: Hygge) -> None:
    # Polars fails while the store writes, but the fault is the source's: the error names both ends, suggests
    # what to check (not Polars' own Python settings), and the target stays as it was.
    root = project({"flows/orders.yml": "{}\n"})
    assert hygge("run", "orders", cwd=root).returncode == 0
    before = (root / "data/lake/orders.parquet").read_bytes()
    (root / "data/drops/orders.csv").write_bytes(b"id,amount\n1,10.5\n2,caf\xe9\n")
    run = hygge("run", "orders", cwd=root)
    assert run.returncode == 1
    message = " ".join(run.stdout.split())
    assert "flow orders could not move drops:orders to lake:orders: invalid utf-8 sequence." in message
    assert "set encoding: utf8-lossy in the home" in message and "The target is unchanged." in message
    assert "could not write" not in message and "infer_schema_length" not in message
    assert (root / "data/lake/orders.parquet").read_bytes() == before
