"""`${VAR}` and `${VAR:-default}` in project files, looked up in --var, the environment, .env, target vars."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hygge.errors import ProjectError, Where
from hygge.redact import SECRET_KEY, register_secret
from hygge.yamlsource import Loc, YamlDoc

_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)(\}?)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class Variables:
    """Where `${VAR}` values come from, first match wins."""

    cli: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    dotenv: Mapping[str, str] = field(default_factory=dict)
    target: Mapping[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def lookup(self, name: str) -> str | None:
        for layer in (self.cli, self.environ, self.dotenv, self.target):
            if name in layer:
                return str(layer[name])
        return None

    def expand(self, text: str, where: Where) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            inner = match.group(1)
            if not match.group(2):
                raise ProjectError(
                    f"'${{{inner}' has no closing '}}'",
                    where=where,
                    hint=f"Write ${{{inner.strip() or 'NAME'}}}; write $$ for a literal $.",
                )
            name, sep, default = inner.partition(":-")
            name = name.strip()
            if not _NAME.match(name):
                raise ProjectError(
                    f"'${{{inner}}}' is not a valid variable reference",
                    where=where,
                    hint="Write ${NAME} or ${NAME:-default}; write $$ for a literal $.",
                )
            self.used.add(name)
            value = self.lookup(name)
            if value is not None:
                if SECRET_KEY.search(name):
                    register_secret(value)
                return value
            if sep:
                return default
            raise ProjectError(
                f"${{{name}}} is not set (no default).",
                where=where,
                hint=f"Set it in .env, the environment, the target's vars, or pass --var {name}=VALUE.",
            )

        return _REFERENCE.sub(replace, text)

    def expand_doc(self, doc: YamlDoc) -> None:
        """Expand every string in the document in place."""
        doc.data = self._walk(doc.data, (), doc)

    def _walk(self, value: Any, loc: Loc, doc: YamlDoc) -> Any:
        if isinstance(value, str):
            return self.expand(value, doc.where(loc)) if "$" in value else value
        if isinstance(value, dict):
            return {k: self._walk(v, (*loc, k), doc) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, (*loc, i), doc) for i, v in enumerate(value)]
        return value


def read_dotenv(path: Path, root: Path) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value`, optional `export`, quotes, `#` comments."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.match(key):
            raise ProjectError(
                "expected KEY=value",
                where=Where(path, number, 1, root),
                hint="Each line of .env is NAME=value; comments start with #.",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def parse_cli_vars(pairs: list[str]) -> dict[str, str]:
    """`--var KEY=VALUE` options into a mapping."""
    from hygge.errors import UsageError

    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _NAME.match(key.strip()):
            # Only the first word is shown: the rest may be a password typed with a space instead of '='.
            shown = pair.split(maxsplit=1)[0].partition("=")[0] if pair.strip() else ""
            raise UsageError(
                f"--var {shown!r}{'...' if shown != pair else ''} is not KEY=VALUE",
                where="command line",
                hint="Write --var LAKE_ROOT=data/lake.",
            )
        result[key.strip()] = value
    return result
