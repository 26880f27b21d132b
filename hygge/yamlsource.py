"""Read YAML files keeping where every key and value stands, so errors can say `file:line:col`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hygge.errors import ProjectError, Where
from hygge.redact import SECRET_KEY

Loc = tuple[str | int, ...]


@dataclass
class YamlDoc:
    """A parsed YAML file: plain Python data plus the position of each node by its path."""

    path: Path
    root: Path
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Loc = ()) -> Where:
        """The position of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc and loc not in self.marks:
            loc = loc[:-1]
        line, col = self.marks.get(loc, (1, 1))
        return Where(self.path, line, col, self.root)

    def key_where(self, loc: Loc) -> Where:
        """The position of a mapping key itself (for unknown-key errors)."""
        mark = self.marks.get(("__key__", *loc))
        if mark is None:
            return self.where(loc)
        return Where(self.path, mark[0], mark[1], self.root)


def load_yaml(path: Path, root: Path) -> YamlDoc:
    """Parse one file; syntax errors and duplicate keys become ProjectErrors with a position."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(
            f"cannot read the file: it is not UTF-8 text ({exc.reason})",
            where=Where(path, root=root),
            hint="Save it as UTF-8.",
        ) from None
    return parse_yaml(text, path, root)


def parse_yaml(text: str, path: Path, root: Path) -> YamlDoc:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = YamlDoc(path, root, None)
        doc.data = _build(node, (), loader, doc) if node is not None else None
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(path, mark.line + 1, mark.column + 1, root) if mark else Where(path, root=root)
        problem = exc.problem or "invalid YAML"
        secret = _secret_key_at(text, mark)
        if secret is not None:
            # Alias and tag errors repeat the value ("undefined alias 'S3cret'"), which is a password here.
            raise ProjectError(
                f"YAML syntax error in the value of '{secret}' (not shown, as it is a secret).",
                where=where,
                hint=f'Quote the value: {secret}: "..." (a plain value starting with *, &, !, @ or ` is YAML syntax).',
            ) from None
        context = f" ({exc.context}"
        if exc.context_mark is not None and exc.context_mark is not mark:
            context += f" that starts at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
        context = f"{context})" if exc.context else ""
        raise ProjectError(
            f"YAML syntax error: {problem}{context}",
            where=where,
            hint="Check the indentation and quoting near this line.",
        ) from None
    except yaml.YAMLError as exc:
        raise ProjectError(f"YAML error: {exc}", where=Where(path, root=root)) from None
    finally:
        loader.dispose()


def _secret_key_at(text: str, mark: yaml.Mark | None) -> str | None:
    """The secret-looking key whose value holds `mark` (on its line or the line above), if any."""
    if mark is None:
        return None
    lines = text.splitlines()
    before = lines[mark.line][: mark.column] if mark.line < len(lines) else ""
    if not before.strip() and mark.line > 0:
        before = lines[mark.line - 1]
    keys = re.findall(r"([A-Za-z_][\w-]*)\s*:", before)
    return keys[-1] if keys and SECRET_KEY.search(keys[-1]) else None


def _build(node: yaml.Node, loc: Loc, loader: yaml.SafeLoader, doc: YamlDoc) -> Any:
    doc.marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise ProjectError(
                    "a mapping key must be a plain name",
                    where=Where(doc.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1, doc.root),
                )
            key = str(key) if not isinstance(key, str) else key
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                raise ProjectError(
                    f"the key '{key}' appears twice in this mapping",
                    where=Where(doc.path, *key_pos, doc.root),
                    hint="Keep one of them.",
                )
            doc.marks[("__key__", *loc, key)] = key_pos
            result[key] = _build(value_node, (*loc, key), loader, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), loader, doc) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
