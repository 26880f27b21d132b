"""Find a project and load hygge.yml, homes/, stores/ and flows/ into validated, positioned models."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hygge.connectors import get_connector
from hygge.connectors.base import Connector, ConnectorSettings
from hygge.errors import ProjectError, UsageError, Where, did_you_mean
from hygge.models import ProjectSpec
from hygge.redact import register_settings
from hygge.validation import raise_all, validate
from hygge.variables import Variables, read_dotenv
from hygge.yamlsource import Loc, YamlDoc, load_yaml

PROJECT_FILE = "hygge.yml"
KINDS = ("homes", "stores", "flows")


@dataclass
class EndpointDef:
    """One file of homes/ or stores/: its connector type and validated settings."""

    kind: Literal["home", "store"]
    name: str
    doc: YamlDoc
    connector: type[Connector]
    settings: ConnectorSettings

    @property
    def where(self) -> Where:
        return self.doc.where(())


@dataclass
class FlowDef:
    """One file of flows/, validated later by the resolver (which expands entities)."""

    name: str
    doc: YamlDoc

    @property
    def where(self) -> Where:
        return self.doc.where(())


@dataclass
class Project:
    root: Path
    doc: YamlDoc
    spec: ProjectSpec
    target: str | None
    variables: Variables
    homes: dict[str, EndpointDef] = field(default_factory=dict)
    stores: dict[str, EndpointDef] = field(default_factory=dict)
    flows: dict[str, FlowDef] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / ".hygge"

    def files(self) -> list[Path]:
        """Every project file that was read (for watch mode)."""
        paths = [self.doc.path]
        paths += [d.doc.path for d in (*self.homes.values(), *self.stores.values())]
        paths += [f.doc.path for f in self.flows.values()]
        return paths


def find_root(start: Path | None = None, project: Path | None = None) -> Path:
    """The folder holding hygge.yml: `project` itself, or the nearest one upward from `start`."""
    if project is not None:
        project = project.expanduser().resolve()
        if not (project / PROJECT_FILE).is_file():
            raise UsageError(
                f"{project} has no {PROJECT_FILE}",
                where="--project",
                hint="Point --project at the folder that holds hygge.yml, or create one with `hygge init`.",
            )
        return project
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise UsageError(
        f"no {PROJECT_FILE} found in {here} or any folder above it",
        hint="Run hygge inside a project, pass --project DIR, or create one with `hygge init`.",
    )


def load_project(
    project: Path | str | None = None,
    *,
    target: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    start: Path | None = None,
) -> Project:
    """Load and validate a whole project; every problem found is reported at once."""
    root = find_root(start, Path(project) if project is not None else None)
    env = dict(os.environ if environ is None else environ)
    dotenv = read_dotenv(root / ".env", root)
    variables = Variables(cli=dict(cli_vars or {}), environ=env, dotenv=dotenv)

    doc = load_yaml(root / PROJECT_FILE, root)
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise ProjectError("hygge.yml must be a mapping", where=doc.where(), hint="Start with `name: my_project`.")
    variables.expand_doc(doc)
    spec = validate(ProjectSpec, doc.data, doc)
    chosen = _choose_target(spec, doc, target or env.get("HYGGE_TARGET"), "--target" if target else "HYGGE_TARGET")
    if chosen is not None:
        variables.target = {k: _as_text(v) for k, v in spec.targets[chosen].vars.items()}

    result = Project(root=root, doc=doc, spec=spec, target=chosen, variables=variables)
    errors: list[ProjectError] = []
    for kind in KINDS:
        for name, path in _discover(root, kind, errors).items():
            try:
                _load_one(result, kind, name, path)
            except ProjectError as exc:
                errors.extend(getattr(exc, "errors", [exc]))
    errors += _flow_name_clashes(result)
    raise_all(errors)
    return result


def _as_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _choose_target(spec: ProjectSpec, doc: YamlDoc, requested: str | None, given_by: str) -> str | None:
    if spec.default_target is not None and spec.default_target not in spec.targets:
        raise ProjectError(
            f"default_target '{spec.default_target}' is not one of the targets.",
            where=doc.where(("default_target",)),
            hint=did_you_mean(spec.default_target, spec.targets, kind="Targets"),
        )
    if requested is None:
        return spec.default_target
    if requested not in spec.targets:
        raise UsageError(
            f"unknown target '{requested}'.",
            where=given_by,
            hint=did_you_mean(requested, spec.targets, kind="Targets"),
        )
    return requested


def _discover(root: Path, kind: str, errors: list[ProjectError]) -> dict[str, Path]:
    """Files of one kind by name; sub-folders only organise, so a name may appear once."""
    found: dict[str, Path] = {}
    folder = root / kind
    if not folder.is_dir():
        if folder.exists():
            errors.append(
                ProjectError(
                    f"{kind} is a file, not a folder, so it holds no {kind}",
                    where=Where(folder, root=root),
                    hint=f"Make {kind}/ a folder of one YAML file per {kind.rstrip('s')}.",
                )
            )
        return found
    paths = sorted(p for ext in ("*.yml", "*.yaml") for p in folder.rglob(ext) if p.is_file())
    for path in paths:
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        name = path.stem
        if name in found:
            first, second = (found[name].relative_to(root), path.relative_to(root))
            errors.append(
                ProjectError(
                    f"two {kind} are named '{name}': {first.as_posix()} and {second.as_posix()}.",
                    where=Where(path, root=root),
                    hint="A name is its file's stem; rename one of them.",
                )
            )
            continue
        found[name] = path
    return found


def _flow_name_clashes(project: Project) -> list[ProjectError]:
    """Flows named twice: by a file and an entity (`shop.a.yml` and `shop.yml` with `entities: [a]`), or by one
    entity listed twice. The resolver keeps one flow per name, so the other would silently never run."""
    errors: list[ProjectError] = []
    owner = {name: flow.doc.where() for name, flow in project.flows.items()}
    for group, flow in project.flows.items():
        entities = flow.doc.data.get("entities")
        if isinstance(entities, dict):
            items: list[tuple[object, Loc]] = [(e, ("entities", e)) for e in entities]
        elif isinstance(entities, list):
            items = [(e, ("entities", i)) for i, e in enumerate(entities)]
        else:
            continue
        for entity, loc in items:
            if not isinstance(entity, str):
                continue  # validation reports it
            name, where = f"{group}.{entity}", flow.doc.where(loc)
            first = owner.setdefault(name, where)
            if first is where:
                continue
            if first.file == where.file:
                errors.append(
                    ProjectError(f"flow {group} lists the entity '{entity}' twice.", where=where, hint="Keep one.")
                )
                continue
            errors.append(
                ProjectError(
                    f"two flows are named '{name}': {first} and the entity '{entity}' of "
                    f"{Where(where.file, root=project.root)}.",
                    where=where,
                    hint="An entity's flow is named <flow>.<entity>; rename the file or the entity.",
                )
            )
    return errors


def _load_one(project: Project, kind: str, name: str, path: Path) -> None:
    doc = load_yaml(path, project.root)
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise ProjectError(f"a {kind[:-1]} file must be a mapping of keys", where=doc.where())
    project.variables.expand_doc(doc)
    if kind == "flows":
        project.flows[name] = FlowDef(name, doc)
        return
    endpoint_kind: Literal["home", "store"] = "home" if kind == "homes" else "store"
    project_dict = project.homes if kind == "homes" else project.stores
    project_dict[name] = _load_endpoint(endpoint_kind, name, doc)


def _load_endpoint(kind: Literal["home", "store"], name: str, doc: YamlDoc) -> EndpointDef:
    data: dict[str, Any] = doc.data
    type_name = data.get("type")
    if not isinstance(type_name, str):
        raise ProjectError(
            f"{kind} '{name}' has no connector type.",
            where=doc.where(),
            hint="Add a line such as `type: parquet`.",
        )
    connector = get_connector(type_name, where=doc.where(("type",)))
    caps = connector.capabilities
    if (kind == "home" and not caps.home) or (kind == "store" and not caps.store):
        raise ProjectError(
            f"connector '{type_name}' cannot be a {kind}.",
            where=doc.where(("type",)),
            hint=f"Move this file to {'stores' if kind == 'home' else 'homes'}/ or use another type.",
        )
    settings = validate(connector.settings_model, data, doc, what=f"{type_name} {kind}")
    register_settings(data)
    return EndpointDef(kind, name, doc, connector, settings)
