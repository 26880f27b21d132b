"""Apply the conventions of DESIGN §3: every flow file becomes concrete flows wired into a graph."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal

from hygge.connectors.base import Home, Store
from hygge.errors import ProjectError, Where, did_you_mean
from hygge.graph import FlowGraph, Node
from hygge.models import EntitySpec, FlowFields, FlowSpec, IncrementalSpec, Mode, SchemaPolicy
from hygge.project import EndpointDef, FlowDef, Project
from hygge.validation import raise_all, validate
from hygge.yamlsource import Loc, YamlDoc

DEFAULT_BATCH_SIZE = 100_000


@dataclass
class ResolvedFlow:
    """One concrete flow: every default applied, endpoints chosen, locations known."""

    name: str
    group: str
    where: Where
    home_name: str
    home_def: EndpointDef
    store_name: str
    store_def: EndpointDef
    source: str
    query: str | None
    target: str
    mode: Mode
    key: tuple[str, ...]
    incremental: IncrementalSpec | None
    on_schema_change: SchemaPolicy
    batch_size: int
    allow_empty: bool
    tags: frozenset[str]
    depends_on: frozenset[str]
    read_location: str
    write_location: str
    globbed_locations: tuple[str, ...] = ()  # what a reader's glob matches (Store.globbed_locations)
    depends_where: Where | None = None  # where depends_on is written, for its errors
    inferred: set[str] = field(default_factory=set)
    description: str | None = None

    @property
    def upstream(self) -> frozenset[str]:
        return self.depends_on | self.inferred

    def make_home(self) -> Home:
        d = self.home_def
        return d.connector.home(self.home_name, d.settings, d.doc.root)

    def make_store(self) -> Store:
        d = self.store_def
        return d.connector.store(self.store_name, d.settings, d.doc.root)


@dataclass
class Plan:
    project: Project
    flows: dict[str, ResolvedFlow]
    graph: FlowGraph

    def select(self, select: list[str] | tuple[str, ...] = (), exclude: list[str] | tuple[str, ...] = ()) -> list[str]:
        return self.graph.select(list(select), list(exclude))


def resolve(project: Project) -> Plan:
    """Resolve every flow, infer dependencies, build the graph (cycles are errors)."""
    flows: dict[str, ResolvedFlow] = {}
    errors: list[ProjectError] = []
    for flow_def in project.flows.values():
        try:
            for resolved in _resolve_file(project, flow_def):
                flows[resolved.name] = resolved
        except ProjectError as exc:
            errors.extend(getattr(exc, "errors", [exc]))
    raise_all(errors)
    _infer_dependencies(flows)
    _check_depends_on(flows)
    nodes = [
        Node(
            name=f.name,
            group=f.group,
            tags=f.tags,
            home=f.home_name,
            store=f.store_name,
            depends_on=frozenset(f.upstream),
        )
        for f in flows.values()
    ]
    graph = FlowGraph(nodes)
    _check_shared_targets(flows, graph)
    return Plan(project, flows, graph)


def _resolve_file(project: Project, flow_def: FlowDef) -> list[ResolvedFlow]:
    doc = flow_def.doc
    spec = validate(FlowSpec, doc.data, doc, what=f"flow {flow_def.name}")
    if spec.entities is None:
        return [_resolve_one(project, flow_def.name, flow_def.name, spec, None, doc, ())]
    entities = spec.entities
    if isinstance(entities, list):
        items: list[tuple[str, EntitySpec | None, Loc]] = [
            (str(e), None, ("entities", i)) for i, e in enumerate(entities)
        ]
    else:
        items = [(str(name), over, ("entities", name)) for name, over in entities.items()]
    if not items:
        raise ProjectError("entities is empty.", where=doc.where(("entities",)), hint="List at least one name.")
    return [_resolve_one(project, flow_def.name, name, spec, over, doc, loc) for name, over, loc in items]


def _merged(spec: FlowSpec, over: EntitySpec | None) -> FlowFields:
    base = spec.model_dump(exclude={"entities"}, exclude_unset=True)
    if over is not None:
        base.update(over.model_dump(exclude_unset=True))
    return FlowFields.model_validate(base)


def _resolve_one(
    project: Project,
    group: str,
    entity: str,
    spec: FlowSpec,
    over: EntitySpec | None,
    doc: YamlDoc,
    entity_loc: Loc,
) -> ResolvedFlow:
    name = group if entity_loc == () else f"{group}.{entity}"
    fields = _merged(spec, over)

    def where(key: str) -> Where:
        if over is not None and key in over.model_fields_set:
            return doc.where((*entity_loc, key))
        return doc.where((key,)) if key in spec.model_fields_set else doc.where(entity_loc)

    home_name, home_def, home_kind = _choose_home(project, group, fields.home, where("home"))
    store_name, store_def = _choose_store(project, group, fields.store, where("store"))
    defaults = project.spec.defaults
    source = fields.source or entity
    target = fields.target or entity
    key = tuple(fields.key)
    mode = _choose_mode(fields, defaults.mode)
    _check_capabilities(name, fields, mode, key, home_def, home_kind, store_def, where)

    home = home_def.connector.home(home_name, home_def.settings, project.root)
    store = store_def.connector.store(store_name, store_def.settings, project.root)
    return ResolvedFlow(
        name=name,
        group=group,
        where=doc.where(entity_loc),
        home_name=home_name,
        home_def=home_def,
        store_name=store_name,
        store_def=store_def,
        source=source,
        query=fields.query,
        target=target,
        mode=mode,
        key=key,
        incremental=fields.incremental,
        on_schema_change=fields.on_schema_change or defaults.on_schema_change or "append_new_columns",
        batch_size=fields.batch_size or defaults.batch_size or DEFAULT_BATCH_SIZE,
        allow_empty=fields.allow_empty,
        tags=frozenset(fields.tags),
        depends_on=frozenset(fields.depends_on),
        read_location=home.location(source) if fields.query is None else f"query:{home.location(source)}",
        write_location=store.location(target),
        globbed_locations=tuple(store.globbed_locations(target)),
        depends_where=where("depends_on"),
        description=fields.description,
    )


def _choose_mode(fields: FlowFields, default: Mode | None) -> Mode:
    if fields.mode is not None:
        return fields.mode
    if fields.incremental is not None:
        return "merge" if fields.key else "append"
    return default or "replace"


def _choose_home(
    project: Project, group: str, named: str | None, where: Where
) -> tuple[str, EndpointDef, Literal["home", "store"]]:
    if named is not None:
        if named in project.homes:
            return named, project.homes[named], "home"
        if named in project.stores:
            return named, project.stores[named], "store"
        raise ProjectError(
            f"unknown home '{named}'.",
            where=where,
            hint=did_you_mean(named, [*project.homes, *project.stores], kind="Homes and stores"),
        )
    if group in project.homes:
        return group, project.homes[group], "home"
    fallback = project.spec.defaults.home
    if fallback is not None:
        return _choose_home(project, group, fallback, project.doc.where(("defaults", "home")))
    raise ProjectError(
        f"flow '{group}' names no home, there is no home named '{group}', and hygge.yml has no defaults.home.",
        where=where,
        hint=f"Add `home: NAME` to the flow. Homes: {', '.join(sorted(project.homes)) or 'none yet'}.",
    )


def _choose_store(project: Project, group: str, named: str | None, where: Where) -> tuple[str, EndpointDef]:
    if named is not None:
        if named in project.stores:
            return named, project.stores[named]
        raise ProjectError(
            f"unknown store '{named}'.",
            where=where,
            hint=did_you_mean(named, project.stores, kind="Stores"),
        )
    if group in project.stores:
        return group, project.stores[group]
    fallback = project.spec.defaults.store
    if fallback is not None:
        return _choose_store(project, group, fallback, project.doc.where(("defaults", "store")))
    raise ProjectError(
        f"flow '{group}' names no store, there is no store named '{group}', and hygge.yml has no defaults.store.",
        where=where,
        hint=f"Add `store: NAME` to the flow. Stores: {', '.join(sorted(project.stores)) or 'none yet'}.",
    )


def _check_capabilities(
    name: str,
    fields: FlowFields,
    mode: Mode,
    key: tuple[str, ...],
    home_def: EndpointDef,
    home_kind: str,
    store_def: EndpointDef,
    where: Any,
) -> None:
    home_caps = home_def.connector.capabilities
    store_caps = store_def.connector.capabilities
    if home_kind == "store" and not home_caps.home:
        raise ProjectError(
            f"store '{home_def.name}' ({home_def.connector.type_name}) cannot be read as a home.",
            where=where("home"),
        )
    if fields.query is not None and not home_caps.query:
        raise ProjectError(
            f"`query:` needs a SQL home, but '{home_def.name}' is {home_def.connector.type_name}.",
            where=where("query"),
            hint="Use `source:` to name what to read.",
        )
    if fields.query is not None and fields.source is not None:
        raise ProjectError("a flow sets either `source:` or `query:`, not both.", where=where("query"))
    if mode not in store_caps.modes:
        raise ProjectError(
            f"store '{store_def.name}' ({store_def.connector.type_name}) does not support mode '{mode}'.",
            where=where("mode"),
            hint=f"Supported: {', '.join(sorted(store_caps.modes))}.",
        )
    if fields.incremental is not None:
        _check_incremental(fields.incremental, mode, store_def, where)
    if mode == "merge" and not key:
        raise ProjectError(
            f"flow {name} uses mode merge but sets no key.",
            where=where("mode"),
            hint="Add `key: [id]` naming the columns that identify a row.",
        )


def _check_incremental(spec: IncrementalSpec, mode: Mode, store_def: EndpointDef, where: Any) -> None:
    if not store_def.connector.capabilities.incremental:
        raise ProjectError(
            f"store '{store_def.name}' ({store_def.connector.type_name}) cannot keep incremental targets.",
            where=where("incremental"),
        )
    if mode == "replace":
        raise ProjectError(
            "an incremental flow appends or merges; replace would keep only the newest rows.",
            where=where("mode"),
            hint="Remove `mode: replace` (use --full-refresh to rebuild the target).",
        )
    if mode != "merge" and (spec.lag is not None or spec.nulls == "include"):
        what = "lag re-reads rows" if spec.lag is not None else "nulls: include re-reads null-cursor rows"
        raise ProjectError(
            f"{what} on every run, which append would add again.",
            where=where("incremental"),
            hint="Use mode: merge with a key, so re-read rows are updated in place.",
        )


def _infer_dependencies(flows: dict[str, ResolvedFlow]) -> None:
    """B runs after A when B reads the place A writes."""
    writers: dict[str, list[str]] = {}
    for f in flows.values():
        writers.setdefault(f.write_location, []).append(f.name)
    for reader in flows.values():
        loc = reader.read_location
        exact = writers.get(loc, [])
        globbed = (
            [w.name for w in flows.values() if any(fnmatch.fnmatchcase(p, loc) for p in w.globbed_locations)]
            if any(c in loc for c in "*?[")
            else []
        )
        reader.inferred = {n for n in (*exact, *globbed) if n != reader.name}


def _check_shared_targets(flows: dict[str, ResolvedFlow], graph: FlowGraph) -> None:
    """Flows writing one target must run in a known order, or the target's rows would depend on which finished
    last; appends alone may run in any order (their rows add up the same)."""
    writers: dict[str, list[ResolvedFlow]] = {}
    for f in flows.values():
        writers.setdefault(f.write_location, []).append(f)
    errors: list[ProjectError] = []
    for group in writers.values():
        for index, first in enumerate(group):
            for second in group[index + 1 :]:
                if first.mode == second.mode == "append" and not (first.incremental or second.incremental):
                    continue  # an incremental one would take the other's rows for its watermark
                if first.name in graph.upstream(second.name) or second.name in graph.upstream(first.name):
                    continue
                errors.append(
                    ProjectError(
                        f"flows {first.name} ({first.where}, {first.mode}) and {second.name} ({second.mode}) both "
                        f"write {second.store_name}:{second.target}, and nothing says which runs first.",
                        where=second.where,
                        hint=f"Add depends_on: [{first.name}] to flow {second.name} (or the other way round), or "
                        "give one of them another target. Only appends into one target may run in any order.",
                    )
                )
    raise_all(errors)


def _check_depends_on(flows: dict[str, ResolvedFlow]) -> None:
    """`depends_on` may name a flow file; it then means every flow of that file."""
    groups: dict[str, set[str]] = {}
    for f in flows.values():
        groups.setdefault(f.group, set()).add(f.name)
    errors: list[ProjectError] = []
    for f in flows.values():
        expanded: set[str] = set()
        for dep in f.depends_on:
            if dep in flows:
                expanded.add(dep)
            elif dep in groups:
                expanded |= groups[dep] - {f.name}
            else:
                errors.append(
                    ProjectError(
                        f"depends_on names unknown flow '{dep}'.",
                        where=f.depends_where or f.where,
                        hint=did_you_mean(dep, flows, kind="Flows"),
                    )
                )
        f.depends_on = frozenset(expanded)
    raise_all(errors)
