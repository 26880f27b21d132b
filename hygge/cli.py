"""The `hygge` command: parses options, calls the library, prints. Nothing else lives here."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

if TYPE_CHECKING:
    from hygge.resolver import Plan


class _Commands(TyperGroup):
    """hygge's commands; an option Click refuses (`--threads 0`, a typo) is also an `error` event for a machine
    reading `--log-format json`, like every other error."""

    def invoke(self, ctx: Any) -> Any:  # Typer's own (private) copy of click.Context
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # Typer carries its own copy of Click, whose ClickException it does not export.
            refused = any(kind.__name__ == "ClickException" for kind in type(exc).__mro__)
            if refused and _asks_for_json(sys.argv[1:]):
                from hygge.report import JsonReporter

                command = ctx.invoked_subcommand or ""
                JsonReporter().error(
                    exc.format_message(),  # type: ignore[attr-defined]
                    where=f"hygge {command}".strip(),
                    hint=f"See hygge {command} --help.".replace("  ", " "),
                    exit_code=exc.exit_code,  # type: ignore[attr-defined]
                )
            raise


def _asks_for_json(args: list[str]) -> bool:
    pairs = zip(args, [*args[1:], ""], strict=True)
    return "--log-format=json" in args or any(a == "--log-format" and b == "json" for a, b in pairs)


app = typer.Typer(
    cls=_Commands,
    name="hygge",
    help="Move data between homes and stores, declared in YAML, by convention.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: Typer's Rich help imports Markdown and traceback rendering (~90 ms, a third of `hygge --help`).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Off a terminal Rich would wrap tables at 80 columns; pipes and logs read better unwrapped.
_width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "0") or 0) or 160
out = Console(highlight=False, width=_width)
err = Console(stderr=True, highlight=False, width=_width)

ProjectOpt = Annotated[
    Path | None, typer.Option("--project", "-p", help="Project folder (default: nearest hygge.yml upward).")
]
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", help="Target from hygge.yml (default: HYGGE_TARGET, default_target)."),
]
VarOpt = Annotated[list[str] | None, typer.Option("--var", help="Set a variable: --var KEY=VALUE (repeatable).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")]
SelectOpt = Annotated[
    list[str] | None,
    typer.Option("--select", "-s", help="Selection: name, name+, +name, tag:x, home:x, store:x, globs."),
]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", "-x", help="Leave out flows matching these.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@contextmanager
def handled(debug: bool, *, as_json: bool = False) -> Iterator[None]:
    """Print user errors without a traceback and exit with their code; `as_json` also writes the error as an
    event on stdout (`--log-format json`), where a machine reads the run's other events."""
    from hygge.errors import HyggeError
    from hygge.redact import redact

    try:
        yield
    except HyggeError as exc:
        if debug:
            err.print(redact(traceback.format_exc()), markup=False)
        if as_json:
            from hygge.report import JsonReporter

            where = None if exc.where is None else str(exc.where)
            JsonReporter().error(exc.message, where=where, hint=exc.hint, exit_code=exc.exit_code)
        err.print(redact(f"error: {exc}"), markup=False, style="red", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def load_plan(project: Path | None, target: str | None, var: list[str] | None) -> Plan:
    from hygge.project import load_project
    from hygge.resolver import resolve
    from hygge.variables import parse_cli_vars

    loaded = load_project(project, target=target, cli_vars=parse_cli_vars(var or []))
    return resolve(loaded)


@app.command()
def run(
    names: Annotated[list[str] | None, typer.Argument(help="Flows to run (same syntax as --select).")] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Run every flow.")] = False,
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, max=256, help="Flows at once (default: hygge.yml).")
    ] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed flow.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run; write nothing.")] = False,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Ignore watermarks and replace incremental targets.")
    ] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Allow replacing a non-empty target with zero rows.")
    ] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Rerun changed flows as files change.")] = False,
    log_format: Annotated[LogFormat, typer.Option("--log-format", help="text or json.")] = LogFormat.text,
    project: ProjectOpt = None,
    target: TargetOpt = None,
    var: VarOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run flows in dependency order; independent flows run in parallel."""
    from hygge.errors import UsageError

    with handled(debug, as_json=log_format == LogFormat.json):
        chosen = [*(names or []), *(select or [])]
        if not chosen and not all_:
            raise UsageError(
                "nothing to run: name the flows to run.",
                where="hygge run",
                hint="Use `hygge run --all`, `hygge run NAME...` or `--select EXPR` (see `hygge ls`).",
            )
        if all_ and chosen:
            raise UsageError("--all runs every flow; do not combine it with names or --select.", where="hygge run")
        from hygge.runner import RunOptions

        options = RunOptions(
            threads=threads,
            fail_fast=fail_fast,
            allow_empty=allow_empty,
            full_refresh=full_refresh,
            dry_run=dry_run,
            command=" ".join(["hygge", *sys.argv[1:]]),
        )
        if watch:
            from hygge.watch import watch_and_run

            raise typer.Exit(watch_and_run(project, target, var, chosen, exclude or [], options, out))
        plan = load_plan(project, target, var)
        selected = plan.select(chosen, exclude or [])
        raise typer.Exit(_run_selected(plan, selected, options, log_format, debug))


def _run_selected(plan: Plan, selected: list[str], options: object, log_format: LogFormat, debug: bool) -> int:
    from hygge.report import ConsoleReporter, JsonReporter
    from hygge.runner import RunOptions, run

    assert isinstance(options, RunOptions)
    reporter = JsonReporter() if log_format == LogFormat.json else ConsoleReporter(out)
    result = run(plan, selected, options, reporter)
    if debug:
        for outcome in result.outcomes:
            if outcome.traceback:
                err.print(outcome.traceback, markup=False)
    return result.exit_code


@app.command()
def check(
    connect: Annotated[
        bool, typer.Option("--connect", help="Also open every home and store, and the sources flows read.")
    ] = False,
    project: ProjectOpt = None,
    target: TargetOpt = None,
    var: VarOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Validate every file and the graph (and with --connect, reach every home and store)."""
    with handled(debug):
        plan = load_plan(project, target, var)
        p = plan.project
        out.print(
            f"ok: {len(p.homes)} homes, {len(p.stores)} stores, {len(plan.flows)} flows; no cycles"
            + (f" (target {p.target})" if p.target else "")
        )
        if connect:
            from hygge.inspect import check_connections, check_sources

            failed = 0
            closed: set[str] = set()
            for kind, name, problem in check_connections(p):
                if problem is None:
                    out.print(f"  [green]ok[/green]     {kind} {name}")
                else:
                    failed += 1
                    closed.update([name] if kind == "home" else [])
                    out.print(f"  [red]failed[/red] {kind} {name}: {problem}", markup=True)
            # sources only where their homes opened: one cause, one line
            for flow, problem in check_sources(plan, skip_homes=closed):
                if problem is None:
                    out.print(f"  [green]ok[/green]     source of flow {flow}")
                else:
                    failed += 1
                    out.print(f"  [red]failed[/red] source of flow {flow}: {problem}", markup=True)
            if failed:
                raise typer.Exit(1)


@app.command("ls")
def ls_(
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    target: TargetOpt = None,
    var: VarOpt = None,
    debug: DebugOpt = False,
) -> None:
    """List resolved flows: home -> store, source -> target, mode, dependencies."""
    with handled(debug):
        from hygge.inspect import flow_rows, print_flow_table

        plan = load_plan(project, target, var)
        names = plan.select(select or [], exclude or [])
        rows = flow_rows(plan, names)
        if as_json:
            import json

            print(json.dumps(rows, indent=2))
        else:
            print_flow_table(out, rows)


@app.command()
def graph(
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    target: TargetOpt = None,
    var: VarOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Show the dependency graph as a tree (or JSON nodes and edges)."""
    with handled(debug):
        from hygge.inspect import graph_json, graph_tree

        plan = load_plan(project, target, var)
        names = plan.select(select or [], exclude or [])
        if as_json:
            import json

            print(json.dumps(graph_json(plan, names), indent=2))
        else:
            out.print(graph_tree(plan, names))


@app.command()
def history(
    flow: Annotated[str | None, typer.Argument(help="Only this flow (or flow file).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show.")] = 20,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Show past flow runs from the journal: when, rows, seconds, outcome, error."""
    with handled(debug):
        from hygge.inspect import print_history
        from hygge.project import find_root

        root = find_root(None, project)
        print_history(out, root, flow, limit, as_json)


state_app = typer.Typer(help="Inspect or reset incremental watermarks.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(state_app, name="state")


@state_app.command("show")
def state_show(
    flow: Annotated[str | None, typer.Argument(help="Only this flow (or flow file).")] = None,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    target: TargetOpt = None,
    var: VarOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Show the watermark each incremental flow ended its last run with."""
    with handled(debug):
        from hygge.inspect import print_watermarks

        print_watermarks(out, load_plan(project, target, var), flow, as_json)


@state_app.command("clear")
def state_clear(
    flow: Annotated[str, typer.Argument(help="The flow (or flow file) whose watermark to reset.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    project: ProjectOpt = None,
    target: TargetOpt = None,
    var: VarOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Reset a watermark: the next run reads from `initial` again (append flows rebuild their target)."""
    with handled(debug):
        from hygge.errors import UsageError
        from hygge.inspect import clear_watermarks, incremental_flows

        plan = load_plan(project, target, var)
        flows = incremental_flows(plan, flow)
        names = ", ".join(f.name for f in flows)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"resetting {names} needs confirmation.", where="hygge state clear", hint="Pass --yes."
                )
            if not typer.confirm(
                f"Reset the watermark of {names}? The next run re-reads from the start", default=False
            ):
                raise typer.Exit(1)
        clear_watermarks(plan, flows)
        out.print(f"reset: {names}. The next run reads from `initial` (append flows replace their target).")


__import__("hygge.cli_scaffold").cli_scaffold.register(app)  # init, new, upgrade: their own module


def main() -> None:
    import signal

    from hygge.memory import bound_allocators

    bound_allocators()  # drivers' large buffers go back to the system when freed: memory stays bounded

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a CI job cancelled, a container stopped) stops as cleanly as Ctrl-C: flows roll back.
    signal.signal(signal.SIGTERM, stop)
    code: int | str | None = 0
    try:
        app()
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:
        code = exc.code
    # The command is done, every target committed or rolled back: a Ctrl-C from here on would only make Python
    # end by the signal while it shuts down (exit -2, a traceback) instead of with the command's exit code.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    main()
