"""The ndjson connector: a folder of newline-delimited JSON datasets, as a home and a store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from hygge.connectors.base import Connector
from hygge.connectors.files import FILE_CAPABILITIES, FileFormat, FileHome, FileSettings, FileStore
from hygge.lazy import pl


class NdjsonSettings(FileSettings):
    pass


class NdjsonFormat(FileFormat[NdjsonSettings]):
    extension = "ndjson"

    def scan(self, path: Path, settings: NdjsonSettings) -> pl.LazyFrame:
        if path.stat().st_size == 0:
            # Zero rows are written as an empty file, which Polars cannot infer a schema from.
            return pl.LazyFrame()
        return pl.scan_ndjson(path)

    def sink(self, frame: pl.LazyFrame, path: Path, settings: NdjsonSettings) -> None:
        frame.sink_ndjson(path, check_extension=False, sync_on_close="all")


class NdjsonHome(FileHome):
    file_format = NdjsonFormat()


class NdjsonStore(FileStore):
    file_format = NdjsonFormat()


class NdjsonConnector(Connector):
    type_name = "ndjson"
    settings_model = NdjsonSettings
    capabilities = FILE_CAPABILITIES
    home_class = NdjsonHome
    store_class = NdjsonStore
    template_settings: ClassVar[dict[str, Any]] = {"path": "data/{name}"}
