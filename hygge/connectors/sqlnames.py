"""How hygge spells names and text in SQL: identifiers always quoted, `schema.table` split, literals escaped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hygge.errors import FlowError

__all__ = ["TableName", "quote", "split_name", "sql_literal"]

_NAME_PART = re.compile(r'"((?:[^"]|"")*)"|([^.]*)')


def quote(name: str) -> str:
    """`name` as a quoted SQL identifier, whatever characters it holds."""
    if "\x00" in name:
        raise FlowError(f"the name {name!r} holds a NUL character, which no database accepts")
    return '"' + name.replace('"', '""') + '"'


def split_name(text: str) -> list[str]:
    """`shop.orders` -> ['shop', 'orders']; a part in double quotes may hold dots (`"my.schema".t`)."""
    parts: list[str] = []
    position = 0
    while True:
        match = _NAME_PART.match(text, position)
        assert match is not None  # the pattern matches an empty part too
        quoted, plain = match.groups()
        parts.append(quoted.replace('""', '"') if quoted is not None else plain)
        position = match.end()
        if position >= len(text):
            return parts
        if text[position] != ".":
            raise ValueError(f"unexpected {text[position]!r} after a quoted name")
        position += 1


@dataclass(frozen=True)
class TableName:
    schema: str
    name: str

    @property
    def sql(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def sql_literal(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
