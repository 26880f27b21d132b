"""What `hygge ls`, `graph`, `history` and `check --connect` show about a project."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from hygge.errors import HyggeError
from hygge.project import Project
from hygge.redact import redact
from hygge.resolver import Plan, ResolvedFlow


def flow_rows(plan: Plan, names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name in plan.graph.order(names):
        f = plan.flows[name]
        rows.append(
            {
                "name": f.name,
                "home": f.home_name,
                "home_type": f.home_def.connector.type_name,
                "source": f.source if f.query is None else None,
                "query": f.query,
                "store": f.store_name,
                "store_type": f.store_def.connector.type_name,
                "target": f.target,
                "mode": f.mode,
                "key": list(f.key),
                "incremental": f.incremental.cursor if f.incremental else None,
                "depends_on": sorted(f.upstream),
                "tags": sorted(f.tags),
                "file": str(f.where),
            }
        )
    return rows


def print_flow_table(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("No flows.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("flow", "home -> store", "source -> target", "mode", "depends on", "tags"):
        table.add_column(column)
    for r in rows:
        source = r["source"] if r["query"] is None else "(query)"
        mode = r["mode"] + (f" key={','.join(r['key'])}" if r["key"] else "")
        if r["incremental"]:
            mode += f" cursor={r['incremental']}"
        table.add_row(
            r["name"],
            f"{r['home']} -> {r['store']}",
            f"{source} -> {r['target']}",
            mode,
            ", ".join(r["depends_on"]),
            ", ".join(r["tags"]),
        )
    console.print(table)


def graph_json(plan: Plan, names: list[str]) -> dict[str, Any]:
    chosen = set(names)
    ordered = plan.graph.order(names)
    return {
        "nodes": [{"name": n, "home": plan.flows[n].home_name, "store": plan.flows[n].store_name} for n in ordered],
        "edges": [
            {"from": parent, "to": n} for n in ordered for parent in sorted(plan.flows[n].upstream) if parent in chosen
        ],
    }


def graph_tree(plan: Plan, names: list[str]) -> Tree:
    """Roots first, each flow under its upstream; a flow with several parents is drawn once, then referenced."""
    chosen = set(names)
    ordered = plan.graph.order(names)
    children: dict[str, list[str]] = {n: [] for n in ordered}
    roots = []
    for n in ordered:
        parents = [p for p in plan.flows[n].upstream if p in chosen]
        if not parents:
            roots.append(n)
        for p in parents:
            children[p].append(n)
    tree = Tree(f"{plan.project.spec.name} ({len(ordered)} flows)")
    drawn: set[str] = set()

    def label(n: str) -> str:
        f = plan.flows[n]
        return f"{n}  [dim]{f.home_name} -> {f.store_name}:{f.target} ({f.mode})[/dim]"

    stack: list[tuple[Tree, str]] = [(tree, r) for r in reversed(roots)]
    while stack:
        parent, n = stack.pop()
        if n in drawn:
            parent.add(f"{n}  [dim](shown above)[/dim]")
            continue
        drawn.add(n)
        branch = parent.add(label(n))
        stack.extend((branch, c) for c in reversed(sorted(children[n])))
    return tree


def print_history(console: Console, root: Path, flow: str | None, limit: int, as_json: bool) -> None:
    from hygge.errors import did_you_mean
    from hygge.state import StateStore

    if flow is not None and flow.endswith((".yml", ".yaml")):
        flow = Path(flow).stem  # a flow file, as `hygge history flows/orders.yml`: its flows
    path = root / ".hygge" / "state.db"
    store = StateStore(path) if path.exists() else None
    records = store.history(flow, limit) if store is not None else []
    if as_json:
        print(json.dumps([r.__dict__ for r in records], indent=2))
        return
    if not records:
        if flow is None or store is None:
            console.print("No runs recorded yet.")
        else:
            console.print(f"No runs recorded for {flow}. {did_you_mean(flow, store.flows(), kind='Flows run')}")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("started (UTC)", "flow", "target", "outcome", "rows", "seconds", "window", "error"):
        table.add_column(column)
    for r in records:
        window = f"{r.window_from or ''} .. {r.window_to or ''}" if (r.window_from or r.window_to) else ""
        table.add_row(
            r.started_at.replace("T", " ")[:19],
            r.flow,
            r.target or "",
            r.outcome,
            "" if r.rows is None else f"{r.rows:,}",
            "" if r.seconds is None else f"{r.seconds:.2f}",
            window,
            redact(r.error or "").splitlines()[0] if r.error else "",
        )
    console.print(table)


def check_sources(plan: Plan, skip_homes: Collection[str] = ()) -> Iterator[tuple[str, str | None]]:
    """Open the source of each flow that reads what no flow writes (what a flow writes appears when it runs),
    but for flows of `skip_homes` (homes that did not open): yield (flow, problem or None). Only the columns are
    read, never the rows."""
    from hygge.connectors.base import ReadRequest

    written = {f.write_location for f in plan.flows.values()}
    for f in plan.flows.values():
        if f.query is not None or f.inferred or f.read_location in written or f.home_name in skip_homes:
            continue
        try:
            home = f.make_home()
            try:
                home.read(ReadRequest(flow=f.name, source=f.source)).collect_schema()
            finally:
                home.close()
            yield f.name, None
        except Exception as exc:
            yield f.name, _problem(exc)


def check_connections(project: Project) -> Iterator[tuple[str, str, str | None]]:
    """Open every home and store; yield (kind, name, problem or None)."""
    endpoints = [*project.homes.values(), *project.stores.values()]
    for d in endpoints:
        try:
            if d.kind == "home":
                endpoint: Any = d.connector.home(d.name, d.settings, project.root)
            else:
                endpoint = d.connector.store(d.name, d.settings, project.root)
            try:
                endpoint.check()
            finally:
                endpoint.close()
            yield d.kind, d.name, None
        except Exception as exc:
            yield d.kind, d.name, _problem(exc)


def incremental_flows(plan: Plan, name: str | None) -> list[ResolvedFlow]:
    """The incremental flows `name` means (a flow, or every flow of a flow file); all of them for None."""
    from hygge.errors import UsageError, did_you_mean

    incremental = [f for f in plan.flows.values() if f.incremental is not None]
    if name is None:
        return incremental
    chosen = [f for f in incremental if name in (f.name, f.group)]
    if not chosen:
        raise UsageError(
            f"'{name}' is not an incremental flow.",
            where="hygge state",
            hint=did_you_mean(name, [f.name for f in incremental], kind="Incremental flows"),
        )
    return chosen


def print_watermarks(console: Console, plan: Plan, name: str | None, as_json: bool) -> None:
    from hygge.state import StateStore

    flows = incremental_flows(plan, name)
    path = plan.project.state_dir / "state.db"
    stored = {(w["flow"], w["target"]): w for w in StateStore(path).watermarks()} if path.exists() else {}
    rows = []
    for f in flows:
        w = stored.get((f.name, f.target), {})
        rows.append(
            {
                "flow": f.name,
                "store": f.store_name,
                "target": f.target,
                "cursor": f.incremental.cursor if f.incremental else None,
                "watermark": w.get("value"),
                "updated_at": w.get("updated_at"),
                "reset_requested": bool(w.get("reset_requested")),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("No incremental flows.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("flow", "store:target", "cursor", "watermark", "updated (UTC)", "note"):
        table.add_column(column)
    for r in rows:
        note = "reset: next run reads from initial" if r["reset_requested"] else ""
        watermark = "(not run yet)" if r["watermark"] is None and not r["updated_at"] else str(r["watermark"])
        updated = str(r["updated_at"] or "").replace("T", " ")[:19]
        table.add_row(str(r["flow"]), f"{r['store']}:{r['target']}", str(r["cursor"]), watermark, updated, note)
    console.print(table)


def clear_watermarks(plan: Plan, flows: list[ResolvedFlow]) -> None:
    from hygge.state import StateStore

    state = StateStore(plan.project.state_dir / "state.db")
    for f in flows:
        assert f.incremental is not None
        state.request_reset(f.name, f.target, f.incremental.cursor)


def _problem(exc: Exception) -> str:
    """What a check found, for one line: a user error as it is told, anything else with its type; no secrets."""
    return redact(exc.described if isinstance(exc, HyggeError) else f"{type(exc).__name__}: {exc}")
