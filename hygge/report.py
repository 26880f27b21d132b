"""How a run looks: a line per flow start and end, live progress on a terminal, a summary table; or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hygge.redact import redact
from hygge.resolver import Plan, ResolvedFlow
from hygge.runner import FlowOutcome, RunOptions, RunResult, describe

MARKS = {
    "ok": ("OK", "green"),
    "failed": ("FAIL", "red"),
    "skipped": ("SKIP", "yellow"),
    "cancelled": ("STOP", "red"),
}


def fmt_rows(rows: int) -> str:
    return f"{rows:,}"


def fmt_rate(outcome: FlowOutcome) -> str:
    rate = outcome.rows_per_second
    return f"{rate:,.0f} rows/s" if outcome.seconds > 0 and outcome.rows else "-"


class ConsoleReporter:
    """Human output; the live progress display only when writing to a terminal."""

    def __init__(self, console: Console | None = None, *, live: bool | None = None, compact: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self.compact = compact  # watch mode: no table, one closing line
        self.total = 0
        self.done = 0
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def _print(self, text: Text | str) -> None:
        target = self.progress.console if self.progress is not None else self.console
        target.print(text)

    def run_started(self, plan: Plan, names: Sequence[str], options: RunOptions) -> None:
        self.total = len(names)
        if options.dry_run:
            self.console.print(f"Dry run: {len(names)} flow(s) would run, in this order (nothing is written):")
            for name in names:
                self.console.print(f"  {name}  {describe(plan.flows[name])}")
            return
        target = f" (target {plan.project.target})" if plan.project.target else ""
        threads = options.threads or plan.project.spec.threads
        self.console.print(f"Running {len(names)} flow(s) of {plan.project.spec.name}{target} with {threads} thread(s)")
        if self.live and names:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()

    def flow_started(self, flow: ResolvedFlow) -> None:
        self._print(Text.assemble(("START ", "cyan"), (flow.name, "bold"), f"  {describe(flow)}"))
        if self.progress is not None:
            self.tasks[flow.name] = self.progress.add_task(flow.name, total=None)

    def flow_finished(self, flow: ResolvedFlow, outcome: FlowOutcome) -> None:
        self.done += 1
        mark, style = MARKS[outcome.status]
        line = Text.assemble((f"{mark:<5} ", style), (flow.name, "bold"))
        if outcome.status == "ok":
            line.append(f"  {fmt_rows(outcome.rows)} rows in {outcome.seconds:.2f} s ({fmt_rate(outcome)})")
        elif outcome.status == "skipped":
            line.append(f"  skipped: {outcome.error}")
        else:
            line.append(f"  after {outcome.seconds:.2f} s\n      {redact(outcome.error or '')}")
        self._print(line)
        if self.progress is not None and flow.name in self.tasks:
            self.progress.remove_task(self.tasks.pop(flow.name))

    def run_finished(self, result: RunResult) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if not result.outcomes:
            return
        if not self.compact:
            self._table(result)
        parts = [f"{result.count('ok')} ok"]
        parts += [f"{result.count(s)} {s}" for s in ("failed", "skipped", "cancelled") if result.count(s)]
        verdict = "Interrupted" if result.interrupted else "Done"
        self.console.print(f"{verdict}: {', '.join(parts)} in {result.seconds:.2f} s")
        if result.exit_code != 0 and result.log_path is not None:
            self.console.print(f"Log: {result.log_path}")

    def _table(self, result: RunResult) -> None:
        table = Table(title=None, show_edge=False, pad_edge=False)
        for column, justify in (
            ("flow", "left"),
            ("outcome", "left"),
            ("rows", "right"),
            ("seconds", "right"),
            ("rows/s", "right"),
        ):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for o in result.outcomes:
            mark, style = MARKS[o.status]
            table.add_row(o.name, Text(mark, style), fmt_rows(o.rows), f"{o.seconds:.2f}", fmt_rate(o))
        self.console.print()
        self.console.print(table)


class JsonReporter:
    """One JSON object per line and event (`--log-format json`)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _emit(self, event: str, **fields: Any) -> None:
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
        self.stream.write(redact(json.dumps(record, default=str)) + "\n")
        self.stream.flush()

    def error(self, message: str, *, where: str | None, hint: str | None, exit_code: int) -> None:
        """The project or the command line is wrong: nothing ran."""
        self._emit("error", message=message, where=where, hint=hint, exit_code=exit_code)

    def run_started(self, plan: Plan, names: Sequence[str], options: RunOptions) -> None:
        self._emit(
            "run_started",
            project=plan.project.spec.name,
            target=plan.project.target,
            flows=list(names),
            dry_run=options.dry_run,
        )

    def flow_started(self, flow: ResolvedFlow) -> None:
        self._emit(
            "flow_started",
            flow=flow.name,
            home=flow.home_name,
            source=flow.source,
            store=flow.store_name,
            target=flow.target,
            mode=flow.mode,
        )

    def flow_finished(self, flow: ResolvedFlow, outcome: FlowOutcome) -> None:
        self._emit(
            "flow_finished",
            flow=flow.name,
            outcome=outcome.status,
            rows=outcome.rows,
            seconds=round(outcome.seconds, 4),
            rows_per_second=round(outcome.rows_per_second, 1),
            error=outcome.error,
        )

    def run_finished(self, result: RunResult) -> None:
        self._emit(
            "run_finished",
            exit_code=result.exit_code,
            seconds=round(result.seconds, 4),
            ok=result.count("ok"),
            failed=result.count("failed"),
            skipped=result.count("skipped"),
            log=str(result.log_path) if result.log_path else None,
        )
