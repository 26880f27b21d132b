"""Benchmark hygge against the raw engines and dlt: `python bench/run.py --rows 1000000 --runs 3`.

See bench/README.md. Exits 1 when any output fails its check (or any timed process fails), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import dlt_pipelines, overhead, project, report, targets  # noqa: E402
from bench.context import Context, Place  # noqa: E402
from bench.generate import Dataset  # noqa: E402
from bench.measure import Sample, median_seconds, peak_anon_mb, peak_mb, run_timed  # noqa: E402
from bench.moves import DLT, HYGGE, MOVES, Move, find  # noqa: E402
from bench.verify import Checksum, verify  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = os.environ.get("HYGGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SMOKE_ROWS = 20_000
TIMEOUT_S = 3600


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic table (default 1000000)")
    p.add_argument("--tpch-scale", type=float, help="use TPC-H lineitem at this scale factor instead (1 = 6M rows)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per tool and move; the median is reported")
    p.add_argument("--moves", help="comma-separated moves (default all): " + ",".join(m.name for m in MOVES))
    p.add_argument("--tools", default="hygge,raw,dlt", help="any of hygge,raw,dlt (default all three)")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument(
        "--baseline",
        type=Path,
        help="the --json of an earlier run at fewer rows: how hygge's peak memory grew since (checked by the targets)",
    )
    p.add_argument("--smoke", action="store_true", help=f"{SMOKE_ROWS} rows, 1 run, no dlt, no overhead: checks only")
    p.add_argument("--no-overhead", action="store_true", help="skip the per-flow overhead measurements")
    p.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL for its moves (skipped if unreachable)")
    p.add_argument(
        "--scanner-python",
        default=os.environ.get("BENCH_SCANNER_PYTHON"),
        help="a Python with duckdb 1.5 and duckdb-extension-{sqlite,postgres}-scanner, for DuckDB's scanners "
        "(DuckDB 2 downloads them at run time); env BENCH_SCANNER_PYTHON",
    )
    p.add_argument("--data-dir", type=Path, default=REPO / "bench" / "data", help="where data is generated and kept")
    p.add_argument("--batch-size", type=int, default=100_000)
    p.add_argument("--keep-outputs", action="store_true", help="keep what each tool wrote (default: removed)")
    args = p.parse_args(argv)
    if args.smoke:
        args.rows, args.runs, args.no_overhead = SMOKE_ROWS, 1, True
        args.tools = ",".join(t for t in args.tools.split(",") if t != "dlt")
    if args.baseline is not None and not args.baseline.is_file():
        p.error(f"--baseline {args.baseline}: no such file (write one with --json in a run at fewer rows)")
    if args.runs < 1 or args.rows < 1:
        p.error("--runs and --rows must be positive")
    try:
        args.moves = [find(name) for name in args.moves.split(",")] if args.moves else list(MOVES)
    except KeyError as exc:
        p.error(str(exc.args[0]))
    return args


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYGGE_")}
    env.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", "TERM": "dumb", "RUNTIME__DLTHUB_TELEMETRY": "false"})
    return env


def postgres_problem(url: str) -> str | None:
    try:
        import adbc_driver_postgresql.dbapi as dbapi

        with dbapi.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()
    except Exception as exc:  # whatever stops the connection is the reason to skip
        return f"{type(exc).__name__}: {str(exc).strip()[:120]}"
    return None


def scanner_problem(python: str | None) -> str | None:
    if not python:
        return "no --scanner-python given (DuckDB 2 cannot load its SQLite/PostgreSQL scanners offline)"
    probe = "import duckdb, duckdb_extension_sqlite_scanner, duckdb_extension_postgres_scanner"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    return None if done.returncode == 0 else f"{python} lacks duckdb or the scanner packages"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def git_commit() -> str:
    """The commit hygge was measured at, `+dirty` when hygge/ had uncommitted changes."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if _git("status", "--porcelain", "hygge") else "")


# --- clearing outputs --------------------------------------------------------------------------------------


def _drop(pg_url: str, sql: str) -> None:
    """Run one statement that returns nothing (DROP, CHECKPOINT) on its own connection."""
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(pg_url) as conn:
        with conn.cursor() as cursor:
            cursor.execute(sql)
        conn.commit()


def clear(place: Place, pg_url: str, *, whole_schema: bool = False) -> None:
    """Remove an output so every run of every tool starts from nothing."""
    if place.kind == "postgres":
        if whole_schema:
            _drop(pg_url, f'DROP SCHEMA IF EXISTS "{place.schema}" CASCADE')
        else:
            _drop(pg_url, f"DROP TABLE IF EXISTS {place.qualified}")
        return
    assert place.path is not None
    if place.path.is_dir():
        shutil.rmtree(place.path)
    for suffix in ("", "-wal", "-journal", "-shm", ".wal"):
        with suppress(FileNotFoundError):
            Path(f"{place.path}{suffix}").unlink()


# --- one move ----------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    ctx: Context
    expected: Checksum
    context_file: Path
    project_root: Path
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)
    pg_available: bool = False

    @property
    def hygge_bin(self) -> str:
        return str(Path(sys.executable).parent / "hygge")

    def tools(self, move: Move) -> Iterator[tuple[str, list[str], Place]]:
        """(tool, command, output) for each tool that runs this move."""
        wanted = set(self.args.tools.split(","))
        if HYGGE in wanted:
            command = [self.hygge_bin, "run", project.flow_name(move), "--project", str(self.project_root)]
            yield HYGGE, command, self.ctx.output(move.target, move.name, HYGGE)
        if "raw" in wanted:
            problem = scanner_problem(self.args.scanner_python)
            for c in move.raw:
                if c.scanner and problem:
                    self._note(f"raw:{c.name} skipped: {problem}")
                    continue
                if c.needs and importlib.util.find_spec(c.needs) is None:
                    self._note(f"raw:{c.name} skipped: {c.needs} is not installed (pip install {c.needs})")
                    continue
                python = self.args.scanner_python if c.scanner else sys.executable
                command = [python, "-m", "bench.worker", str(self.context_file), move.name, c.tool]
                yield c.tool, command, self.ctx.output(move.target, move.name, c.tool)
        if DLT in wanted:
            if importlib.util.find_spec("dlt") is None:
                self._note("dlt skipped: not importable (pip install dlt)")
                return
            command = [sys.executable, "-m", "bench.worker", str(self.context_file), move.name, DLT]
            yield DLT, command, dlt_pipelines.output(self.ctx, move)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            print(f"  note: {text}", flush=True)

    def clear(self, tool: str, place: Place, *, settle: bool = False) -> None:
        """Remove a tool's output; with `settle`, also flush what earlier runs left to write (untimed)."""
        clear(place, self.ctx.pg_url, whole_schema=tool == DLT)
        if tool == DLT and place.kind == "sqlite" and place.path is not None:
            clear(Place("sqlite", path=place.path.parent / "dlt.sqlite"), self.ctx.pg_url)
        if settle:
            os.sync()
            if self.pg_available:
                _drop(self.ctx.pg_url, "CHECKPOINT")

    def run_move(self, move: Move) -> list[report.Result]:
        tools = list(self.tools(move))
        samples: dict[str, list[Sample]] = {tool: [] for tool, _, _ in tools}
        # Runs are interleaved across tools, and each round starts with the next tool, so a warming cache, a busy
        # moment or the writeback of the tool before does not favour or penalise one tool.
        for run in range(self.args.runs):
            for tool, command, place in tools[run % len(tools) :] + tools[: run % len(tools)]:
                if samples[tool] and not samples[tool][-1].ok:
                    continue
                self.clear(tool, place, settle=True)
                sample = run_timed(command, env=self.env, cwd=REPO, timeout=TIMEOUT_S)
                samples[tool].append(sample)
                state = "ok" if sample.ok else f"FAILED (exit {sample.returncode})"
                print(
                    f"  {move.name:18} {tool:26} run {run + 1}/{self.args.runs} "
                    f"{sample.seconds:8.2f} s {sample.peak_rss_mb:6.0f} MB RSS {sample.peak_anon_mb:6.0f} MB anon "
                    f"{state}",
                    flush=True,
                )
                if not sample.ok:
                    print("    " + "\n    ".join(sample.output.strip().splitlines()[-8:]), flush=True)
        return [self._result(move, tool, place, samples[tool]) for tool, _, place in tools]

    def _result(self, move: Move, tool: str, place: Place, samples: list[Sample]) -> report.Result:
        result = report.Result(move.name, tool, runs=len(samples), seconds=[round(s.seconds, 3) for s in samples])
        failed = next((s for s in samples if not s.ok), None)
        if failed is not None:
            lines = failed.output.strip().splitlines()
            result.note = f"exit {failed.returncode}: {lines[-1][:160] if lines else ''}"
        else:
            result.median_s = median_seconds(samples)
            result.rows_per_s = self.expected.rows / result.median_s
            result.peak_rss_mb = peak_mb(samples)
            result.peak_anon_mb = peak_anon_mb(samples)
            verdict = verify(place, self.expected, self.ctx.kinds, pg_url=self.ctx.pg_url)
            result.verified, result.note = verdict.ok, "" if verdict.ok else verdict.detail
            if not verdict.ok:
                print(f"  {move.name} {tool}: WRONG OUTPUT: {verdict.detail}", flush=True)
        if not self.args.keep_outputs:
            self.clear(tool, place)
        return result


# --- the whole run -----------------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, moves: list[Move]) -> Bench:
    if args.tpch_scale is not None:
        dataset = Dataset(args.data_dir, f"lineitem-sf{args.tpch_scale:g}", rows=None, scale=args.tpch_scale)
    else:
        dataset = Dataset(args.data_dir, f"synthetic-{args.rows}", rows=args.rows, scale=None)
    expected, kinds = dataset.ensure_base()
    out_dir = dataset.dir / "out"
    ctx = Context(dataset.name, dataset.dir, out_dir, args.pg_url, args.batch_size, expected.rows, kinds)
    dataset.ensure_sources(ctx, {m.source for m in moves})
    out_dir.mkdir(exist_ok=True)
    context_file = out_dir / "context.json"
    context_file.write_text(ctx.to_json())
    root = project.write_project(ctx, moves, dataset.dir / "project")
    return Bench(args, ctx, expected, context_file, root, child_env())


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    moves: list[Move] = args.moves
    notes = []
    if any(m.postgres for m in moves) and (problem := postgres_problem(args.pg_url)):
        notes.append(f"postgres moves skipped: {problem}")
        moves = [m for m in moves if not m.postgres]
    started = time.time()
    # As pip does when it installs hygge: with PYTHONDONTWRITEBYTECODE set, an editable install would otherwise
    # compile every hygge module again in every timed run (~80 ms each).
    compileall.compile_dir(REPO / "hygge", quiet=1)
    bench = prepare(args, moves)
    bench.notes.extend(notes)
    bench.pg_available = any(m.postgres for m in moves)
    print(f"dataset {bench.ctx.dataset}: {bench.expected.rows:,} rows; runs {args.runs}", flush=True)
    results: list[report.Result] = []
    for move in moves:
        results.extend(bench.run_move(move))
    report.rank(results)
    extra: list[overhead.Overhead] = []
    if not args.no_overhead:
        extra = overhead.measure(bench.hygge_bin, bench.ctx.out_dir, REPO / "sample_project", args.runs, bench.env)
    print("\n" + report.table(results))
    if extra:
        print("\n" + report.overhead_table(extra))
    for note in bench.notes:
        print(f"note: {note}")
    baseline = targets.Baseline.load(args.baseline) if args.baseline else None
    verdicts = targets.check(results, extra, baseline, bench.expected.rows)
    print("\ntargets (see bench/targets.py):\n" + "\n".join(v.line() for v in verdicts))
    if args.json:
        meta = {
            "dataset": bench.ctx.dataset,
            "rows": bench.expected.rows,
            "runs": args.runs,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "hygge_commit": git_commit(),
            "seconds_total": round(time.time() - started, 1),
            "notes": bench.notes,
            "targets": [asdict(v) for v in verdicts],
        }
        report.write_json(args.json, meta, results, extra)
    failed = [r for r in results if not r.ok] + [o for o in extra if not o.ok]  # type: ignore[operator]
    if failed:
        print(f"\n{len(failed)} check(s) FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
