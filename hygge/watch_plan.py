"""What watch mode reruns for which change: pure logic, no file watching and no timing."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hygge.resolver import Plan, ResolvedFlow

# Editors' swap and backup files, and hidden or underscore files (hygge's own staging folders among them).
_NOISE_SUFFIXES = (".swp", ".swx", ".swo", ".tmp", "~", ".part", ".crdownload")


@dataclass
class Decision:
    """Flows to rerun (in the selection), and for each the file that made it run."""

    flows: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    reload: bool = False

    def why(self) -> str:
        causes = sorted(set(self.reasons.values()))
        return ", ".join(causes[:3]) + (f" and {len(causes) - 3} more" if len(causes) > 3 else "")


def is_noise(path: Path) -> bool:
    name = path.name
    return name.startswith((".", "_", "#")) or name.endswith(_NOISE_SUFFIXES)


def is_config(path: Path, root: Path) -> bool:
    """hygge.yml, .env, or a YAML file under homes/, stores/ or flows/."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    if rel.as_posix() in ("hygge.yml", ".env"):
        return True
    return len(rel.parts) > 1 and rel.parts[0] in ("homes", "stores", "flows") and rel.suffix in (".yml", ".yaml")


def ignored(path: Path, root: Path, outputs: Iterable[Path]) -> bool:
    """hygge's own writes (state, logs, store targets, temp files) must never trigger a rerun."""
    if is_config(path, root):
        return False
    try:
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] in (".hygge", ".git"):
            return True
    except ValueError:
        pass
    if any(is_noise(Path(part)) for part in path.parts[-3:]):
        return True
    return any(path == out or out in path.parents for out in outputs)


def fingerprint(flow: ResolvedFlow) -> str:
    """Everything that decides what a flow does; a change means it must rerun."""
    return repr(
        (
            flow.home_def.connector.type_name,
            flow.home_def.settings.model_dump(),
            flow.store_def.connector.type_name,
            flow.store_def.settings.model_dump(),
            flow.source,
            flow.query,
            flow.target,
            flow.mode,
            flow.key,
            flow.incremental,
            flow.on_schema_change,
            flow.batch_size,
            flow.allow_empty,
            sorted(flow.upstream),
        )
    )


def store_outputs(plan: Plan) -> list[Path]:
    paths: list[Path] = []
    for flow in plan.flows.values():
        paths.extend(flow.make_store().output_paths(flow.target))
    return paths


def source_paths(flow: ResolvedFlow) -> list[Path]:
    """What a change must touch to change what the flow's home reads."""
    if flow.home_def.kind == "store":
        return []  # it reads another flow's output, which reruns through the dependency instead
    return flow.make_home().watch_paths(flow.source)


def reads(watched_paths: list[Path], path: Path) -> bool:
    """Whether a change of `path` falls on one of a flow's source paths."""
    for watched in watched_paths:
        if path == watched or watched in path.parents:
            return True
        if any(c in str(watched) for c in "*?[") and fnmatch.fnmatch(str(path), str(watched)):
            return True
    return False


def decide(
    old: Plan | None,
    new: Plan,
    selected: list[str],
    changed: dict[Path, str],
) -> Decision:
    """Flows of `selected` (already re-selected on `new`) to rerun for these changed paths.

    `changed` maps each path to why it counts ("flows/orders.yml modified"). A project file that changed
    reruns the flows it defines or serves and whatever else now resolves differently; a data file reruns
    the flows that read it; everything downstream of those follows.
    """
    root = new.project.root
    decision = Decision(reload=any(is_config(p, root) for p in changed))
    chosen = set(selected)
    before = {name: fingerprint(f) for name, f in old.flows.items()} if old is not None else {}
    direct: dict[str, str] = {}
    for name in selected:
        flow = new.flows[name]
        sources = source_paths(flow)
        for path, why in changed.items():
            if _touches(flow, sources, path, root) or (decision.reload and before.get(name) != fingerprint(flow)):
                direct.setdefault(name, why)
                break
    for name, why in direct.items():
        decision.reasons.setdefault(name, why)
        for child in new.graph.downstream(name):
            if child in chosen:
                decision.reasons.setdefault(child, f"{why} (upstream {name})")
    decision.flows = new.graph.order(decision.reasons)
    return decision


def _touches(flow: ResolvedFlow, sources: list[Path], path: Path, root: Path) -> bool:
    if is_config(path, root):
        rel = path.relative_to(root)
        kind, stem = rel.parts[0], path.stem
        if kind == "flows":
            return flow.group == stem
        if kind == "homes":
            return flow.home_def.kind == "home" and flow.home_name == stem
        if kind == "stores":
            return flow.store_name == stem or (flow.home_def.kind == "store" and flow.home_name == stem)
        return False
    return reads(sources, path)
