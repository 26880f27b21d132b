"""hygge's fixed costs: 200 tiny flows with `--all`, `hygge --help`, and `hygge ls` on the sample project."""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Sample, run_timed

TINY_FLOWS = 200
# The measurements' names, which bench/targets.py gives their limits by.
TINY_RUN = f"{TINY_FLOWS} tiny flows: hygge run --all"
HELP = "hygge --help"
LS = "hygge ls (sample_project)"


@dataclass(frozen=True)
class Overhead:
    name: str
    median_seconds: float
    peak_rss_mb: float
    peak_anon_mb: float
    runs: int
    ok: bool
    detail: str = ""


def write_tiny_project(root: Path, flows: int = TINY_FLOWS) -> Path:
    """A project of `flows` flows, each moving a three-row CSV into a Parquet lake."""
    shutil.rmtree(root, ignore_errors=True)
    for folder in ("homes", "stores", "flows", "data/drops"):
        (root / folder).mkdir(parents=True)
    (root / "hygge.yml").write_text("name: tiny\ndefaults:\n  home: drops\n  store: lake\n")
    (root / "homes/drops.yml").write_text("type: csv\npath: data/drops\n")
    (root / "stores/lake.yml").write_text("type: parquet\npath: data/lake\n")
    for i in range(flows):
        (root / f"data/drops/t{i:03d}.csv").write_text(f"id,name,amount\n1,a{i},1.5\n2,b{i},2.5\n3,c{i},3.5\n")
        (root / f"flows/t{i:03d}.yml").write_text("tags: [tiny]\n")
    return root


def _lake_complete(root: Path, flows: int) -> bool:
    return len(list((root / "data/lake").glob("*.parquet"))) == flows


def _timed(
    name: str, command: list[str], runs: int, env: Mapping[str, str], check: Callable[[], bool] | None = None
) -> Overhead:
    samples: list[Sample] = [run_timed(command, env=env, timeout=600) for _ in range(runs)]
    failed = next((s for s in samples if not s.ok), None)
    ok = failed is None and (check is None or check())
    detail = "" if ok else (failed.output.strip().splitlines()[-1:] if failed else ["wrong output"])[0]
    median = statistics.median(s.seconds for s in samples)
    return Overhead(
        name, median, max(s.peak_rss_mb for s in samples), max(s.peak_anon_mb for s in samples), runs, ok, detail
    )


def measure(hygge: str, work: Path, sample_project: Path, runs: int, env: Mapping[str, str]) -> list[Overhead]:
    tiny = write_tiny_project(work / "tiny_project")
    all_runs = max(1, min(runs, 3))
    return [
        _timed(
            TINY_RUN,
            [hygge, "run", "--all", "--project", str(tiny)],
            all_runs,
            env,
            lambda: _lake_complete(tiny, TINY_FLOWS),
        ),
        _timed(HELP, [hygge, "--help"], max(5, runs), env),
        _timed(LS, [hygge, "ls", "--project", str(sample_project)], max(5, runs), env),
    ]
