"""Time one command as a process of its own: wall seconds and the peak resident memory of that process tree."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TAIL_CHARS = 2000
LAUNCHER = Path(__file__).with_name("launch.py")


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_rss_mb: float  # ru_maxrss: counts the file pages a tool maps (Polars maps Parquet input)
    peak_anon_mb: float  # the largest sampled RssAnon: what it allocated
    returncode: int
    output: str  # the end of what it printed (stdout and stderr)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_timed(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 3600
) -> Sample:
    """Run `command` through launch.py, which times it, takes its ru_maxrss from wait4 on its pid (covering the
    children it waited for too) and samples the RssAnon of its process tree."""
    with tempfile.TemporaryDirectory(prefix="bench-") as temp:
        result_file = Path(temp) / "result.json"
        log_file = Path(temp) / "output.log"
        with log_file.open("wb") as log:
            launcher = [sys.executable, "-I", str(LAUNCHER), str(result_file), str(timeout), "--", *command]
            subprocess.run(launcher, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, check=True)
        result = json.loads(result_file.read_text())
        output = log_file.read_bytes().decode(errors="replace")[-TAIL_CHARS:]
    return Sample(result["seconds"], result["maxrss_kb"] / 1024, result["anon_kb"] / 1024, result["returncode"], output)


def median_seconds(samples: Sequence[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def peak_mb(samples: Sequence[Sample]) -> float:
    return max(s.peak_rss_mb for s in samples)


def peak_anon_mb(samples: Sequence[Sample]) -> float:
    return max(s.peak_anon_mb for s in samples)
