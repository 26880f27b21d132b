"""The performance targets hygge holds itself to, checked against one run's results (and a smaller run's, for how
memory grows with the table): `python bench/run.py --rows 10000000 --baseline bench/results/1m.json`.

Each target is a line that says what was measured and whether it holds; a target that was not measured (no dlt,
no baseline) says so instead of passing. Nothing here fails the run: the numbers move with the machine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.moves import HYGGE
from bench.overhead import HELP, LS, TINY_RUN, Overhead
from bench.report import Result

MAX_RATIO_RAW = 1.2  # hygge's median time over the fastest raw approach's, in the same run
MAX_PEAK_RSS_MB = 600.0
MAX_GROWTH = 0.30  # peak RSS at this run's rows over the baseline's, less one
MIN_DLT_SPEEDUP = 5.0
DLT_MOVES = ("parquet-postgres", "parquet-sqlite")
MAX_OVERHEAD_S = {TINY_RUN: 5.0, HELP: 0.3, LS: 0.6}


@dataclass(frozen=True)
class Baseline:
    """hygge's peak memory per move in an earlier, smaller run (its --json file)."""

    rows: int
    peak_rss_mb: dict[str, float]

    @classmethod
    def load(cls, path: Path) -> Baseline:
        data = json.loads(path.read_text())
        peaks = {
            m["move"]: float(m["peak_rss_mb"])
            for m in data["moves"]
            if m["tool"] == HYGGE and m.get("peak_rss_mb") is not None
        }
        return cls(int(data["meta"]["rows"]), peaks)


@dataclass(frozen=True)
class Verdict:
    target: str
    holds: bool | None  # None: not measured in this run
    detail: str

    def line(self) -> str:
        mark = {True: "holds", False: "MISSED", None: "not measured"}[self.holds]
        return f"  {mark:12} {self.target}: {self.detail}"


def check(
    results: Sequence[Result], overhead: Sequence[Overhead], baseline: Baseline | None, rows: int
) -> list[Verdict]:
    """Every target, as measured by `results` (this run) and `baseline` (a smaller run)."""
    hygge = [r for r in results if r.tool == HYGGE and r.ok]
    verdicts = [_ratio(r) for r in hygge]
    worst = max(hygge, key=lambda r: r.peak_rss_mb or 0.0, default=None)
    if worst is not None and worst.peak_rss_mb is not None:
        detail = f"largest {worst.peak_rss_mb:.0f} MB ({worst.move})"
        holds = worst.peak_rss_mb <= MAX_PEAK_RSS_MB
        verdicts.append(Verdict(f"peak RSS at most {MAX_PEAK_RSS_MB:.0f} MB", holds, detail))
    verdicts.extend(_growth(hygge, baseline, rows))
    for move in DLT_MOVES:
        r = next((r for r in hygge if r.move == move), None)
        target = f"{move} at least {MIN_DLT_SPEEDUP:g}x faster than dlt"
        if r is None or r.ratio_dlt is None:
            verdicts.append(Verdict(target, None, "dlt not run (--tools hygge,raw,dlt)"))
        else:
            speedup = 1 / r.ratio_dlt
            verdicts.append(Verdict(target, speedup >= MIN_DLT_SPEEDUP, f"{speedup:.1f}x"))
    for o in overhead:
        limit = MAX_OVERHEAD_S.get(o.name)
        if limit is not None:
            holds = o.ok and o.median_seconds <= limit
            verdicts.append(Verdict(f"{o.name} under {limit:g} s", holds, f"{o.median_seconds:.2f} s"))
    return verdicts


def _ratio(r: Result) -> Verdict:
    target = f"{r.move} at most {MAX_RATIO_RAW:g}x the best raw"
    if r.ratio_raw is None:
        return Verdict(target, None, "no raw candidate verified")
    return Verdict(target, r.ratio_raw <= MAX_RATIO_RAW, f"{r.ratio_raw:.2f}x")


def _growth(hygge: Sequence[Result], baseline: Baseline | None, rows: int) -> list[Verdict]:
    """Per move, hygge's peak RSS here against the baseline's (a move the baseline lacks is not compared)."""
    target = f"peak RSS grows less than {MAX_GROWTH:.0%} from a smaller run"
    if baseline is None:
        return [Verdict(target, None, "no --baseline (the --json of a run at fewer rows, 1M for a 10M run)")]
    verdicts = []
    for r in hygge:
        before, after = baseline.peak_rss_mb.get(r.move), r.peak_rss_mb
        if not before or after is None:
            continue
        grew = after / before - 1
        detail = f"{before:.0f} MB at {baseline.rows:,} rows -> {after:.0f} MB at {rows:,} ({grew:+.0%})"
        verdicts.append(Verdict(f"{r.move} peak RSS grows less than {MAX_GROWTH:.0%}", grew < MAX_GROWTH, detail))
    return verdicts or [Verdict(target, None, "the baseline has none of this run's moves")]
