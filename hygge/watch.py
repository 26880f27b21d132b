"""`hygge run --watch`: run once, then rerun what each change affects, one run at a time."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from hygge.errors import HyggeError
from hygge.redact import redact
from hygge.resolver import Plan
from hygge.runner import RunOptions, RunResult, run
from hygge.watch_plan import decide, ignored, is_config, store_outputs

if TYPE_CHECKING:
    from watchfiles import Change

DEBOUNCE_MS = 400


@dataclass
class WatchSession:
    """The state between changes: the last good plan and changes not yet acted on."""

    project: Path | None
    target: str | None
    cli_vars: Mapping[str, str]
    select: Sequence[str]
    exclude: Sequence[str]
    options: RunOptions
    console: Console
    plan: Plan | None = None
    pending: dict[Path, str] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    interrupted: bool = False
    last_error: str | None = None

    def load(self) -> Plan:
        from hygge.project import load_project
        from hygge.resolver import resolve

        return resolve(load_project(self.project, target=self.target, cli_vars=self.cli_vars))

    def start(self) -> None:
        """The first run: everything selected."""
        try:
            self.plan = self.load()
            names = self.plan.select(list(self.select), list(self.exclude))
        except HyggeError as exc:
            self._broken(exc)
            return
        self._run(self.plan, names, "first run")

    def root(self) -> Path:
        if self.plan is not None:
            return self.plan.project.root
        from hygge.project import find_root

        return find_root(None, self.project)

    def changed(self, changes: set[tuple[Change, str]]) -> None:
        """Act on one debounced batch of file changes."""
        root = self.root()
        outputs = store_outputs(self.plan) if self.plan is not None else []
        for change, raw in changes:
            path = Path(raw)
            if not ignored(path, root, outputs):
                self.pending[path] = f"{_shown(path, root)} {change.name}"
        if not self.pending:
            return
        plan = self.plan
        if plan is None or any(is_config(p, root) for p in self.pending):
            try:
                plan = self.load()
            except HyggeError as exc:
                self._broken(exc)
                return
        try:
            names = plan.select(list(self.select), list(self.exclude))
        except HyggeError as exc:
            self._broken(exc)
            return
        decision = decide(self.plan, plan, names, self.pending)
        self.plan = plan
        seen, self.pending, self.last_error = sorted(self.pending.values()), {}, None
        if not decision.flows:
            shown = ", ".join(seen[:3]) + (f" and {len(seen) - 3} more" if len(seen) > 3 else "")
            self.console.print(f"[dim]{shown}: no flow affected[/dim]")
            return
        self._run(plan, decision.flows, decision.why())

    def _run(self, plan: Plan, names: list[str], why: str) -> None:
        from hygge.report import ConsoleReporter

        self.console.rule(f"[bold]{why}[/bold]: running {len(names)} flow(s)", align="left")
        result = run(plan, names, self.options, ConsoleReporter(self.console, compact=True))
        self.runs.append(result)
        self.interrupted = result.interrupted
        self.console.print("[dim]watching for changes (Ctrl-C to stop)[/dim]")

    def _broken(self, exc: HyggeError) -> None:
        if str(exc) == self.last_error:
            return  # an editor saving the same broken file twice says nothing new
        self.last_error = str(exc)
        self.console.print(redact(f"error: {exc}"), style="red", markup=False, soft_wrap=True)
        self.console.print("[dim]fix the file and save it; watching goes on[/dim]")

    def watch_paths(self) -> list[Path]:
        """The project folder, plus folders outside it that file homes read."""
        root = self.root()
        paths = {root}
        if self.plan is not None:
            for flow in self.plan.flows.values():
                if flow.home_def.kind != "home":
                    continue
                for path in flow.make_home().watch_paths(flow.source):
                    folder = _existing_folder(path)
                    if folder is not None and root not in (folder, *folder.parents):
                        paths.add(folder)
        return sorted(paths)

    def loop(self, stop: threading.Event | None = None, debounce_ms: int = DEBOUNCE_MS) -> None:
        """Watch until Ctrl-C (or `stop`); restarts the watcher when the set of watched folders changes."""
        import logging

        from watchfiles import watch

        # watchfiles logs its own Ctrl-C notice; hygge says "stopped watching" itself.
        logging.getLogger("watchfiles").setLevel(logging.ERROR)
        stop = stop or threading.Event()
        while not stop.is_set() and not self.interrupted:
            paths = self.watch_paths()
            for changes in watch(*paths, debounce=debounce_ms, stop_event=stop, raise_interrupt=False):
                self.changed(changes)
                if self.interrupted or self.watch_paths() != paths:
                    break
            else:
                return  # watch() returned: Ctrl-C or stop


def _existing_folder(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def watch_and_run(
    project: Path | None,
    target: str | None,
    var: list[str] | None,
    select: list[str],
    exclude: list[str],
    options: RunOptions,
    console: Console,
) -> int:
    """The CLI's entry: run, then watch; Ctrl-C ends it with exit code 0."""
    from hygge.variables import parse_cli_vars

    session = WatchSession(project, target, parse_cli_vars(var or []), select, exclude, options, console)
    session.root()  # no project at all is a usage error, not something to watch for
    try:
        session.start()
        if not session.interrupted:
            session.loop()
    except KeyboardInterrupt:
        pass
    console.print("stopped watching")
    return 0
