"""The benchmark's targets: each says what was measured, holds or is missed by it, and never passes unmeasured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import targets  # noqa: E402
from bench.overhead import Overhead  # noqa: E402
from bench.report import Result, rank  # noqa: E402


def _results() -> list[Result]:
    rows = [
        Result("parquet-parquet", "hygge", runs=3, median_s=5.0, peak_rss_mb=380.0, verified=True),
        Result("parquet-parquet", "raw:polars-sink", runs=3, median_s=4.6, peak_rss_mb=700.0, verified=True),
        Result("parquet-postgres", "hygge", runs=3, median_s=13.0, peak_rss_mb=650.0, verified=True),
        Result("parquet-postgres", "raw:adbc-ingest", runs=3, median_s=10.0, peak_rss_mb=800.0, verified=True),
        Result("parquet-postgres", "dlt", runs=1, median_s=130.0, peak_rss_mb=900.0, verified=True),
    ]
    rank(rows)
    return rows


def _by_target(verdicts: list[targets.Verdict]) -> dict[str, targets.Verdict]:
    return {v.target: v for v in verdicts}


def test_each_target_holds_or_is_missed_by_what_was_measured(tmp_path: Path) -> None:
    smaller = {
        "meta": {"rows": 1_000_000},
        "moves": [
            {"move": "parquet-parquet", "tool": "hygge", "peak_rss_mb": 310.0},
            {"move": "parquet-postgres", "tool": "hygge", "peak_rss_mb": 450.0},
            {"move": "parquet-parquet", "tool": "raw:polars-sink", "peak_rss_mb": 100.0},  # not hygge: not compared
        ],
    }
    (tmp_path / "1m.json").write_text(json.dumps(smaller))
    baseline = targets.Baseline.load(tmp_path / "1m.json")
    overhead = [Overhead("hygge --help", 0.4, 50.0, 40.0, 5, True)]

    found = _by_target(targets.check(_results(), overhead, baseline, 10_000_000))

    assert found["parquet-parquet at most 1.2x the best raw"].holds is True  # 5.0 / 4.6 = 1.09
    assert found["parquet-postgres at most 1.2x the best raw"].holds is False  # 1.30
    assert found["parquet-postgres at most 1.2x the best raw"].detail == "1.30x"
    assert found["peak RSS at most 600 MB"].holds is False
    assert "650 MB (parquet-postgres)" in found["peak RSS at most 600 MB"].detail
    assert found["parquet-parquet peak RSS grows less than 30%"].holds is True  # 310 -> 380: +23%
    assert found["parquet-postgres peak RSS grows less than 30%"].holds is False  # 450 -> 650: +44%
    assert "+44%" in found["parquet-postgres peak RSS grows less than 30%"].detail
    assert found["parquet-postgres at least 5x faster than dlt"].holds is True  # 130 / 13 = 10x
    assert found["parquet-postgres at least 5x faster than dlt"].detail == "10.0x"
    assert found["hygge --help under 0.3 s"].holds is False


def test_a_target_not_measured_never_holds() -> None:
    found = _by_target(targets.check(_results(), [], None, 10_000_000))

    growth = found["peak RSS grows less than 30% from a smaller run"]
    assert growth.holds is None and "--baseline" in growth.detail
    dlt = found["parquet-sqlite at least 5x faster than dlt"]
    assert dlt.holds is None and "not measured" in dlt.line()
