"""hygge: declarative data movement. Homes, stores and flows in YAML; data through Polars."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hygge.connectors.base import Connector, ConnectorSettings, Home, Store
    from hygge.errors import HyggeError
    from hygge.project import load_project
    from hygge.resolver import resolve
    from hygge.runner import RunOptions, run

__all__ = [
    "Connector",
    "ConnectorSettings",
    "Home",
    "HyggeError",
    "RunOptions",
    "Store",
    "load_project",
    "resolve",
    "run",
]
__version__ = "0.1.0"

# Imported on first use so `hygge --help` does not pay for pydantic and the rest.
_WHERE = {
    "Connector": "hygge.connectors.base",
    "ConnectorSettings": "hygge.connectors.base",
    "Home": "hygge.connectors.base",
    "Store": "hygge.connectors.base",
    "HyggeError": "hygge.errors",
    "load_project": "hygge.project",
    "resolve": "hygge.resolver",
    "RunOptions": "hygge.runner",
    "run": "hygge.runner",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'hygge' has no attribute {name!r}")
