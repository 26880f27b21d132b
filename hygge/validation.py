"""Turn Pydantic validation errors into ProjectErrors pointing at the YAML line that caused them."""

from __future__ import annotations

import difflib
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hygge.errors import ProjectError
from hygge.yamlsource import Loc, YamlDoc

M = TypeVar("M", bound=BaseModel)


class ProjectErrors(ProjectError):
    """Several project errors found at once (so `hygge check` shows them all)."""

    def __init__(self, errors: list[ProjectError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def raise_all(errors: list[ProjectError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)


def validate(model: type[M], data: Any, doc: YamlDoc, *, base: Loc = (), what: str = "") -> M:
    """Validate `data` (found at `base` in `doc`) against `model`, with positioned errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise_all([_one(err, model, doc, base, what) for err in _without_implied(exc.errors(), model)])
    raise AssertionError("unreachable")


def _without_implied(errors: list[Any], model: type[BaseModel]) -> list[Any]:
    """Drop "missing 'path'" when the same mapping has a misspelt key close to it: one mistake, one error."""
    misspelt: set[tuple[Any, ...]] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = _clean_loc(tuple(err["loc"]))
            for close in difflib.get_close_matches(str(loc[-1]), _field_names(model, loc[:-1]), n=3, cutoff=0.5):
                misspelt.add((*loc[:-1], close))
    return [e for e in errors if not (e["type"] == "missing" and _clean_loc(tuple(e["loc"])) in misspelt)]


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Allowed keys of the (nested) model at `loc`, for did-you-mean hints."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        annotation = fields[part].annotation
        current = _model_in(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [name for name in fields if not name.startswith("_")]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # Pydantic adds union-branch names ("list[str]", "function-after[...]") into loc; keep real keys only.
    return tuple(p for p in loc if isinstance(p, int) or not re.search(r"[\[\]()]", str(p)))


def _one(err: Any, model: type[BaseModel], doc: YamlDoc, base: Loc, what: str) -> ProjectError:
    loc = _clean_loc(tuple(err["loc"]))
    full = (*base, *loc)
    kind = err["type"]
    label = ".".join(str(p) for p in loc)
    prefix = f"{what}: " if what else ""
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _field_names(model, loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        hint += f"Allowed keys: {', '.join(allowed)}." if allowed else ""
        return ProjectError(f"{prefix}unknown key '{key}'.", where=doc.key_where(full), hint=hint or None)
    if kind == "missing":
        return ProjectError(
            f"{prefix}missing required key '{label}'.",
            where=doc.where(full[:-1]),
            hint=f"Add '{loc[-1]}: ...' here.",
        )
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        value = err.get("input")
        close = difflib.get_close_matches(str(value), expected, n=1, cutoff=0.5)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        hint += f"Expected one of: {', '.join(expected)}."
        return ProjectError(f"{prefix}{label} cannot be {value!r}.", where=doc.where(full), hint=hint)
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    where_text = f"{label}: " if label else ""
    return ProjectError(
        f"{prefix}{where_text}{msg[0].lower() + msg[1:] if msg else msg} (got {_short(err.get('input'))}).",
        where=doc.where(full),
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
