"""The connector registry, filled from the `hygge.connectors` entry-point group (built-ins included)."""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points

from hygge.connectors.base import (
    Capabilities,
    Connector,
    ConnectorSettings,
    Home,
    ReadRequest,
    Store,
    WriteRequest,
    WriteResult,
)
from hygge.errors import ProjectError, Where, did_you_mean

__all__ = [
    "Capabilities",
    "Connector",
    "ConnectorSettings",
    "Home",
    "ReadRequest",
    "Store",
    "WriteRequest",
    "WriteResult",
    "connector_names",
    "get_connector",
]

GROUP = "hygge.connectors"


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def connector_names() -> list[str]:
    """Every registered type name, without importing any connector."""
    return sorted(_entry_points())


@functools.cache
def _load(type_name: str) -> type[Connector]:
    loaded = _entry_points()[type_name].load()
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise ProjectError(
            f"the entry point for connector '{type_name}' is {loaded!r}, not a hygge Connector subclass",
            hint="Fix the package that registers it in the 'hygge.connectors' entry-point group.",
        )
    return loaded


def get_connector(type_name: str, *, where: Where | str | None = None) -> type[Connector]:
    """The connector class for a `type:` value; unknown types get a did-you-mean."""
    if type_name not in _entry_points():
        raise ProjectError(
            f"unknown connector type '{type_name}'.",
            where=where,
            hint=did_you_mean(type_name, connector_names(), kind="Types"),
        )
    return _load(type_name)
