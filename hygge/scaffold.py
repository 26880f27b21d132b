"""Scaffolding: `hygge init` (a project from the copier template), `hygge new` (one file), `hygge upgrade`.

Templates live in `hygge/templates/` (or the folder named by the HYGGE_TEMPLATES environment variable, laid out
the same way): `project/<version>/` holds each version of the copier project template, `new/` the templates of
`hygge new`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from hygge.connectors import connector_names, get_connector
from hygge.errors import HyggeError, ProjectError, UsageError, did_you_mean

if TYPE_CHECKING:
    from hygge.connectors.base import Connector, ConnectorSettings
    from hygge.project import Project

__all__ = [
    "TEMPLATES_ENV",
    "InitAnswers",
    "InitResult",
    "NewFile",
    "UpgradeResult",
    "check_destination",
    "check_project_name",
    "check_type",
    "default_project_name",
    "init_project",
    "new_endpoint",
    "new_flow",
    "offered_types",
    "upgrade_project",
]

Kind = Literal["home", "store"]
Mode = Literal["replace", "append", "merge"]

TEMPLATES_ENV = "HYGGE_TEMPLATES"
DEFAULT_HOME_TYPE = "csv"
DEFAULT_STORE_TYPE = "parquet"
# The names the project template gives its home, store and flow (which reads and writes the sample `orders`).
INIT_HOME = "drops"
INIT_STORE = "lake"
INIT_FLOW = "orders"
ANSWERS_FILE = ".copier-answers.yml"

# Template versions and `hygge upgrade`
#
# copier updates a project with a 3-way merge: it renders the template version the project was made from
# (`_commit` in .copier-answers.yml), diffs that with the project to find the user's edits, renders the new
# version over the project and applies the edits again. So it needs the old version, from a git repository
# with tags. Files shipped in a package have no history, so hygge ships every released version of the project
# template as a folder (templates/project/1/, 2/, ...; a released folder is never edited again) and, for every
# init and upgrade, builds a throw-away git repository inside the project at .hygge/template, with one commit
# per version tagged with its number. copier records that relative path as `_src_path` and the tag as `_commit`;
# hygge runs copier from the project folder, so the same answers work on every machine and in every clone.
# .hygge/ is git-ignored, so the repository never makes the project look dirty to copier, and it is deleted
# when copier is done.
TEMPLATE_REPO = Path(".hygge") / "template"

_PROJECT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Letters that Unicode does not decompose into an ASCII letter and an accent (NFKD does ü -> u, å -> a).
_ASCII_LETTERS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "ø": "o",
        "Ø": "O",
        "œ": "oe",
        "Œ": "OE",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "Th",
    }
)


def templates_dir() -> Path:
    """The templates folder: HYGGE_TEMPLATES if set, else the one shipped inside the package."""
    override = os.environ.get(TEMPLATES_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent / "templates"


def project_versions(templates: Path | None = None) -> dict[int, Path]:
    """Every version of the project template, by number."""
    folder = (templates or templates_dir()) / "project"
    versions = {int(p.name): p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()} if folder.is_dir() else {}
    if not versions:
        raise ProjectError(
            f"{folder} holds no project template.",
            where=TEMPLATES_ENV if os.environ.get(TEMPLATES_ENV) else None,
            hint="It needs one folder per template version, named 1, 2, ... (see hygge/templates/).",
        )
    return versions


# Questions of `hygge init`


@dataclass(frozen=True)
class InitAnswers:
    """The answers `hygge init` asks for."""

    project_name: str
    home_type: str = DEFAULT_HOME_TYPE
    store_type: str = DEFAULT_STORE_TYPE


@dataclass(frozen=True)
class InitResult:
    root: Path
    version: int
    answers: InitAnswers
    files: list[str]
    replaced: list[str] = field(default_factory=list)  # files that were there (--force) with other content


def default_project_name(folder: Path) -> str:
    """The project name a folder suggests, always a valid one (it is the default answer, and the answer of
    --defaults): the folder's name in ASCII letters (ü -> u, ø -> o), each run of other characters as one `_`,
    and `project_` before a leading digit."""
    name = unicodedata.normalize("NFKD", folder.expanduser().resolve().name.translate(_ASCII_LETTERS))
    name = re.sub(r"[^A-Za-z0-9_]+", "_", name.encode("ascii", "ignore").decode()).strip("_")
    if name[:1].isdigit():
        name = f"project_{name}"
    return name or "my_project"


def check_project_name(name: str) -> None:
    if not _PROJECT_NAME.match(name):
        raise UsageError(
            f"project name '{name}' is not a valid identifier.",
            where="project name",
            hint="Use letters, digits and _, starting with a letter, such as shop_loads (--name NAME).",
        )


def offered_types(kind: Kind) -> list[str]:
    """Connector types a new project can start with: they hold the sample data and need no variables."""
    return [name for name in connector_names() if _unfit_for_init(kind, get_connector(name)) is None]


def _unfit_for_init(kind: Kind, connector: type[Connector]) -> str | None:
    """Why a new project cannot start with this connector as its default `kind`, or None if it can."""
    caps = connector.capabilities
    if kind == "home" and not caps.home:
        return "it cannot be a home"
    if not caps.store:
        # A home must be writable too: `hygge init` loads the sample data into it.
        return "it cannot be a store" if kind == "store" else "hygge init cannot load the sample data into it"
    needed = [name for name, default in _variables(connector.template_settings) if default is None]
    if needed:
        return f"its settings need {', '.join(needed)}, which a new project does not have yet"
    return None


def check_type(kind: Kind, type_name: str) -> type[Connector]:
    """The connector for a default home or store type of a new project."""
    where = f"--{kind}-type"
    if type_name not in connector_names():
        raise UsageError(
            f"unknown connector type '{type_name}'.",
            where=where,
            hint=did_you_mean(type_name, offered_types(kind), kind="Types"),
        )
    connector = get_connector(type_name)
    problem = _unfit_for_init(kind, connector)
    if problem is not None:
        raise UsageError(
            f"a new project cannot start with a {type_name} {kind}: {problem}.",
            where=where,
            hint=f"Start with one of {', '.join(offered_types(kind))}, then add it with "
            f"`hygge new {kind} NAME --type {type_name}`.",
        )
    return connector


def check_destination(dest: Path, *, force: bool = False) -> None:
    """Refuse a destination that is a file, or a folder with anything in it (unless `force`)."""
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} is a file, not a folder.", where="hygge init")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise UsageError(
            f"{dest} is not empty.",
            where="hygge init",
            hint="Name a new folder, or pass --force to write the project into this one "
            "(files with the project's names are replaced).",
        )


# hygge init


@dataclass(frozen=True)
class _Endpoint:
    name: str
    type_name: str
    connector: type[Connector]
    settings: dict[str, Any]
    model: ConnectorSettings


def _init_endpoint(kind: Kind, name: str, type_name: str) -> _Endpoint:
    from pydantic import ValidationError

    connector = check_type(kind, type_name)
    settings = endpoint_settings(connector, name)
    try:
        model = connector.settings_model.model_validate({"type": type_name, **settings})
    except ValidationError as exc:
        raise ProjectError(
            f"the template settings of connector '{type_name}' are not valid settings: {exc}",
            hint="Fix template_settings in the connector (a bug in the package that provides it).",
        ) from exc
    return _Endpoint(name, type_name, connector, settings, model)


def _check_answers(answers: InitAnswers, root: Path) -> tuple[_Endpoint, _Endpoint]:
    check_project_name(answers.project_name)
    home = _init_endpoint("home", INIT_HOME, answers.home_type)
    store = _init_endpoint("store", INIT_STORE, answers.store_type)
    reads = home.connector.home(home.name, home.model, root).location(INIT_FLOW)
    writes = store.connector.store(store.name, store.model, root).location(INIT_FLOW)
    if reads == writes:
        raise UsageError(
            f"home {home.name} ({home.type_name}) and store {store.name} ({store.type_name}) would be the same "
            f"place ({reads}), so the sample flow would read what it writes.",
            where="hygge init",
            hint="Choose other types; connectors should use {name} in their template_settings paths.",
        )
    return home, store


def init_project(dest: Path, answers: InitAnswers, *, force: bool = False) -> InitResult:
    """Write a new project into `dest` from the newest project template, with sample data in its home.

    Every answer is checked first, and the project is made in a temporary folder and copied into `dest` only
    once complete, so a failure writes nothing.
    """
    dest = dest.expanduser().resolve()
    check_destination(dest, force=force)
    home, store = _check_answers(answers, dest)
    versions = project_versions()
    version = max(versions)
    with tempfile.TemporaryDirectory(prefix="hygge-init-") as tmp:
        staging = Path(tmp)
        data = {
            "project_name": answers.project_name,
            "home_type": home.type_name,
            "store_type": store.type_name,
            "home_settings": home.settings,
            "store_settings": store.settings,
        }
        with _template_repo(staging, versions) as src, _copier_errors("hygge init"):
            import copier

            copier.run_copy(
                src,
                ".",
                data=data,
                vcs_ref=str(version),
                defaults=True,  # hygge asked the questions; copier checks the answers with its validators
                overwrite=True,
                quiet=True,
                unsafe=False,  # never run a template's tasks, migrations or Jinja extensions
                settings=copier.Settings(),  # ignore a user's copier settings (trusted templates, defaults)
                exclude=[".git"],
            )
        _load_sample_data(staging, home, versions[version] / "sample")
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        replaced = _copy_in(staging, dest)
    return InitResult(dest, version, answers, files, replaced)


def _copy_in(staging: Path, dest: Path) -> list[str]:
    """Copy the made project into `dest` as mkdir and open would make it, and say which files it replaced with
    other content (--force). Not shutil.copytree, which copies modes too: the temporary folder's 0700 would land
    on `dest`, even on a folder that existed."""
    dest.mkdir(parents=True, exist_ok=True)
    replaced: list[str] = []
    for path in sorted(staging.rglob("*")):  # a folder before what is in it
        target = dest / path.relative_to(staging)
        if path.is_dir():
            target.mkdir(exist_ok=True)
            continue
        if target.is_file() and target.read_bytes() != path.read_bytes():
            replaced.append(path.relative_to(staging).as_posix())
        shutil.copyfile(path, target)  # content only; a file it replaces keeps its mode
    return replaced


def _load_sample_data(root: Path, home: _Endpoint, sample: Path) -> None:
    """Write the template's sample CSV files into the home, in the home's own format, by its connector."""
    import polars as pl

    from hygge.connectors.base import WriteRequest

    writer = home.connector.store(home.name, home.model, root)
    try:
        for path in sorted(sample.glob("*.csv")):
            writer.write(pl.scan_csv(path), WriteRequest(flow="hygge init", target=path.stem))
    finally:
        writer.close()


# hygge upgrade


@dataclass(frozen=True)
class UpgradeResult:
    root: Path
    from_version: int
    to_version: int
    changed: list[str]
    conflicts: list[str]


def upgrade_project(project: Path | None = None, *, interactive: bool = False) -> UpgradeResult:
    """Bring the files `hygge init` made up to the newest project template, keeping the user's edits.

    The project must be in git with nothing uncommitted, so the changes can be reviewed and undone. Questions
    that newer templates add are asked when `interactive`, else answered with their defaults.
    """
    from hygge.project import find_root

    root = find_root(None, project)
    from_version = _recorded_version(root)
    versions = project_versions()
    to_version = max(versions)
    if from_version not in versions:
        newer = from_version > to_version
        raise UsageError(
            f"the project was made from template version {from_version}, which this hygge does not ship "
            f"(it has {', '.join(map(str, sorted(versions)))}).",
            where=ANSWERS_FILE,
            hint="Upgrade hygge first: pip install -U hygge." if newer else None,
        )
    if from_version == to_version:
        return UpgradeResult(root, from_version, to_version, [], [])
    _check_git(root)
    with _template_repo(root, versions), _copier_errors("hygge upgrade"):
        import copier

        copier.run_update(
            ".",
            vcs_ref=str(to_version),
            defaults=not interactive,
            skip_answered=True,
            overwrite=True,
            quiet=True,
            conflict="inline",
            unsafe=False,
            settings=copier.Settings(),
            exclude=[".git"],
        )
    changed = [line[3:] for line in _git(root, "status", "--porcelain", "--", ".").splitlines()]
    conflicts = sorted(set(_git(root, "diff", "--name-only", "--diff-filter=U", "--relative").splitlines()))
    return UpgradeResult(root, from_version, to_version, changed, conflicts)


def _recorded_version(root: Path) -> int:
    path = root / ANSWERS_FILE
    not_ours = UsageError(
        f"{root} was not made by `hygge init`: {ANSWERS_FILE} is missing or has no template version.",
        where="hygge upgrade",
        hint="Only projects made by `hygge init` can be upgraded.",
    )
    if not path.is_file():
        raise not_ours
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{ANSWERS_FILE} is not valid YAML: {exc}.", where="hygge upgrade") from exc
    if not isinstance(answers, dict) or not str(answers.get("_commit", "")).isdigit():
        raise not_ours
    if answers.get("_src_path") != TEMPLATE_REPO.as_posix():
        raise UsageError(
            f"{ANSWERS_FILE} names another template ({answers.get('_src_path')}), not hygge's.",
            where=ANSWERS_FILE,
            hint=f"Set _src_path: {TEMPLATE_REPO.as_posix()} if the project was made by `hygge init`.",
        )
    return int(answers["_commit"])


def _check_git(root: Path) -> None:
    """copier merges with git and refuses uncommitted work; say so in hygge's words before it does."""
    if _run_git(root, "rev-parse", "--show-toplevel").returncode != 0:
        raise UsageError(
            "hygge upgrade needs the project in git, so that you can review and undo its changes.",
            where="hygge upgrade",
            hint='Run: git init && git add -A && git commit -m "hygge project"',
        )
    if _git(root, "status", "--porcelain", "--", "."):
        raise UsageError(
            "the project has uncommitted changes.",
            where="hygge upgrade",
            hint="Commit or stash them first, so the upgrade's changes can be reviewed and undone on their own.",
        )
    if _run_git(root, "check-ignore", "-q", TEMPLATE_REPO.as_posix()).returncode != 0:
        raise UsageError(
            ".hygge/ is not git-ignored.",
            where=".gitignore",
            hint="Add the line .hygge/ to .gitignore: hygge keeps its state there, and the template while upgrading.",
        )


# The template repository and copier


@contextlib.contextmanager
def _template_repo(root: Path, versions: Mapping[int, Path]) -> Iterator[str]:
    """Build the git repository of every template version at .hygge/template and work from `root` meanwhile."""
    repo = root / TEMPLATE_REPO
    shutil.rmtree(repo, ignore_errors=True)  # left by an interrupted run
    repo.mkdir(parents=True)
    try:
        _git(repo, "init", "-q")
        for number, folder in sorted(versions.items()):
            for old in repo.iterdir():
                if old.name != ".git":
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            shutil.copytree(folder, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
            # Empty the index so that git hashes every file again: copytree keeps mtimes, and a file of this
            # version with the size and mtime of the last one's (usual after a git clone or a wheel install)
            # would look unchanged to git's stat cache, and the change would be silently left out.
            _git(repo, "read-tree", "--empty")
            _git(repo, "add", "--all", "--force")  # a user's global excludes (say .env*) must not drop files
            _git(repo, "commit", "-q", "--allow-empty", "--no-verify", "-m", f"hygge project template {number}")
            _git(repo, "tag", str(number))
        with contextlib.chdir(root):
            yield TEMPLATE_REPO.as_posix()
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        with contextlib.suppress(OSError):
            repo.parent.rmdir()  # .hygge/ itself, unless it holds the project's state


@contextlib.contextmanager
def _copier_errors(command: str) -> Iterator[None]:
    """copier's errors about the template or the answers, as HyggeErrors."""
    from copier.errors import CopierError, UnsafeTemplateError

    try:
        yield
    except UnsafeTemplateError as exc:
        raise ProjectError(
            "the project template wants to run its own code (tasks, migrations or Jinja extensions).",
            where=command,
            hint="hygge never runs template code; remove those from the template's copier.yml.",
        ) from exc
    except (CopierError, ValueError) as exc:  # copier's validators raise ValueError
        raise ProjectError(f"the project template refused: {exc}", where=command) from exc


def _git(cwd: Path, *args: str) -> str:
    done = _run_git(cwd, *args)
    if done.returncode != 0:
        raise ProjectError(f"git {' '.join(args)} failed: {done.stderr.strip()}", where=str(cwd))
    return done.stdout.rstrip("\n")  # not strip(): `git status --porcelain` lines start with a space


def _run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Commits in the template repository need an author, and a user's hooks or signing must not get in the way.
    config = ["-c", "user.name=hygge", "-c", "user.email=hygge@localhost"]
    config += ["-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"]
    env = {k: v for k, v in os.environ.items() if k not in {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"}}
    try:
        return subprocess.run(["git", *config, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed.", hint="hygge init and hygge upgrade need git.") from exc


# hygge new


@dataclass(frozen=True)
class NewFile:
    path: Path
    summary: str
    variables: list[str]  # the ${VAR}s the file uses
    env_added: list[str]  # those added to .env.example


def endpoint_settings(connector: type[Connector], name: str) -> dict[str, Any]:
    """A connector's template settings for the home or store `name` ({name} in a value becomes the name)."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{name}", name)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return {key: fill(value) for key, value in connector.template_settings.items()}


def new_endpoint(kind: Kind, name: str, type_name: str, *, project: Path | None = None, force: bool = False) -> NewFile:
    """Write homes/NAME.yml or stores/NAME.yml with the connector's template settings."""
    from hygge.project import find_root

    root = find_root(None, project)
    _check_file_name(kind, name)
    connector = get_connector(type_name, where="--type")
    if not _can_be(connector, kind):
        able = [t for t in connector_names() if _can_be(get_connector(t), kind)]
        raise UsageError(
            f"connector '{type_name}' cannot be a {kind}.", where="--type", hint=f"Types: {', '.join(able)}."
        )
    settings = endpoint_settings(connector, name)
    variables = _variables(settings)
    names = [var for var, _ in variables]
    path = _new_path(root, f"{kind}s", name, force=force)
    text = _render(
        f"{kind}.yml.jinja",
        name=name,
        type=type_name,
        settings=settings,
        variables=names,
        optional=_optional_settings(connector, settings),
    )
    _write(path, text)
    added = _add_to_env_example(root, variables, f"{kind} {name}")
    return NewFile(path, f"{type_name} {kind} {name}", names, added)


def new_flow(
    name: str,
    *,
    home: str | None = None,
    store: str | None = None,
    mode: Mode | None = None,
    key: Sequence[str] = (),
    project: Path | None = None,
    force: bool = False,
) -> NewFile:
    """Write flows/NAME.yml, naming only what the conventions would not choose; it must resolve."""
    from hygge.project import load_project
    from hygge.resolver import resolve

    _check_file_name("flow", name)
    loaded = load_project(project)
    home_name, home_kind, home_why = _flow_home(loaded, name, home)
    store_name, store_why = _flow_store(loaded, name, store)
    if mode == "merge" and not key:
        raise UsageError("mode merge needs a key.", where="--mode", hint="Name the key columns: --key id (repeatable).")
    path = _new_path(loaded.root, "flows", name, force=force)
    text = _render(
        "flow.yml.jinja",
        name=name,
        home=home,
        store=store,
        mode=mode,
        key=list(key),
        home_name=home_name,
        home_kind=home_kind,
        home_why=home_why,
        store_name=store_name,
        store_why=store_why,
    )
    before = path.read_bytes() if path.exists() else None
    _write(path, text)
    try:
        resolve(load_project(project))
    except HyggeError:
        # Leave the project as it was rather than broken by a file it did not ask for.
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)
        raise
    return NewFile(path, f"{home_kind} {home_name} -> store {store_name}", [], [])


def _can_be(connector: type[Connector], kind: Kind) -> bool:
    return connector.capabilities.home if kind == "home" else connector.capabilities.store


def _flow_home(project: Project, flow: str, named: str | None) -> tuple[str, str, str]:
    """The flow's home, whether it is a home or a store, and why it is the one (for the file's comment)."""
    if named is not None:
        if named in project.homes:
            return named, "home", "named here"
        if named in project.stores:
            return named, "store", "named here: a store read as a home"
        raise UsageError(
            f"unknown home '{named}'.",
            where="--home",
            hint=did_you_mean(named, [*project.homes, *project.stores], kind="Homes and stores"),
        )
    if flow in project.homes:
        return flow, "home", "the home named like the flow"
    default = project.spec.defaults.home
    if default is not None:
        return default, "home" if default in project.homes else "store", "defaults.home in hygge.yml"
    raise UsageError(
        f"flow '{flow}' would have no home: no home is named '{flow}' and hygge.yml has no defaults.home.",
        where="hygge new flow",
        hint=f"Pass --home NAME. Homes: {', '.join(sorted(project.homes)) or 'none yet'}.",
    )


def _flow_store(project: Project, flow: str, named: str | None) -> tuple[str, str]:
    if named is not None:
        if named in project.stores:
            return named, "named here"
        raise UsageError(
            f"unknown store '{named}'.", where="--store", hint=did_you_mean(named, project.stores, kind="Stores")
        )
    if flow in project.stores:
        return flow, "the store named like the flow"
    default = project.spec.defaults.store
    if default is not None:
        return default, "defaults.store in hygge.yml"
    raise UsageError(
        f"flow '{flow}' would have no store: no store is named '{flow}' and hygge.yml has no defaults.store.",
        where="hygge new flow",
        hint=f"Pass --store NAME. Stores: {', '.join(sorted(project.stores)) or 'none yet'}.",
    )


def _check_file_name(kind: str, name: str) -> None:
    if not _FILE_NAME.match(name):
        raise UsageError(
            f"'{name}' cannot name a {kind}.",
            where=f"hygge new {kind}",
            hint="Use letters, digits, _ and -; a name is a file's stem (no dots or slashes).",
        )


def _new_path(root: Path, folder: str, name: str, *, force: bool) -> Path:
    """Where the new file goes; refuses a name already taken, unless `force` replaces that same file."""
    path = root / folder / f"{name}.yml"
    taken = [
        p
        for ext in ("yml", "yaml")
        for p in (root / folder).rglob(f"{name}.{ext}")
        if not any(part.startswith(".") for part in p.relative_to(root / folder).parts)
    ]
    for existing in taken:
        shown = existing.relative_to(root).as_posix()
        if existing != path:
            raise UsageError(
                f"{shown} already has the name '{name}'.",
                where=f"hygge new {folder[:-1]}",
                hint="A name is its file's stem; choose another name.",
            )
        if not force:
            raise UsageError(
                f"{shown} already exists.", where=f"hygge new {folder[:-1]}", hint="Pass --force to replace it."
            )
    return path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _render(template: str, **context: Any) -> str:
    """Render one template of templates/new/."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "new"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )
    env.filters["to_yaml"] = _to_yaml
    env.filters["to_json"] = lambda value: json.dumps(value, default=str)
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise ProjectError(f"{templates_dir() / 'new'} has no template {template}.") from exc


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip("\n")


def _variables(settings: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The ${VAR}s in settings, in order, each with its default (None when it has none)."""
    found: dict[str, str | None] = {}
    for match in _VARIABLE.finditer(json.dumps(settings, default=str)):
        found.setdefault(match.group(1), match.group(2))
    return list(found.items())


def _optional_settings(connector: type[Connector], settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The connector's other settings, each with its default as YAML, for the new file's comment."""
    shown = []
    for key, info in connector.settings_model.model_fields.items():
        name = info.alias or key
        if name == "type" or name in settings:
            continue
        if info.is_required():
            shown.append((name, "(required)"))
        else:
            shown.append((name, json.dumps(info.get_default(call_default_factory=True), default=str)))
    return shown


def _add_to_env_example(root: Path, variables: list[tuple[str, str | None]], owner: str) -> list[str]:
    """Add variables .env.example does not list yet (those with a default commented out); return them."""
    path = root / ".env.example"
    if not variables or not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    listed = set(re.findall(r"^[#\s]*([A-Za-z_][A-Za-z0-9_]*)=", text, flags=re.MULTILINE))
    new = [(name, default) for name, default in variables if name not in listed]
    if not new:
        return []
    lines = [f"# Used by {owner}:"]
    lines += [f"# {name}={default}" if default is not None else f"{name}=" for name, default in new]
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return [name for name, _ in new]
