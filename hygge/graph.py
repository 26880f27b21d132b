"""The flow DAG: dependency order, ancestors and descendants, and dbt-style selection."""

from __future__ import annotations

import fnmatch
import functools
import heapq
import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from hygge.errors import ProjectError, UsageError, did_you_mean

__all__ = ["SELECTOR_METHODS", "CycleError", "FlowGraph", "Node"]

# method -> the word used in hints listing that method's values
SELECTOR_METHODS: dict[str, str] = {"tag": "Tags", "home": "Homes", "store": "Stores"}

_SELECTOR_FORMS = "Selectors look like orders, shop.*, +orders, orders+2, @orders, tag:nightly, home:shop_db."
_SELECTOR = re.compile(r"(?P<at>@)?(?:(?P<up>\d*)\+)?(?P<body>[^+@]+?)(?:\+(?P<down>\d*))?")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Node:
    """One flow as the graph sees it; `depends_on` holds resolved node names (explicit and inferred)."""

    name: str
    group: str
    tags: frozenset[str] = frozenset()
    home: str = ""
    store: str = ""
    depends_on: frozenset[str] = frozenset()


class CycleError(ProjectError):
    """Flows depend on each other in a circle; `cycle` lists it, first name repeated at the end."""

    def __init__(
        self, message: str, *, where: str | None = None, hint: str | None = None, cycle: Sequence[str] = ()
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.cycle = list(cycle)


@dataclass(frozen=True)
class _Selector:
    """One parsed selector without commas, such as `2+tag:nightly+1` or `@orders`."""

    text: str
    method: str  # "" for a bare name or glob
    value: str
    up: bool = False
    up_depth: int | None = None
    down: bool = False
    down_depth: int | None = None
    at: bool = False


class FlowGraph:
    """The flows and their dependencies; every public result is deterministic."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes: dict[str, Node] = {}
        for node in nodes:
            if node.name in self.nodes:
                raise ProjectError(f"two flows are named '{node.name}'.", where=f"flow {node.name}")
            self.nodes[node.name] = node
        self._check_depends_on()
        self._parents = {name: node.depends_on for name, node in self.nodes.items()}
        children: dict[str, set[str]] = {name: set() for name in self.nodes}
        for name, parents in self._parents.items():
            for parent in parents:
                children[parent].add(name)
        self._children = {name: frozenset(kids) for name, kids in children.items()}
        self._order = self._topological_order()
        self._rank = {name: index for index, name in enumerate(self._order)}
        self._by_group = self._index(lambda node: (node.group,))
        self._by_method: dict[str, dict[str, set[str]]] = {
            "tag": self._index(lambda node: node.tags),
            "home": self._index(lambda node: (node.home,) if node.home else ()),
            "store": self._index(lambda node: (node.store,) if node.store else ()),
        }

    # -- structure ------------------------------------------------------------------------------------

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """All names, or the given ones, upstream first; ties are broken by name across the whole graph.

        A subset keeps its relative order from the whole graph, so flows linked only through unselected
        flows still run in data order.
        """
        if names is None:
            return list(self._order)
        chosen = set(names)
        unknown = chosen - self._rank.keys()
        if unknown:
            raise KeyError(min(unknown))
        return sorted(chosen, key=self._rank.__getitem__)

    def parents(self, name: str) -> set[str]:
        """The flows `name` depends on directly."""
        return set(self._parents[name])

    def children(self, name: str) -> set[str]:
        """The flows that depend on `name` directly."""
        return set(self._children[name])

    def upstream(self, name: str, depth: int | None = None) -> set[str]:
        """Every flow `name` depends on, within `depth` steps if given; `name` itself is not included."""
        return _reach((name,), self._parents, depth) - {name}

    def downstream(self, name: str, depth: int | None = None) -> set[str]:
        """Every flow that depends on `name`, within `depth` steps if given; `name` itself is not included."""
        return _reach((name,), self._children, depth) - {name}

    # -- selection ------------------------------------------------------------------------------------

    def select(self, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
        """The flows chosen by dbt-style expressions, upstream first; no `select` means every flow.

        Raises UsageError for a selector that matches nothing or cannot be read.
        """
        # a lone string would otherwise be read one character at a time
        if isinstance(select, str):
            select = [select]
        if isinstance(exclude, str):
            exclude = [exclude]
        chosen = self._evaluate(select, "--select") if select else set(self.nodes)
        if exclude:
            chosen -= self._evaluate(exclude, "--exclude")
        return self.order(chosen)

    def _evaluate(self, expressions: Sequence[str], where: str) -> set[str]:
        chosen: set[str] = set()
        for expression in expressions:
            words = expression.split()
            if not words:
                raise UsageError("a selector is empty.", where=where, hint=_SELECTOR_FORMS)
            for word in words:
                chosen |= self._intersection(word, where)
        return chosen

    def _intersection(self, text: str, where: str) -> set[str]:
        parts = text.split(",")
        if not all(parts):
            raise UsageError(f"selector '{text}' has an empty part.", where=where, hint=_SELECTOR_FORMS)
        chosen = self._apply(_parse(parts[0], where), where)
        for part in parts[1:]:
            chosen &= self._apply(_parse(part, where), where)
        if not chosen:
            raise UsageError(
                f"selector '{text}' matches no flow.",
                where=where,
                hint="Each part matches flows, but no flow matches all of them.",
            )
        return chosen

    def _apply(self, selector: _Selector, where: str) -> set[str]:
        matched = self._match(selector.method, selector.value)
        if not matched:
            raise UsageError(
                f"selector '{selector.text}' matches no flow.",
                where=where,
                hint=self._hint(selector.method, selector.value),
            )
        chosen = set(matched)
        if selector.at:
            descendants = _reach(matched, self._children, None)
            return descendants | _reach(descendants, self._parents, None)
        if selector.up:
            chosen |= _reach(matched, self._parents, selector.up_depth)
        if selector.down:
            chosen |= _reach(matched, self._children, selector.down_depth)
        return chosen

    def _match(self, method: str, value: str) -> set[str]:
        if method:
            index = self._by_method[method]
            return _union(index[key] for key in _glob(value, index))
        # a bare word also names a flow file, selecting every entity in it
        matched = set(_glob(value, self.nodes))
        return matched | _union(self._by_group[group] for group in _glob(value, self._by_group))

    def _hint(self, method: str, value: str) -> str:
        if method:
            return did_you_mean(value, self._by_method[method], kind=SELECTOR_METHODS[method])
        return did_you_mean(value, self.nodes.keys() | self._by_group.keys(), kind="Flows")

    # -- construction ---------------------------------------------------------------------------------

    def _check_depends_on(self) -> None:
        for name in sorted(self.nodes):
            for dependency in sorted(self.nodes[name].depends_on):
                if dependency not in self.nodes:
                    raise ProjectError(
                        f"depends_on names unknown flow '{dependency}'.",
                        where=f"flow {name}",
                        hint=did_you_mean(dependency, self.nodes, kind="Flows"),
                    )

    def _topological_order(self) -> list[str]:
        waiting = {name: len(parents) for name, parents in self._parents.items()}
        ready = [name for name, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            for child in self._children[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
        if len(order) < len(self.nodes):
            placed = set(order)
            raise _cycle_error(self._parents, {name for name in self.nodes if name not in placed})
        return order

    def _index(self, keys: Callable[[Node], Iterable[str]]) -> dict[str, set[str]]:
        index: dict[str, set[str]] = {}
        for name, node in self.nodes.items():
            for key in keys(node):
                index.setdefault(key, set()).add(name)
        return index


def _parse(text: str, where: str) -> _Selector:
    found = _SELECTOR.fullmatch(text)
    if found is None:
        raise UsageError(f"cannot read selector '{text}'.", where=where, hint=_SELECTOR_FORMS)
    at, up, body, down = found["at"], found["up"], found["body"], found["down"]
    if at and (up is not None or down is not None):
        raise UsageError(
            f"selector '{text}' combines '@' with '+'.",
            where=where,
            hint="'@' already takes every downstream flow and their upstream.",
        )
    method, colon, value = body.partition(":")
    if not colon:
        method, value = "", body
    elif method not in SELECTOR_METHODS:
        raise UsageError(
            f"unknown selector method '{method}' in '{text}'.",
            where=where,
            hint=did_you_mean(method, SELECTOR_METHODS, kind="Methods"),
        )
    elif not value:
        raise UsageError(f"selector '{text}' has no value after ':'.", where=where, hint=_SELECTOR_FORMS)
    return _Selector(
        text=text,
        method=method,
        value=value,
        up=up is not None,
        up_depth=int(up) if up else None,
        down=down is not None,
        down_depth=int(down) if down else None,
        at=bool(at),
    )


def _glob(pattern: str, keys: Collection[str]) -> list[str]:
    """The keys matching a shell-style pattern, case-sensitively on every OS."""
    if _GLOB_CHARS.isdisjoint(pattern):
        return [pattern] if pattern in keys else []
    compiled = _compiled(pattern)
    return [key for key in keys if compiled.match(key)]


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def _union(sets: Iterable[set[str]]) -> set[str]:
    result: set[str] = set()
    for names in sets:
        result |= names
    return result


def _reach(starts: Iterable[str], edges: Mapping[str, frozenset[str]], depth: int | None) -> set[str]:
    """The starts and everything reachable from them along `edges` within `depth` steps (None: no limit)."""
    seen = set(starts)
    frontier = deque((name, 0) for name in seen)
    while frontier:
        name, steps = frontier.popleft()
        if depth is not None and steps >= depth:
            continue
        for following in edges[name]:
            if following not in seen:
                seen.add(following)
                frontier.append((following, steps + 1))
    return seen


def _cycle_error(parents: Mapping[str, frozenset[str]], stuck: set[str]) -> CycleError:
    """Find one cycle among the nodes Kahn's algorithm could not place.

    Every stuck node has a stuck parent, so walking up parents must revisit a node.
    """
    path: list[str] = []
    position: dict[str, int] = {}
    name = min(stuck)
    while name not in position:
        position[name] = len(path)
        path.append(name)
        name = min(parent for parent in parents[name] if parent in stuck)
    # the walk went upstream; show it in data order, starting at the smallest name
    loop = path[position[name] :][::-1]
    start = loop.index(min(loop))
    loop = loop[start:] + loop[:start]
    cycle = [*loop, loop[0]]
    return CycleError(
        f"dependency cycle: {' -> '.join(cycle)}",
        where=f"flow {loop[0]}",
        hint="Each arrow points from a flow to one that depends on it; "
        "remove a depends_on or change what one of these flows reads or writes.",
        cycle=cycle,
    )
