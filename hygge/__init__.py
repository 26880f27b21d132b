"""hygge: declarative data movement. Homes, stores and flows in YAML; data through Polars."""

from hygge.connectors.base import Connector, ConnectorSettings, Home, Store
from hygge.errors import HyggeError
from hygge.project import load_project
from hygge.resolve import resolve
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
