"""Run selected flows of a Plan: dependency order, parallel where independent, failures contained."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from hygge import lazy
from hygge.connectors.base import Cancelled
from hygge.errors import HyggeError
from hygge.move import move
from hygge.redact import redact
from hygge.resolver import Plan, ResolvedFlow
from hygge.state import StateStore

Status = Literal["ok", "failed", "skipped", "cancelled"]
log = logging.getLogger("hygge.run")


@dataclass
class FlowOutcome:
    name: str
    status: Status
    rows: int = 0
    seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None
    window: tuple[str | None, str | None] = (None, None)  # incremental runs: watermark before and after

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunResult:
    outcomes: list[FlowOutcome] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    log_path: Path | None = None

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 0 if all(o.status == "ok" for o in self.outcomes) else 1

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True)
class RunOptions:
    threads: int | None = None
    fail_fast: bool = False
    allow_empty: bool = False
    full_refresh: bool = False
    dry_run: bool = False
    command: str = "run"


class Reporter(Protocol):
    """What the runner tells as it goes; called from the runner's thread only."""

    def run_started(self, plan: Plan, names: Sequence[str], options: RunOptions) -> None: ...
    def flow_started(self, flow: ResolvedFlow) -> None: ...
    def flow_finished(self, flow: ResolvedFlow, outcome: FlowOutcome) -> None: ...
    def run_finished(self, result: RunResult) -> None: ...


class SilentReporter:
    def run_started(self, plan: Plan, names: Sequence[str], options: RunOptions) -> None:
        pass

    def flow_started(self, flow: ResolvedFlow) -> None:
        pass

    def flow_finished(self, flow: ResolvedFlow, outcome: FlowOutcome) -> None:
        pass

    def run_finished(self, result: RunResult) -> None:
        pass


def describe(flow: ResolvedFlow) -> str:
    """`drops:orders -> lake:orders (replace)`."""
    source = "query" if flow.query else flow.source
    return f"{flow.home_name}:{source} -> {flow.store_name}:{flow.target} ({flow.mode})"


def run(
    plan: Plan,
    names: Sequence[str],
    options: RunOptions | None = None,
    reporter: Reporter | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run `names` (already selected, any order) and return what happened to each."""
    options = options or RunOptions()
    reporter = reporter or SilentReporter()
    cancel = cancel or threading.Event()
    ordered = plan.graph.order(names)
    reporter.run_started(plan, ordered, options)
    if options.dry_run:
        result = RunResult()
        reporter.run_finished(result)
        return result
    session = _Session(plan, ordered, options, reporter, cancel)
    return session.run()


class _Session:
    """One run: schedules flows whose selected parents succeeded, records everything."""

    def __init__(
        self,
        plan: Plan,
        ordered: list[str],
        options: RunOptions,
        reporter: Reporter,
        cancel: threading.Event,
    ) -> None:
        self.plan = plan
        self.ordered = ordered
        self.options = options
        self.reporter = reporter
        self.cancel = cancel
        self.selected = set(ordered)
        self.threads = options.threads or plan.project.spec.threads
        self.status: dict[str, Status] = {}
        self.result = RunResult()
        self.state = StateStore(plan.project.state_dir / "state.db")
        self.target = plan.project.target
        self.run_id = self.state.start_run(self.target, options.command)
        self.handler = _open_log(plan.project.state_dir / "logs", self.run_id)
        self.result.log_path = Path(self.handler.baseFilename)

    def run(self) -> RunResult:
        started = time.perf_counter()
        log.info("run %s: %d flows, %d threads", self.run_id, len(self.ordered), self.threads)
        if self.ordered:
            lazy.load(lazy.pl)  # flows move data through Polars: import it once, before the threads race for it
        try:
            with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="hygge-flow") as pool:
                self._schedule(pool)
        finally:
            self.result.seconds = time.perf_counter() - started
            outcome = "interrupted" if self.result.interrupted else ("ok" if self.result.exit_code == 0 else "failed")
            self.state.finish_run(self.run_id, outcome)
            self.state.close()
            log.info("run %s finished: %s", self.run_id, outcome)
            logging.getLogger("hygge").removeHandler(self.handler)
            self.handler.close()
        self.reporter.run_finished(self.result)
        return self.result

    def _schedule(self, pool: ThreadPoolExecutor) -> None:
        running: dict[Future[FlowOutcome], str] = {}
        pending = list(self.ordered)
        try:
            while pending or running:
                pending = self._start_ready(pool, pending, running)
                if not running:
                    break
                # A timeout, so Ctrl-C is seen at once rather than when a flow ends.
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finish(running.pop(future), future.result())
                if self.options.fail_fast and any(s == "failed" for s in self.status.values()):
                    self.cancel.set()
        except KeyboardInterrupt:
            self.result.interrupted = True
            self.cancel.set()
            log.warning("interrupted: stopping running flows at their next batch; they roll back")
            for future, name in list(running.items()):
                self._finish(name, future.result())
            pending = [n for n in pending if n not in self.status]
        for name in pending:
            if name not in self.status:
                self._skip(name, "the run was stopped" if self.cancel.is_set() else "not reached")

    def _start_ready(
        self, pool: ThreadPoolExecutor, pending: list[str], running: dict[Future[FlowOutcome], str]
    ) -> list[str]:
        still: list[str] = []
        for name in pending:
            flow = self.plan.flows[name]
            parents = [p for p in flow.upstream if p in self.selected]
            bad = [p for p in parents if self.status.get(p) in ("failed", "skipped", "cancelled")]
            if bad:
                self._skip(name, f"upstream {bad[0]} did not succeed")
            elif self.cancel.is_set():
                self._skip(name, "the run was stopped")
            elif len(running) < self.threads and all(self.status.get(p) == "ok" for p in parents):
                self.reporter.flow_started(flow)
                entry = self.state.start_flow(self.run_id, name, self.target)
                running[pool.submit(self._execute, flow, entry)] = name
            else:
                still.append(name)
        return still

    def _finish(self, name: str, outcome: FlowOutcome) -> None:
        self.status[name] = outcome.status
        self.result.outcomes.append(outcome)
        self.reporter.flow_finished(self.plan.flows[name], outcome)

    def _skip(self, name: str, reason: str) -> None:
        outcome = FlowOutcome(name, "skipped", error=reason)
        self.state.record_skipped(self.run_id, name, self.target, reason)
        log.info("flow %s skipped: %s", name, reason)
        self._finish(name, outcome)

    def _execute(self, flow: ResolvedFlow, entry: int) -> FlowOutcome:
        started = time.perf_counter()
        log.info("flow %s started: %s", flow.name, describe(flow))
        outcome: FlowOutcome
        try:
            moved = move(flow, self.options, self.cancel, self.state)
            outcome = FlowOutcome(flow.name, "ok", rows=moved.rows, window=moved.window)
        except Cancelled as exc:
            outcome = FlowOutcome(flow.name, "cancelled", error=str(exc))
        except KeyboardInterrupt:
            # Polars turns Ctrl-C into this in the thread running its query (the main thread may never see it):
            # the query stopped, the write rolled back, and the whole run stops as it would on the main thread.
            self.result.interrupted = True
            self.cancel.set()
            outcome = FlowOutcome(flow.name, "cancelled", error="interrupted; the target is unchanged")
        except HyggeError as exc:
            outcome = FlowOutcome(flow.name, "failed", error=redact(str(exc)), traceback=traceback.format_exc())
        except Exception as exc:  # a bug or an unexpected library error: keep the traceback in the log
            message = f"flow {flow.name}: {type(exc).__name__}: {exc}"
            outcome = FlowOutcome(flow.name, "failed", error=redact(message), traceback=traceback.format_exc())
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":  # Polars' (pyo3's) panics; Ctrl-C and exits go on up
                raise
            message = f"flow {flow.name}: Polars stopped: {exc}"
            outcome = FlowOutcome(flow.name, "failed", error=redact(message), traceback=traceback.format_exc())
        outcome.seconds = time.perf_counter() - started
        if outcome.traceback:
            log.error("flow %s failed: %s\n%s", flow.name, outcome.error, redact(outcome.traceback))
        else:
            log.info("flow %s %s: %d rows in %.2f s", flow.name, outcome.status, outcome.rows, outcome.seconds)
        self.state.finish_flow(
            entry,
            outcome=outcome.status,
            rows=outcome.rows,
            seconds=outcome.seconds,
            error=outcome.error,
            window=outcome.window,
        )
        return outcome


def _open_log(folder: Path, run_id: str) -> logging.FileHandler:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    handler = logging.FileHandler(folder / f"run-{stamp}-{run_id}.log", encoding="utf-8")
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    root = logging.getLogger("hygge")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    return handler


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
