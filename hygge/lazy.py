"""Modules imported on first use, so commands that never move data (`ls`, `graph`, `--help`) stay fast.

`module("polars")` binds a module object at once and runs the import the first time an attribute of it is read;
`from hygge.lazy import pl` is Polars so bound. Module-level code must not read an attribute of one (build type
tables in a cached function instead). Python 3.11's lazy modules are not thread-safe on first use: `load()` them
before starting threads.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["load", "module", "pl"]

_LOCK = threading.Lock()


def module(name: str) -> ModuleType:
    """`name`, imported now if it already is, else when first used."""
    with _LOCK:
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        found = importlib.util.module_from_spec(spec)
        sys.modules[name] = found
        loader.exec_module(found)
        return found


def load(*modules: ModuleType) -> None:
    """Finish importing lazily bound modules now (before threads use them)."""
    for found in modules:
        getattr(found, "__spec__")  # noqa: B009 - any attribute read runs the deferred import


if TYPE_CHECKING:
    import polars as pl
else:
    pl = module("polars")
