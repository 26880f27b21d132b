"""The parquet connector: a folder of Parquet datasets, as a home and a store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from hygge.connectors.base import Connector
from hygge.connectors.files import FILE_CAPABILITIES, FileFormat, FileHome, FileSettings, FileStore
from hygge.connectors.folder import DataFile
from hygge.lazy import pl

# Polars prefetches row groups up to a budget it does not keep to on local files: on a 10M-row, 40-row-group file it
# held every row group at once (811 MB peak for a copy). 16 MB ahead is ~350 MB at the same speed (bench/, 10M
# rows); a value the user sets in the environment wins.
PREFETCH_BUDGET = ("POLARS_ROW_GROUP_PREFETCH_KBYTES_BUDGET", "16384")


class ParquetSettings(FileSettings):
    compression: Literal["zstd", "snappy", "lz4", "gzip", "brotli", "uncompressed"] = "zstd"


class ParquetFormat(FileFormat[ParquetSettings]):
    extension = "parquet"
    splits = True
    guesses_types = False

    def scan(self, file: DataFile, settings: ParquetSettings) -> pl.LazyFrame:
        os.environ.setdefault(*PREFETCH_BUDGET)  # read by Polars when the scan runs
        # glob=False: a file hygge listed, whose name may hold `[` or `*`
        return pl.scan_parquet(file.source, glob=False, storage_options=file.storage_options)

    def split(self, file: DataFile, settings: ParquetSettings, rows: int) -> Iterator[pl.LazyFrame]:
        """Whole row groups, as many as make `rows` rows: Polars reads only the row groups a slice covers."""
        import pyarrow.parquet as pq

        assert file.path is not None, "only local files are split"
        metadata = pq.read_metadata(file.path)
        scan = self.scan(file, settings)
        start = length = 0
        for group in range(metadata.num_row_groups):
            length += metadata.row_group(group).num_rows
            if length >= rows:
                yield scan.slice(start, length)
                start, length = start + length, 0
        if length or not start:  # the rest, or the one empty piece of a file without rows
            yield scan.slice(start, length)

    def sink(self, frame: pl.LazyFrame, file: DataFile, settings: ParquetSettings) -> None:
        frame.sink_parquet(
            file.source, compression=settings.compression, sync_on_close="all", storage_options=file.storage_options
        )


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
