"""The results table: one row per (move, tool), with hygge's ratios to the best raw approach and to dlt."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.moves import DLT, HYGGE, RAW
from bench.overhead import Overhead


@dataclass
class Result:
    move: str
    tool: str
    runs: int = 0
    median_s: float | None = None
    rows_per_s: float | None = None
    peak_rss_mb: float | None = None
    peak_anon_mb: float | None = None
    verified: bool = False
    note: str = ""
    best_raw: bool = False
    ratio_raw: float | None = None
    ratio_dlt: float | None = None
    seconds: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.median_s is not None and self.verified


def rank(results: list[Result]) -> None:
    """Mark each move's fastest verified raw candidate and put hygge's ratios to it and to dlt."""
    for move in dict.fromkeys(r.move for r in results):
        rows = [r for r in results if r.move == move]
        raws = [r for r in rows if r.tool.startswith(RAW) and r.ok]
        best = min(raws, key=lambda r: r.median_s or 0.0, default=None)
        if best is not None:
            best.best_raw = True
        dlt = next((r for r in rows if r.tool == DLT and r.ok), None)
        for r in rows:
            if r.tool == HYGGE and r.ok and r.median_s:
                r.ratio_raw = r.median_s / best.median_s if best and best.median_s else None
                r.ratio_dlt = r.median_s / dlt.median_s if dlt and dlt.median_s else None


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: Sequence[Result]) -> str:
    head = ["move", "tool", "median s", "rows/s", "peak RSS MB", "peak anon MB", "hygge/raw", "hygge/dlt", "check"]
    lines = []
    for r in results:
        tool = r.tool + (" *" if r.best_raw else "")
        check = "ok" if r.ok else ("FAILED: " + r.note if r.note else "FAILED")
        if r.ok and r.note:
            check += f" ({r.note})"
        rate = _num(r.rows_per_s, 0)
        memory = [_num(r.peak_rss_mb, 0), _num(r.peak_anon_mb, 0)]
        lines.append([r.move, tool, _num(r.median_s), rate, *memory, _num(r.ratio_raw), _num(r.ratio_dlt), check])
    return _markdown(head, lines) + (
        "\n* fastest verified raw candidate for the move (the ratio's denominator). peak RSS: ru_maxrss, which counts "
        "mapped input files; peak anon: the largest sampled RssAnon of the process tree (allocated memory)."
    )


def overhead_table(items: Sequence[Overhead]) -> str:
    lines = [
        [
            o.name,
            _num(o.median_seconds, 3),
            _num(o.peak_rss_mb, 0),
            _num(o.peak_anon_mb, 0),
            str(o.runs),
            "ok" if o.ok else f"FAILED {o.detail}",
        ]
        for o in items
    ]
    return _markdown(["overhead", "median s", "peak RSS MB", "peak anon MB", "runs", "check"], lines)


def _markdown(head: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(fmt(r) for r in lines)])


def write_json(path: Path, meta: dict[str, Any], results: Sequence[Result], overhead: Sequence[Overhead]) -> None:
    data = {"meta": meta, "moves": [asdict(r) for r in results], "overhead": [asdict(o) for o in overhead]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
