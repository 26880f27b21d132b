"""Exactly once, proven: incremental runs killed at chosen steps and at random times, then rerun.

Each sequence keeps adding (and, for merge, updating) source rows between runs; after every completed run the
target must equal the source row for row. Runs are real `hygge` processes killed with SIGKILL, as a power cut
would, or interrupted with SIGINT, as a user would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from conftest import build_project
from polars.testing import assert_frame_equal
from stores import STORES, StoreKind

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "hygge"
STEPS = ["flow.start", "write.batch", "write.before_commit", "write.between_renames", "write.after_commit"]


@dataclass
class Source:
    """The source table: rows get added, and for merge some get updated (their cursor moves)."""

    root: Path
    merge: bool
    rng: random.Random
    frame: pl.DataFrame | None = None
    next_id: int = 1
    seq: int = 0

    def grow(self) -> None:
        new = self.rng.randint(1, 40)
        ids = list(range(self.next_id, self.next_id + new))
        self.next_id += new
        added = pl.DataFrame(
            {"id": ids, "seq": [self._tick() for _ in ids], "value": [f"v{i}" for i in ids]},
            schema={"id": pl.Int64, "seq": pl.Int64, "value": pl.String},
        )
        frame = added if self.frame is None else pl.concat([self.frame, added])
        if self.merge and self.frame is not None:
            changed = self.rng.sample(range(self.frame.height), k=min(5, self.frame.height))
            marks = pl.Series("row", range(frame.height)).is_in(changed)
            new_seqs = [self._tick() if m else s for m, s in zip(marks, frame["seq"], strict=True)]
            frame = frame.with_columns(
                seq=pl.Series(new_seqs, dtype=pl.Int64),
                value=pl.when(marks).then(pl.col("value") + "*").otherwise(pl.col("value")),
            )
        self.frame = frame
        (self.root / "data" / "src").mkdir(parents=True, exist_ok=True)
        tmp = self.root / "data" / "src" / ".events.parquet.tmp"
        frame.write_parquet(tmp)
        tmp.replace(self.root / "data" / "src" / "events.parquet")

    def _tick(self) -> int:
        self.seq += 1
        return self.seq


def hygge_run(root: Path, env: dict[str, str] | None = None, kill_after: float | None = None) -> int:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [str(BIN), "run", "--all"], cwd=root, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(timeout=120)
    return proc.returncode


def make_project(tmp_path: Path, store: StoreKind, mode: str) -> Path:
    key = "key: [id]\n" if mode == "merge" else ""
    return build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: exactly_once\n",
            "homes/src.yml": "type: parquet\npath: data/src\n",
            "stores/out.yml": store.store_yaml(tmp_path),
            "flows/events.yml": f"home: src\nstore: out\ntarget: {store.target(tmp_path)}\n"
            f"incremental: {{cursor: seq}}\nmode: {mode}\n{key}",
        },
    )


def assert_target_is_source(store: StoreKind, tmp_path: Path, root: Path, source: Source) -> None:
    assert source.frame is not None
    got = store.read_target(tmp_path, root).select("id", "seq", "value").sort("id")
    assert_frame_equal(got, source.frame.sort("id"), check_dtypes=False)


@pytest.mark.parametrize("mode", ["append", "merge"])
@pytest.mark.parametrize("store", STORES, ids=lambda s: s.name)
def test_killed_at_every_step_then_rerun_gives_exactly_the_source(
    tmp_path: Path, store: StoreKind, mode: str, request: pytest.FixtureRequest
) -> None:
    store.require()
    request.addfinalizer(lambda: store.cleanup(tmp_path))
    root = make_project(tmp_path, store, mode)
    source = Source(root, mode == "merge", random.Random(f"{store.name}-{mode}"))
    for step in STEPS:
        source.grow()
        hygge_run(root, env={"HYGGE_KILL_AT": step})
        source.grow()
        assert hygge_run(root) == 0
        assert_target_is_source(store, tmp_path, root, source)


@pytest.mark.parametrize("mode", ["append", "merge"])
@pytest.mark.parametrize("store", STORES, ids=lambda s: s.name)
def test_killed_at_random_times_then_rerun_gives_exactly_the_source(
    tmp_path: Path, store: StoreKind, mode: str, request: pytest.FixtureRequest
) -> None:
    store.require()
    request.addfinalizer(lambda: store.cleanup(tmp_path))
    root = make_project(tmp_path, store, mode)
    rng = random.Random(f"random-{store.name}-{mode}")
    source = Source(root, mode == "merge", rng)
    for _ in range(6):
        for _ in range(rng.randint(1, 3)):
            source.grow()
            hygge_run(root, kill_after=rng.uniform(0.05, 1.2))
        assert hygge_run(root) == 0
        assert_target_is_source(store, tmp_path, root, source)


@pytest.mark.parametrize("store", STORES, ids=lambda s: s.name)
def test_sigint_exits_cleanly_and_leaves_the_target_as_before(
    tmp_path: Path, store: StoreKind, request: pytest.FixtureRequest
) -> None:
    store.require()
    request.addfinalizer(lambda: store.cleanup(tmp_path))
    root = make_project(tmp_path, store, "append")
    source = Source(root, False, random.Random(1))
    source.grow()
    assert hygge_run(root) == 0
    before = store.read_target(tmp_path, root).sort("id")
    source.grow()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    env["HYGGE_PAUSE_AT"] = "flow.start:3"
    proc = subprocess.Popen(
        [str(BIN), "run", "--all"], cwd=root, env=env, stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint
    )
    wait_for_line(proc, "START events")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "Interrupted" in out
    assert_frame_equal(store.read_target(tmp_path, root).sort("id"), before)
    assert hygge_run(root) == 0
    assert_target_is_source(store, tmp_path, root, source)


def default_sigint() -> None:
    # pytest-xdist workers ignore SIGINT, and children inherit that; a user's terminal does not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = 30) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            time.sleep(0.2)
            return
    raise AssertionError(f"never saw {text!r}")
