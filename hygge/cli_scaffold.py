"""`hygge init`, `hygge new flow/home/store` and `hygge upgrade`: questions and printing over hygge.scaffold."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hygge.scaffold import InitAnswers, Kind, NewFile

# Imports of hygge.cli and hygge.scaffold stay inside the commands: hygge.cli imports this module, and copier
# (behind hygge.scaffold) is slow to import, so `hygge --help` must not pay for it.

ProjectOpt = Annotated[
    Path | None, typer.Option("--project", "-p", help="Project folder (default: nearest hygge.yml upward).")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")]
NameArg = Annotated[str, typer.Argument(help="The name, which is the file's stem.", show_default=False)]
TypeOpt = Annotated[str, typer.Option("--type", help="Connector type, such as csv or parquet.", show_default=False)]


class FlowMode(Enum):
    replace = "replace"
    append = "append"
    merge = "merge"


def register(app: typer.Typer) -> None:
    """Add init, new (flow, home, store) and upgrade to the `hygge` app."""
    app.command()(init)
    new_app = typer.Typer(
        name="new",
        help="Add one flow, home or store file from a template.",
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    new_app.command("flow")(new_flow)
    new_app.command("home")(new_home)
    new_app.command("store")(new_store)
    app.add_typer(new_app, name="new")
    app.command()(upgrade)


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder for the project (default: the current one).", show_default=False)
    ] = Path(),
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Ask nothing: use the options given and the defaults.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a folder that is not empty.")] = False,
    name: Annotated[
        str | None, typer.Option("--name", help="Project name (default: from the folder's name).", show_default=False)
    ] = None,
    home_type: Annotated[
        str | None, typer.Option("--home-type", help="Type of the default home (default: csv).", show_default=False)
    ] = None,
    store_type: Annotated[
        str | None,
        typer.Option("--store-type", help="Type of the default store (default: parquet).", show_default=False),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Create a project whose sample flow `hygge run --all` runs at once; asks on a terminal."""
    from hygge.cli import handled, out

    with handled(debug):
        from hygge import scaffold

        dest = directory.expanduser().resolve()
        scaffold.check_destination(dest, force=force)  # before asking anything
        interactive = not defaults and sys.stdin.isatty()
        answers = _init_answers(dest, name, home_type, store_type, interactive)
        result = scaffold.init_project(dest, answers, force=force)
        shown = _shown(result.root)
        out.print(
            f"Created project {answers.project_name} in {shown} (template version {result.version}): "
            f"{answers.home_type} home {scaffold.INIT_HOME} -> {answers.store_type} store {scaffold.INIT_STORE}, "
            f"flow {scaffold.INIT_FLOW}."
        )
        for path in result.files:
            out.print(
                f"  {path}" + ("  (replaced: it held other content)" if path in result.replaced else ""), markup=False
            )
        if result.replaced:
            out.print(
                f"--force replaced {len(result.replaced)} file(s) that held other content; "
                "git diff (or your backup) shows what they held.",
                style="yellow",
            )
        steps = ([f"cd {shown}"] if shown != "." else []) + ["hygge run --all"]
        out.print("Next:\n" + "\n".join(f"  {step}" for step in steps))


def _init_answers(
    dest: Path, name: str | None, home_type: str | None, store_type: str | None, interactive: bool
) -> InitAnswers:
    from hygge import scaffold

    if interactive:
        if name is None:
            name = _ask("Project name", scaffold.default_project_name(dest), scaffold.check_project_name)
        home_type = home_type or _ask_type("home", "where data comes from", scaffold.DEFAULT_HOME_TYPE)
        store_type = store_type or _ask_type("store", "where data lands", scaffold.DEFAULT_STORE_TYPE)
    return scaffold.InitAnswers(
        project_name=scaffold.default_project_name(dest) if name is None else name,
        home_type=home_type or scaffold.DEFAULT_HOME_TYPE,
        store_type=store_type or scaffold.DEFAULT_STORE_TYPE,
    )


def _ask_type(kind: Kind, what: str, default: str) -> str:
    from hygge import scaffold

    choices = ", ".join(scaffold.offered_types(kind))
    return _ask(f"Default {kind} type, {what} ({choices})", default, lambda answer: scaffold.check_type(kind, answer))


def _ask(question: str, default: str, check: Callable[[str], object]) -> str:
    """Ask until the answer passes `check`, showing why it did not."""
    from hygge.cli import err
    from hygge.errors import HyggeError

    while True:
        answer = str(typer.prompt(question, default=default)).strip()
        try:
            check(answer)
        except HyggeError as exc:
            err.print(f"  {exc.described}", markup=False, style="red")
            continue
        return answer


def _shown(path: Path) -> str:
    """`path` relative to the current folder when inside it, as a user would type it."""
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def new_flow(
    name: NameArg,
    home: Annotated[
        str | None,
        typer.Option("--home", help="Home (or store) to read from (default: by convention).", show_default=False),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Store to write to (default: by convention).", show_default=False)
    ] = None,
    mode: Annotated[
        FlowMode | None, typer.Option("--mode", help="replace (default), append or merge.", show_default=False)
    ] = None,
    key: Annotated[
        list[str] | None, typer.Option("--key", help="Key column for merge (repeatable).", show_default=False)
    ] = None,
    force: ForceOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Add flows/NAME.yml, reading NAME from a home and writing it to a store."""
    from hygge.cli import handled

    with handled(debug):
        from hygge import scaffold

        made = scaffold.new_flow(
            name,
            home=home,
            store=store,
            mode=None if mode is None else mode.value,
            key=key or [],
            project=project,
            force=force,
        )
        _print_new(made)


def new_home(
    name: NameArg, type_: TypeOpt, force: ForceOpt = False, project: ProjectOpt = None, debug: DebugOpt = False
) -> None:
    """Add homes/NAME.yml with the settings its connector type suggests."""
    _new_endpoint("home", name, type_, force, project, debug)


def new_store(
    name: NameArg, type_: TypeOpt, force: ForceOpt = False, project: ProjectOpt = None, debug: DebugOpt = False
) -> None:
    """Add stores/NAME.yml with the settings its connector type suggests."""
    _new_endpoint("store", name, type_, force, project, debug)


def _new_endpoint(kind: Kind, name: str, type_name: str, force: bool, project: Path | None, debug: bool) -> None:
    from hygge.cli import handled

    with handled(debug):
        from hygge import scaffold

        _print_new(scaffold.new_endpoint(kind, name, type_name, project=project, force=force))


def _print_new(made: NewFile) -> None:
    from hygge.cli import out

    out.print(f"Wrote {_shown(made.path)}: {made.summary}.")
    if made.variables:
        note = f"It uses {', '.join(made.variables)}"
        if made.env_added:
            note += f"; .env.example now lists {', '.join(made.env_added)}"
        out.print(note + ". Set them in .env or the environment.")


def upgrade(
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Answer questions new templates add with their defaults.")
    ] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Bring the files `hygge init` made up to this hygge's template, keeping your edits (needs git)."""
    from hygge.cli import handled, out

    with handled(debug):
        from hygge import scaffold

        result = scaffold.upgrade_project(project, interactive=not defaults and sys.stdin.isatty())
        if result.from_version == result.to_version:
            out.print(f"Already at template version {result.to_version}; nothing to upgrade.")
            return
        out.print(f"Upgraded from template version {result.from_version} to {result.to_version}.")
        for path in result.changed:
            out.print(f"  changed  {path}")
        if result.conflicts:
            out.print(
                "Your edits and the template's changes conflict in: "
                + ", ".join(result.conflicts)
                + ". Resolve the <<<<<<< / >>>>>>> marks, then commit."
            )
            raise typer.Exit(1)
        out.print("Review with `git diff`, then commit.")
