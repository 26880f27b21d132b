"""Shared test helpers: real project folders in tmp_path and the real `hygge` command."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from databases import db, duckdb_db, postgres_db, sqlite_db  # noqa: F401  (fixtures of the database tests)
from s3server import bucket, s3_endpoint  # noqa: F401  (fixtures of the S3 tests)

BIN = Path(sys.executable).parent / "hygge"


def build_project(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `{relative path: content}` under root (YAML text is dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Any]) -> tuple[Path, Any]:
    """`make(folder)` once per test run, even when xdist workers both need it (they share the run's temporary
    folder and take turns by a lock), for fixtures that build something tests only read. Returns the folder and
    what `make` returned (kept as JSON for the other workers)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder; each worker's own is below it
    folder, made = base / name, base / f"{name}.json"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.exists():
            folder.mkdir()
            made.write_text(json.dumps(make(folder)))
    return folder, json.loads(made.read_text())


def run_hygge(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed `hygge` command as a user would."""
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "hygge.cli"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    full_env.update(env or {})
    return subprocess.run([*command, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def spawn_hygge(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the installed `hygge` command as a user's terminal would (output merged), to signal while it runs."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "200", **(env or {})})
    return subprocess.Popen(
        [str(BIN), *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # xdist workers ignore SIGINT
    )


# A small project most tests start from: CSV drops into a Parquet lake.
BASE: dict[str, str | bytes] = {
    "hygge.yml": """
        name: test_project
        defaults:
          home: drops
          store: lake
    """,
    "homes/drops.yml": """
        type: csv
        path: data/drops
    """,
    "stores/lake.yml": """
        type: parquet
        path: data/lake
    """,
    "data/drops/orders.csv": "id,amount\n1,10.5\n2,20.0\n3,7.25\n",
    "data/drops/customers.csv": "id,name\n1,Ada\n2,Bo\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """`project({"flows/orders.yml": "..."})` builds BASE plus the given files and returns its root."""

    def make(files: dict[str, str | bytes] | None = None, *, base: bool = True) -> Path:
        return build_project(tmp_path / "proj", {**(BASE if base else {}), **(files or {})})

    return make


@pytest.fixture
def hygge() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_hygge
