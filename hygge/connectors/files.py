"""File datasets shared by the csv, ndjson and parquet connectors: a folder holding one dataset per name.

The folder is local or an S3 prefix (folder.py says how datasets are laid out there); the formats say how one
file is scanned and sunk; the home and store here hold what every format and folder shares.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Generator, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import field_validator, model_validator

from hygge.connectors.base import (
    Capabilities,
    ConnectorSettings,
    Home,
    Pieces,
    ReadRequest,
    Store,
    WriteRequest,
    WriteResult,
    check_cancel,
    null_key_error,
)
from hygge.connectors.folder import DataFile, Dataset, Folder, is_glob, open_folder
from hygge.connectors.s3folder import S3Options
from hygge.connectors.timetext import canonical_text, temporal_as_text
from hygge.decimaltext import too_precise
from hygge.errors import FlowError
from hygge.faults import checkpoint
from hygge.incremental import only_new_rows, text_watermark
from hygge.lazy import pl
from hygge.schema import apply_schema_plan, can_widen, plan_schema_change

__all__ = ["FILE_CAPABILITIES", "FileFormat", "FileHome", "FileSettings", "FileStore"]

FILE_CAPABILITIES = Capabilities(
    home=True, store=True, modes=frozenset({"replace", "append", "merge"}), incremental=True
)


class FileSettings(ConnectorSettings):
    """A folder of datasets, local or `s3://bucket/prefix`; subclasses add their format's options."""

    path: str
    s3: S3Options | None = None  # for an s3:// path; else the AWS_* environment variables

    @field_validator("path")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("path must name a folder, such as data/lake, or s3://bucket/lake")
        scheme, sep, rest = value.partition("://")
        if sep and scheme != "s3":
            raise ValueError(
                f"'{scheme}://' locations are not supported; use a local folder or s3://bucket/prefix"
                + (" (S3 URLs start with s3://, in lower case)" if scheme.lower() in ("s3", "s3a", "s3n") else "")
            )
        if sep and not rest.split("/", 1)[0]:
            raise ValueError("an S3 path names its bucket: s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _s3_with_s3_path(self) -> FileSettings:
        if self.s3 is not None and not self.path.startswith("s3://"):
            raise ValueError("s3: options apply to an s3:// path only; this path is a local folder")
        return self


S = TypeVar("S", bound=FileSettings)


class FileFormat(ABC, Generic[S]):
    """How one file format is scanned, sunk and counted; everything else is shared."""

    extension: ClassVar[str]
    splits: ClassVar[bool] = False
    # Whether types are guessed from the values when read (text formats): a column holding no values has no type
    # there, and what was written as one type may read back as another (see FileStore._exact_columns).
    guesses_types: ClassVar[bool] = True

    @abstractmethod
    def scan(self, file: DataFile, settings: S) -> pl.LazyFrame:
        """A lazy frame over one file."""

    @abstractmethod
    def sink(self, frame: pl.LazyFrame, file: DataFile, settings: S) -> None:
        """Stream `frame` into `file` (bounded memory), synced to disk when done."""

    def scan_written(self, file: DataFile, settings: S, text: Collection[str]) -> pl.LazyFrame:
        """A file of a target, to add to or merge into, whose `text` columns are text in the rows now written:
        a format that guesses types reads them as text too ('00123' is not the number 123 there)."""
        return self.scan(file, settings)

    def split(self, file: DataFile, settings: S, rows: int) -> Iterator[pl.LazyFrame]:
        """Lazy frames over consecutive parts of one file, of `rows` rows or more where the file allows, each read
        on its own (see Home.read_with_pieces). Formats that can skip to a part set `splits`; text cannot."""
        yield self.scan(file, settings)

    def encode(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """`frame` with its columns as this format writes them; binary formats keep every type."""
        return frame

    def unnamed_columns(self, settings: S) -> str | None:
        """Why files written with these settings do not name their columns (so cannot be appended or merged
        into: what is there cannot be matched to the new columns), or None when they do."""
        return None

    def count_rows(self, file: DataFile, settings: S) -> int:
        """Rows in one written file; Parquet answers from its metadata, text formats are re-scanned."""
        return int(self.scan(file, settings).select(pl.len()).collect().item())


class _FileEndpoint:
    """What the home and the store share: the folder from settings, and its datasets."""

    file_format: ClassVar[FileFormat[Any]]
    name: str
    settings: Any
    root: Path

    @cached_property
    def folder(self) -> Folder:
        return open_folder(self.settings.path, self.root, self.settings.s3)

    def dataset(self, name: str) -> Dataset:
        ext = self.file_format.extension
        stem = name[: -len(ext) - 1] if name.endswith(f".{ext}") else name
        return self.folder.dataset(stem, ext)

    def scan_files(self, files: list[DataFile], *, text: Collection[str] | None = None) -> pl.LazyFrame:
        """The files as one frame; with `text`, files of a target being written (FileFormat.scan_written)."""
        fmt = self.file_format
        frames = [
            fmt.scan(file, self.settings) if text is None else fmt.scan_written(file, self.settings, text)
            for file in files
        ]
        if len(frames) == 1:
            return frames[0]
        if fmt.guesses_types:
            frames = _untyped_as_null(frames)
        # Parts written before and after a schema change differ; relaxed diagonal concat fills and widens.
        return pl.concat(frames, how="diagonal_relaxed")


def _untyped_as_null(frames: list[pl.LazyFrame]) -> list[pl.LazyFrame]:
    """The files' frames, with a column that one text file holds no value of (read as String: nothing there
    tells its type) as Null where another file types it, so it takes that type instead of making it all text.
    Files are read for this only where their guessed types differ."""
    schemas = [frame.collect_schema() for frame in frames]
    typed = list(dict.fromkeys(n for schema in schemas for n, t in schema.items() if t not in (pl.String, pl.Null)))
    if not typed:
        return frames
    kept = []
    for frame, schema in zip(frames, schemas, strict=True):
        maybe = [name for name in typed if schema.get(name) == pl.String]
        if maybe:
            found = frame.select(pl.col(name).is_not_null().any() for name in maybe).collect().row(0, named=True)
            if empty := [name for name in maybe if not found[name]]:
                frame = frame.with_columns(pl.col(name).cast(pl.Null) for name in empty)
        kept.append(frame)
    return kept


def _inexact(column: str, dtype: pl.DataType) -> pl.Expr:
    """Whether any text of `column` is not a value of the number type `dtype` exactly (not one at all, out of
    range, or with digits a decimal or a float would round away)."""
    text = pl.col(column)
    value = text.cast(dtype, strict=False)
    lost = value.is_null()
    if isinstance(dtype, pl.Decimal):
        scale = dtype.scale
        lost = lost | text.map_batches(
            lambda batch: too_precise(batch, scale, exact=True), return_dtype=pl.Boolean, is_elementwise=True
        )
    elif dtype.is_float():
        lost = lost | (value.cast(pl.String) != text.str.strip_chars())  # the text a float of this width writes
    return (text.is_not_null() & lost).any().alias(column)


class FileHome(_FileEndpoint, Home):
    """Reads dataset `source` (a name, a file name with the extension, or a glob) under the folder `path`."""

    def read(self, request: ReadRequest) -> pl.LazyFrame:
        return self.read_with_pieces(request)[0]

    def read_with_pieces(self, request: ReadRequest) -> tuple[pl.LazyFrame, Pieces | None]:
        where = f"flow {request.flow}"
        if request.query is not None:
            raise FlowError(
                f"a {self.file_format.extension} home reads files, not queries",
                where=where,
                hint="Use source: with a file name, a folder or a glob instead of query:.",
            )
        files = self._resolve(request.source, where)
        try:
            frame = self.scan_files(files)
        except pl.exceptions.PolarsError as exc:
            what = files[0].shown
            if len(files) > 1:
                what = f"{len(files)} files in {what.rsplit('/', 1)[0]}"
            raise FlowError(f"could not read {what}: {exc}", where=where) from exc
        keep = None
        if request.incremental is not None:
            frame, keep = only_new_rows(frame, request.incremental, where)
        return frame, self._pieces(files, frame.collect_schema(), request.batch_size, keep)

    def _pieces(self, files: list[DataFile], schema: pl.Schema, rows: int, keep: pl.Expr | None) -> Pieces | None:
        """The files' parts in order, when every file has the frame's own schema (a concat that widens types or
        fills missing columns is left to Polars)."""
        fmt, settings = self.file_format, self.settings
        if not fmt.splits or any(file.path is None for file in files):
            return None  # an object in a store is not split: the store takes Polars' streamed batches
        if len(files) > 1 and any(fmt.scan(file, settings).collect_schema() != schema for file in files):
            return None

        def pieces() -> Generator[pl.DataFrame, None, None]:
            for file in files:
                for part in fmt.split(file, settings, rows):
                    yield (part if keep is None else part.filter(keep)).collect()

        return pieces

    def _resolve(self, source: str, where: str) -> list[DataFile]:
        if is_glob(source):
            return self._glob(source, where)
        dataset = self.dataset(source)
        if source.endswith(f".{dataset.extension}"):
            if (single := dataset.single_file()) is not None:
                return [single]
            raise self._missing(dataset, where, tried=[dataset.shown_file])
        files = dataset.files(where=where)
        if files:
            return files
        if dataset.folder_exists():
            raise FlowError(
                f"could not read {dataset.shown_folder}/: the folder has no .{dataset.extension} files",
                where=where,
                hint="Files whose names start with '.' or '_' are ignored.",
            )
        raise self._missing(dataset, where, tried=[dataset.shown_file, f"{dataset.shown_folder}/"])

    def _glob(self, pattern: str, where: str) -> list[DataFile]:
        suffix = f".{self.file_format.extension}"
        files, shown = self.folder.glob(pattern, self.file_format.extension)
        if not files:
            raise FlowError(
                f"could not read {shown}: no {suffix} file matches",
                where=where,
                hint=f"The pattern is relative to {self.folder.shown}/ (path: of home '{self.name}').",
            )
        return files

    def _missing(self, dataset: Dataset, where: str, *, tried: list[str]) -> FlowError:
        hints = [f"Tried {' and '.join(tried)}."]
        if (interrupted := dataset.interrupted_hint()) is not None:
            hints.append(interrupted)
        elif not self.folder.exists():
            hints.append(f"The folder {self.folder.shown} (path: of home '{self.name}') does not exist.")
        else:
            names = self.folder.available(self.file_format.extension)
            if names:
                shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
                hints.append(f"Sources there: {shown}.")
        return FlowError(f"could not read {tried[0]}: file does not exist", where=where, hint=" ".join(hints))

    def location(self, source: str) -> str:
        if is_glob(source):
            return self.folder.glob_location(source)
        return self.dataset(source).location()

    def watch_paths(self, source: str) -> list[Path]:
        if is_glob(source):
            return self.folder.glob_watch_paths(source)
        return self.dataset(source).watch_paths()

    def check(self) -> None:
        self.folder.check(f"home {self.name}", store=False)


class FileStore(_FileEndpoint, Store):
    """Writes target `orders` as `<path>/orders.<ext>` (replace, merge) or parts in `<path>/orders/`."""

    def write(self, frame: pl.LazyFrame, request: WriteRequest) -> WriteResult:
        where = f"flow {request.flow}"
        if is_glob(request.target):
            raise FlowError(f"target '{request.target}' has glob characters", where=where)
        dataset = self.dataset(request.target)
        if not dataset.inside(self.folder):
            raise FlowError(
                f"target '{request.target}' is outside store {self.name}'s folder {self.folder.shown}",
                where=where,
                hint="Name a target inside the store's path (sub-folders are fine), or write it to a store whose "
                "path holds it.",
            )
        unnamed = self.file_format.unnamed_columns(self.settings)
        if unnamed is not None and request.mode in ("append", "merge"):
            raise FlowError(
                f"store '{self.name}' cannot {request.mode} into target '{request.target}': {unnamed}",
                where=where,
                hint="Use mode: replace, or let the store's files name their columns.",
            )
        try:
            dataset.prepare()
            dataset.recover()
            if request.mode == "append":
                return self._append(frame, request, dataset)
            incoming = None
            if request.mode == "merge":
                frame, incoming = self._merged(frame, request, dataset)
            elif request.mode != "replace":
                raise FlowError(f"unknown mode '{request.mode}'", where=where)
            elif request.last_per_key and request.key:
                frame = frame.unique(subset=list(request.key), keep="last", maintain_order=True)
            return self._replace(frame, request, dataset, incoming)
        except OSError as exc:  # Polars' errors here are mostly the source's data: the flow names both ends
            raise FlowError(
                f"could not write {dataset.shown_file}: {exc}",
                where=where,
                hint=f"Target '{request.target}' is unchanged.",
            ) from exc

    def _sink(self, frame: pl.LazyFrame, temp: DataFile) -> int:
        self.file_format.sink(self.file_format.encode(frame), temp, self.settings)
        return self.file_format.count_rows(temp, self.settings)

    def _replace(
        self, frame: pl.LazyFrame, request: WriteRequest, dataset: Dataset, incoming: _Rows | None = None
    ) -> WriteResult:
        """Write `frame` as the target's one file; a merge passes its `incoming` rows, the rows this run moves
        (what a database store reports too), where the file holds the target's rows."""
        where = f"flow {request.flow}"
        with dataset.staging() as temp:
            rows = self._sink(frame, temp)
            if rows == 0 and not request.allow_empty:
                self._refuse_emptying(dataset, request)
            if incoming is not None:
                rows = incoming.count
                if rows == 0 and dataset.has_data(where=where):
                    _before_commit(request, 0)
                    return WriteResult(0)  # merging no rows changes nothing: the target stays as it was
            _before_commit(request, rows)
            finish = dataset.commit_replace(temp)
        checkpoint("write.after_commit")
        finish()
        return WriteResult(rows)

    def _refuse_emptying(self, dataset: Dataset, request: WriteRequest) -> None:
        where = f"flow {request.flow}"
        if any(self.file_format.count_rows(file, self.settings) for file in dataset.files(where=where)):
            raise FlowError(
                f"refusing to replace the rows of target '{request.target}' with no rows",
                where=where,
                hint="The target is unchanged. Pass --allow-empty if emptying it is intended.",
            )

    def _existing(self, dataset: Dataset, request: WriteRequest, frame: pl.LazyFrame) -> pl.LazyFrame | None:
        """The target's current rows, to add `frame` to or merge it into; None when it has no files (or none with
        columns)."""
        where = f"flow {request.flow}"
        files = dataset.files(where=where)
        if not files:
            return None
        written = self.file_format.encode(frame).collect_schema()
        text = self._text_columns(files, written)
        existing = self.scan_files(files, text=text)
        schema = existing.collect_schema()
        if not schema:
            return None
        exact = self._exact_columns(files, text, schema, written)
        if exact:
            existing = self.scan_files(files, text=[*text, *exact]).with_columns(
                pl.col(name).cast(dtype) for name, dtype in exact.items()
            )
        return existing

    def _exact_columns(
        self, files: list[DataFile], text: list[str], schema: pl.Schema, written: pl.Schema
    ) -> dict[str, pl.DataType]:
        """Number columns of the target to read back as the type now written, where the guess cannot hold it (a
        text file's UInt64 and Decimal columns read as Int64 and Float64, an ndjson file's decimals as text) and
        every value there is one of that type exactly. Others keep their guess, for the schema plan to judge: a
        Float64 column's 1.5 is no Int64. The files are read for this only where the guess differs so."""
        if not self.file_format.guesses_types:
            return {}
        wanted = {
            name: dtype
            for name, dtype in written.items()
            if dtype.is_numeric()
            and name in schema
            and schema[name] != dtype
            and (schema[name] == pl.String or not can_widen(dtype, schema[name]))
        }
        if not wanted:
            return {}
        as_text = self.scan_files(files, text=[*text, *wanted])
        lost = as_text.select(_inexact(name, dtype) for name, dtype in wanted.items()).collect()
        return {name: dtype for name, dtype in wanted.items() if not lost[name].item()}

    def _text_columns(self, files: list[DataFile], written: pl.Schema) -> list[str]:
        """Columns of the target's files to read as text, as the rows now written hold them as text: those whose
        guessed type does not give the text back ('00123' guessed as 123). Where it does ('1.5' as 1.5), the
        column holds numbers, and text rows for it are a type change on_schema_change must judge."""
        guessed = self.scan_files(files)
        schema = guessed.collect_schema()
        text = [name for name, dtype in written.items() if dtype == pl.String and name in schema]
        differ = [name for name in text if schema[name] != pl.String]
        if not differ:
            return text
        as_text = self.scan_files(files, text=differ).select(differ)
        kept = pl.concat([guessed.select(differ), as_text.select(pl.all().name.suffix("\0text"))], how="horizontal")
        same = kept.select(
            pl.col(name).cast(pl.String).eq_missing(pl.col(f"{name}\0text")).all() for name in differ
        ).collect()
        return [name for name in text if name not in differ or not same[name].item()]

    def _evolve(self, frame: pl.LazyFrame, existing: pl.LazyFrame, request: WriteRequest) -> pl.LazyFrame:
        plan = plan_schema_change(
            existing.collect_schema(),
            frame.collect_schema(),
            request.on_schema_change,
            what=f"target '{request.target}'",
            where=f"flow {request.flow}",
        )
        # Judged on the data's own types (the diff shows them), but encoded before the plan's casts: a cast to a
        # text target's String column would write timestamps in another form than the target's first write.
        return apply_schema_plan(self.file_format.encode(frame), plan)

    def _append(self, frame: pl.LazyFrame, request: WriteRequest, dataset: Dataset) -> WriteResult:
        existing = self._existing(dataset, request, frame)
        if existing is not None:
            frame = self._evolve(frame, existing, request)
        with dataset.staging() as temp:
            rows = self._sink(frame, temp)
            _before_commit(request, rows)
            if rows == 0:
                return WriteResult(0)
            finish = dataset.commit_append(temp)
        checkpoint("write.after_commit")
        finish()
        return WriteResult(rows)

    def _merged(self, frame: pl.LazyFrame, request: WriteRequest, dataset: Dataset) -> tuple[pl.LazyFrame, _Rows]:
        """The target's rows upserted with the new ones by key: the last row per key wins, new after old; and
        the count of the new rows, known once the frame has been written."""
        where = f"flow {request.flow}"
        key = list(request.key)
        if not key:
            raise FlowError("merge needs a key", where=where, hint="Set key: in the flow, such as key: [id].")
        columns = frame.collect_schema().names()
        missing = [name for name in key if name not in columns]
        if missing:
            raise FlowError(
                f"the data has no key column {', '.join(missing)}",
                where=where,
                hint=f"Columns: {', '.join(columns)}.",
            )
        schema = frame.collect_schema()
        incoming = _Rows()
        frame = frame.with_columns(
            _not_null(name, schema[name], incoming if i == 0 else None) for i, name in enumerate(key)
        )
        existing = self._existing(dataset, request, frame)
        if existing is not None:
            existing_columns = existing.collect_schema().names()
            missing = [name for name in key if name not in existing_columns]
            if missing:
                raise FlowError(
                    f"target '{request.target}' has no key column {', '.join(missing)} to merge on",
                    where=where,
                    hint="Rebuild the target with --full-refresh, or change key:.",
                )
            frame = pl.concat(
                [_canonical(existing, frame), self._evolve(frame, existing, request)], how="diagonal_relaxed"
            )
        return frame.unique(subset=key, keep="last", maintain_order=True), incoming

    def location(self, target: str) -> str:
        return self.dataset(target).location()

    def globbed_locations(self, target: str) -> list[str]:
        # `orders/*.parquet` reads the parts an append writes: a part's name stands for them all.
        dataset = self.dataset(target)
        return [dataset.location(), dataset.part_location()]

    def max_value(self, target: str, column: str) -> Any:
        dataset = self.dataset(target)
        files = dataset.files(where=f"store {self.name}")
        if not files:
            return None
        # csv reads the column as text: a guess would take '0010' for the number 10 (TextWatermark has both)
        frame = self.scan_files(files, text=[column])
        if column not in frame.collect_schema():
            raise FlowError(
                f"target '{target}' has no column '{column}' to take the watermark from",
                where=f"store {self.name}",
                hint="Rebuild the target with --full-refresh, or change incremental.cursor.",
            )
        if frame.collect_schema()[column] == pl.String:
            return text_watermark(frame, column)
        top = frame.select(pl.col(column).max())
        dtype = top.collect_schema()[column]
        if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns":
            # A Python datetime ends at microseconds: the watermark would fall behind the rows it covers.
            top = temporal_as_text(top)
        return top.collect().item()

    def output_paths(self, target: str) -> list[Path]:
        return self.dataset(target).output_paths()

    def check(self) -> None:
        self.folder.check(f"store {self.name}", store=True)


class _Rows:
    """Rows counted as their batches pass (the batches may come from several threads)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self._lock:
            self.count += rows


def _not_null(column: str, dtype: pl.DataType, rows: _Rows | None = None) -> pl.Expr:
    """The key column, refusing a null in any batch: Polars' unique() would take all null keys for one key.
    With `rows`, the rows that pass are counted there."""

    def checked(values: pl.Series) -> pl.Series:
        if values.has_nulls():
            raise null_key_error(column, None)  # a batch's count is not the run's
        if rows is not None:
            rows.add(values.len())
        return values

    return pl.col(column).map_batches(checked, return_dtype=dtype, is_elementwise=True)


def _canonical(existing: pl.LazyFrame, frame: pl.LazyFrame) -> pl.LazyFrame:
    """`existing` rows of a text target with its timestamp text in the one form where `frame` brings timestamps
    to that column, so merge keys written in an earlier form still match the new rows'."""
    kept = existing.collect_schema()
    columns = [
        canonical_text(pl.col(name), dtype)
        for name, dtype in frame.collect_schema().items()
        if isinstance(dtype, pl.Datetime) and kept.get(name) == pl.String
    ]
    return existing.with_columns(columns) if columns else existing


def _before_commit(request: WriteRequest, rows: int) -> None:
    """The last moment a write may still stop with the target unchanged; state moves with it (on_commit)."""
    check_cancel(request)
    checkpoint("write.before_commit")
    if request.on_commit is not None:
        request.on_commit(rows)
