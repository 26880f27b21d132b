"""The parquet connector: a folder of Parquet datasets, as a home and a store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from hygge.connectors.base import Connector
from hygge.connectors.files import FILE_CAPABILITIES, FileFormat, FileHome, FileSettings, FileStore
from hygge.lazy import pl


class ParquetSettings(FileSettings):
    compression: Literal["zstd", "snappy", "lz4", "gzip", "brotli", "uncompressed"] = "zstd"


class ParquetFormat(FileFormat[ParquetSettings]):
    extension = "parquet"

    def scan(self, path: Path, settings: ParquetSettings) -> pl.LazyFrame:
        return pl.scan_parquet(path)

    def sink(self, frame: pl.LazyFrame, path: Path, settings: ParquetSettings) -> None:
        frame.sink_parquet(path, compression=settings.compression, sync_on_close="all")


class ParquetHome(FileHome):
    file_format = ParquetFormat()


class ParquetStore(FileStore):
    file_format = ParquetFormat()


class ParquetConnector(Connector):
    type_name = "parquet"
    settings_model = ParquetSettings
    capabilities = FILE_CAPABILITIES
    home_class = ParquetHome
    store_class = ParquetStore
    template_settings: ClassVar[dict[str, Any]] = {"path": "data/{name}"}
