"""Turn Pydantic validation errors into ProjectErrors pointing at the YAML line that caused them."""

from __future__ import annotations

import difflib
import re
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from hygge.errors import ProjectError
from hygge.redact import SECRET_KEY, redact
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
    kept = [e for e in errors if not (e["type"] == "missing" and _clean_loc(tuple(e["loc"])) in misspelt)]
    return _one_per_shape([_scalar_branch(e) for e in kept])


_SCALARS = {"str", "int", "float", "bool"}


def _scalar_branch(err: Any) -> Any:
    """Pydantic names a union's plain branches `str`, `int`, ... in loc, without the brackets _is_branch looks
    for; a value none of them takes (`A: [1]` under vars:) would be four errors instead of one."""
    loc = tuple(err["loc"])
    if loc and loc[-1] in _SCALARS and err["type"].endswith(("_type", "_parsing")):
        return {**err, "loc": (*loc[:-1], f"{loc[-1]}()")}
    return err


def _one_per_shape(errors: list[Any]) -> list[Any]:
    """Where a shape fits, its own (deeper) errors say what is wrong; else one error names every shape."""

    def mismatch(err: Any) -> bool:  # the value is not of this branch's type at all
        return bool(err["loc"]) and _is_branch(err["loc"][-1])

    deeper = [_clean_loc(tuple(e["loc"])) for e in errors if not mismatch(e)]
    result: list[Any] = []
    shown: dict[tuple[str | int, ...], dict[str, Any]] = {}
    for err in errors:
        if not mismatch(err):
            result.append(err)
            continue
        loc = _clean_loc(tuple(err["loc"]))
        if any(d[: len(loc)] == loc for d in deeper):
            continue
        if loc in shown:
            shown[loc]["msg"] += " or " + err["msg"].removeprefix("Input should be ")
        else:
            shown[loc] = {**err}
            result.append(shown[loc])
    return result


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Allowed keys of the (nested) model at `loc`, for did-you-mean hints."""
    current: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current, in_container = _model_in(fields[part].annotation)
        if current is None:
            return []
        if in_container and parts:
            parts.pop(0)  # the name or index under `targets:` or `entities:`
    fields = getattr(current, "model_fields", {})
    return [name for name in fields if not name.startswith("_")]


def _model_in(annotation: Any, in_container: bool = False) -> tuple[type[BaseModel] | None, bool]:
    """The model inside an annotation, and whether it sits in a dict or list (`dict[str, TargetSpec]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, in_container
    container = in_container or get_origin(annotation) in (dict, list)
    for arg in get_args(annotation):
        found, nested = _model_in(arg, container)
        if found is not None:
            return found, nested
    return None, False


def _is_branch(part: Any) -> bool:
    # Pydantic adds union-branch names ("list[str]", "function-after[...]") into loc.
    return isinstance(part, str) and re.search(r"[\[\]()]", part) is not None


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    return tuple(p for p in loc if not _is_branch(p))


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
    if kind in ("model_type", "model_attributes_type"):
        allowed = _field_names(model, loc)
        example = f"`{loc[-1]}: {{{allowed[0]}: ...}}`" if allowed and loc else "a mapping of keys"
        return ProjectError(
            f"{prefix}{label} should be a mapping such as {example}{_got(err, loc)}.",
            where=doc.where(full),
            hint=f"Allowed keys: {', '.join(allowed)}." if allowed else None,
        )
    msg = err["msg"].removeprefix("Value error, ")
    where_text = f"{label}: " if label else ""
    return ProjectError(
        f"{prefix}{where_text}{msg[0].lower() + msg[1:] if msg else msg}{_got(err, loc)}.",
        where=doc.where(full),
    )


def _got(err: Any, loc: tuple[str | int, ...]) -> str:
    """The offending value, unless it is a secret, the whole file, or already described by a validator's message."""
    if not loc or err["type"] == "value_error" or any(SECRET_KEY.search(str(p)) for p in loc):
        return ""
    text = redact(repr(err.get("input")))
    return f" (got {text if len(text) <= 60 else text[:57] + '...'})"
