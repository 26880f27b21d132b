"""The csv connector: a folder of CSV datasets, as a home and a store."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from hygge.connectors.base import Connector
from hygge.connectors.files import (
    FILE_CAPABILITIES,
    FileFormat,
    FileHome,
    FileSettings,
    FileStore,
)
from hygge.connectors.folder import DataFile
from hygge.connectors.timetext import temporal_as_text
from hygge.decimaltext import too_precise
from hygge.errors import FlowError, did_you_mean
from hygge.lazy import pl
from hygge.schema import type_label
from hygge.typenames import check_type_name, to_dtype


class CsvSettings(FileSettings):
    separator: str = Field(default=",", min_length=1, max_length=1)
    has_header: bool = True  # read and write a header line
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    null_values: str | list[str] | None = None  # written nulls use the first one
    # Rows read to guess column types; Polars' default of 100 fails on files whose later rows widen a type.
    infer_schema_length: int | None = 10_000
    # Columns whose type is not guessed: `zip: text` keeps '00123' as it is written (a guess reads 123).
    types: dict[str, str] = Field(default_factory=dict)

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: dict[str, str]) -> dict[str, str]:
        return {column: check_type_name(name) for column, name in types.items()}


def _raw(column: str) -> str:
    """A column's name as Polars reads it from a header (its quotes doubled)."""
    return column.replace('"', '""')


def _read_as(dtype: pl.DataType) -> pl.DataType:
    return pl.String() if dtype.is_decimal() else dtype


def _exact_decimal(column: str, dtype: pl.DataType, file: DataFile) -> pl.Expr:
    """The text of a `types:` decimal column as that decimal, refusing a value with more digits after the point
    than it keeps (Polars' own parse would round 1.005 to 1.00 without a word)."""
    assert isinstance(dtype, pl.Decimal)
    scale = dtype.scale

    def exactly(text: pl.Series) -> pl.Series:
        if (stray := text.filter(too_precise(text, scale, exact=True))).len():
            raise FlowError(
                f"{file.name}: column '{column}' holds {stray[0]}, which {type_label(dtype)} cannot hold exactly "
                f"(it keeps {scale} digits after the point)",
                hint=f"Set types: {column}: {_wider_decimal(dtype, str(stray[0]))} to keep every digit, or round "
                "the values in the file. The target is unchanged.",
            )
        return text.cast(dtype)

    return pl.col(column).map_batches(exactly, return_dtype=dtype, is_elementwise=True)


def _wider_decimal(dtype: pl.Decimal, value: str) -> str:
    """A decimal type like `dtype` that keeps every digit after the point of `value` (such as '1.005')."""
    digits = len(value.partition(".")[2].rstrip("0"))
    precision = min(38, (dtype.precision or 38) - dtype.scale + digits)
    return f"decimal({precision},{min(digits, precision)})"


# A file with a header and no rows is small; larger files are not read twice to find out.
_EMPTY_FILE_BYTES = 1 << 20


def _untyped_if_empty(frame: pl.LazyFrame, file: DataFile, settings: CsvSettings) -> pl.LazyFrame:
    """A header without rows tells the columns' names, not their types: Polars reads them as String, which an
    append or merge into numbers refused. They are Null (any type holds them), except those `types:` names."""
    schema = frame.collect_schema()
    guessed = [name for name in schema if name not in settings.types]
    if not guessed or any(schema[name] != pl.String for name in guessed) or file.size() > _EMPTY_FILE_BYTES:
        return frame
    if frame.head(1).collect().height:
        return frame
    return frame.with_columns(pl.col(name).cast(pl.Null) for name in guessed)


class CsvFormat(FileFormat[CsvSettings]):
    extension = "csv"

    def scan(self, file: DataFile, settings: CsvSettings) -> pl.LazyFrame:
        return self.scan_written(file, settings, ())

    def scan_written(self, file: DataFile, settings: CsvSettings, text: Collection[str]) -> pl.LazyFrame:
        declared = {column: to_dtype(name) for column, name in settings.types.items()}
        types = {column: _read_as(dtype) for column, dtype in declared.items()}
        types |= {column: pl.String() for column in text if column not in types}
        frame = pl.scan_csv(
            file.source,
            storage_options=file.storage_options,
            glob=False,  # a file hygge listed, whose name may hold `[` or `*`
            separator=settings.separator,
            has_header=settings.has_header,
            encoding=settings.encoding,
            null_values=settings.null_values,
            infer_schema_length=settings.infer_schema_length,
            # Polars reads a header's quoted names without unescaping '""' (see below), so the types do the same.
            # Decimals are read as text and checked before the cast (_exact_decimal).
            schema_overrides={_raw(column): dtype for column, dtype in types.items()} or None,
        )
        # A header name holding '"' is written quoted, the quote doubled; Polars leaves it doubled when reading,
        # and a csv -> csv chain would rename the column.
        doubled = [name for name in frame.collect_schema().names() if '""' in name] if settings.has_header else []
        if doubled:
            frame = frame.rename({name: name.replace('""', '"') for name in doubled})
        if settings.types:  # Polars ignores a name the file lacks: a typo would change nothing, unseen
            columns = frame.collect_schema().names()
            if missing := [column for column in settings.types if column not in columns]:
                raise FlowError(
                    f"types: names column '{missing[0]}', which {file.name} does not have",
                    hint=did_you_mean(missing[0], columns, kind="Columns"),
                )
            decimals = {column: dtype for column, dtype in declared.items() if dtype.is_decimal()}
            if decimals:
                frame = frame.with_columns(_exact_decimal(column, dtype, file) for column, dtype in decimals.items())
        return _untyped_if_empty(frame, file, settings)

    def unnamed_columns(self, settings: CsvSettings) -> str | None:
        # Read back, a header-less file's columns are column_1, column_2, ...: every later write would differ.
        return None if settings.has_header else "with has_header: false its files do not name their columns"

    def encode(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return temporal_as_text(frame)

    def sink(self, frame: pl.LazyFrame, file: DataFile, settings: CsvSettings) -> None:
        nulls = settings.null_values
        null_value = nulls if isinstance(nulls, str) else (nulls[0] if nulls else None)
        frame.sink_csv(
            file.source,
            storage_options=file.storage_options,
            separator=settings.separator,
            include_header=settings.has_header,
            null_value=null_value,
            check_extension=False,  # the temp file's name ends in .tmp
            sync_on_close="all",
        )


class CsvHome(FileHome):
    file_format = CsvFormat()


class CsvStore(FileStore):
    file_format = CsvFormat()


class CsvConnector(Connector):
    type_name = "csv"
    settings_model = CsvSettings
    capabilities = FILE_CAPABILITIES
    home_class = CsvHome
    store_class = CsvStore
    template_settings: ClassVar[dict[str, Any]] = {"path": "data/{name}"}
