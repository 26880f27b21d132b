"""File datasets shared by the csv, ndjson and parquet connectors: a folder holding one dataset per name.

Dataset `orders` in folder `path` is either the single file `orders.<ext>` (written by replace and merge) or
the folder `orders/` of part files (written by append). Names starting with `.` or `_` are never data: temp
files, a folder set aside during a replace, and tool metadata such as `_SUCCESS` live under such names.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import field_validator

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
GLOB_CHARS = frozenset("*?[")
# Staging folders of a killed run are harmless (hidden); only ones this old are removed, so a store never
# deletes the staging folder of a write still running in another process.
STALE_TEMP_AGE = timedelta(minutes=15)


class FileSettings(ConnectorSettings):
    """A folder of datasets; subclasses add their format's options."""

    path: str

    @field_validator("path")
    @classmethod
    def _local_folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("path must name a folder, such as data/lake")
        if "://" in value:
            raise ValueError(f"'{value}' is a remote location; file connectors use local folders only")
        return value


S = TypeVar("S", bound=FileSettings)


class FileFormat(ABC, Generic[S]):
    """How one file format is scanned, sunk and counted; everything else is shared."""

    extension: ClassVar[str]
    splits: ClassVar[bool] = False
    # Whether types are guessed from the values when read (text formats): a column holding no values has no type
    # there, and what was written as one type may read back as another (see FileStore._exact_columns).
    guesses_types: ClassVar[bool] = True

    @abstractmethod
    def scan(self, path: Path, settings: S) -> pl.LazyFrame:
        """A lazy frame over one file."""

    @abstractmethod
    def sink(self, frame: pl.LazyFrame, path: Path, settings: S) -> None:
        """Stream `frame` into the file `path` (bounded memory), synced to disk when done."""

    def scan_written(self, path: Path, settings: S, text: Collection[str]) -> pl.LazyFrame:
        """A file of a target, to add to or merge into, whose `text` columns are text in the rows now written:
        a format that guesses types reads them as text too ('00123' is not the number 123 there)."""
        return self.scan(path, settings)

    def split(self, path: Path, settings: S, rows: int) -> Iterator[pl.LazyFrame]:
        """Lazy frames over consecutive parts of one file, of `rows` rows or more where the file allows, each read
        on its own (see Home.read_with_pieces). Formats that can skip to a part set `splits`; text cannot."""
        yield self.scan(path, settings)

    def encode(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """`frame` with its columns as this format writes them; binary formats keep every type."""
        return frame

    def unnamed_columns(self, settings: S) -> str | None:
        """Why files written with these settings do not name their columns (so cannot be appended or merged
        into: what is there cannot be matched to the new columns), or None when they do."""
        return None

    def count_rows(self, path: Path, settings: S) -> int:
        """Rows in one written file; Parquet answers from its metadata, text formats are re-scanned."""
        return int(self.scan(path, settings).select(pl.len()).collect().item())


def _is_glob(text: str) -> bool:
    return any(char in GLOB_CHARS for char in text)


def _is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")


def _sync_dir(path: Path) -> None:
    """Make renames in `path` durable; a no-op where directories cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Dataset:
    """Where dataset `name` lives under `base`: the file `<name>.<ext>` or the folder `<name>/` of parts."""

    base: Path
    name: str
    extension: str

    @property
    def file(self) -> Path:
        return self.base / f"{self.name}.{self.extension}"

    @property
    def folder(self) -> Path:
        return self.base / self.name

    @property
    def parent(self) -> Path:
        return self.file.parent

    @property
    def leaf(self) -> str:
        return self.folder.name

    def parts(self) -> list[Path]:
        """The folder's data files, oldest first (part names start with their UTC time)."""
        if not self.folder.is_dir():
            return []
        suffix = f".{self.extension}"
        found = (p for p in self.folder.iterdir() if p.name.endswith(suffix) and not _is_hidden(p.name))
        return sorted(p for p in found if p.is_file())

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A temp file path for one write, inside a hidden folder that is removed with whatever is left.

        A folder rather than a bare temp file because a failed Polars sink may still create its file just
        after raising; once the folder is gone, that late file cannot appear.
        """
        folder = self.parent / f".{self.leaf}.{self.extension}.{uuid.uuid4().hex}.tmp"
        folder.mkdir()
        try:
            yield folder / f"{self.leaf}.{self.extension}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def aside_path(self) -> Path:
        return self.parent / f".{self.leaf}.{self.extension}.{uuid.uuid4().hex}.replaced"

    def _own(self, kind: str) -> list[Path]:
        """This dataset's staging folders (`tmp`) or set-aside parts folders (`replaced`)."""
        if not self.parent.is_dir():
            return []
        prefix = re.escape(f".{self.leaf}.{self.extension}.")
        pattern = re.compile(rf"{prefix}[0-9a-f]{{32}}\.{kind}")
        return sorted(p for p in self.parent.iterdir() if pattern.fullmatch(p.name))

    def asides(self) -> list[Path]:
        return self._own("replaced")

    def temps(self) -> list[Path]:
        return self._own("tmp")

    def files(self, *, where: str, shown: str) -> list[Path]:
        """The data files now, or [] when there are none; both a file and a folder of parts is an error."""
        parts = self.parts()
        if self.file.is_file():
            if parts:
                raise FlowError(
                    f"both {shown}.{self.extension} and the folder {shown}/ hold data",
                    where=where,
                    hint=f"Name one: '{self.name}.{self.extension}' for the file or "
                    f"'{self.name}/*.{self.extension}' for the folder, or remove the other.",
                )
            return [self.file]
        return parts


class _FileEndpoint:
    """Paths shared by the home and the store: the folder from settings and how a path is shown."""

    file_format: ClassVar[FileFormat[Any]]
    name: str
    settings: Any
    root: Path

    @property
    def base(self) -> Path:
        return self.root / Path(self.settings.path).expanduser()

    def shown(self, path: Path) -> str:
        """`path` relative to the project root where possible, as the user wrote paths."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def dataset(self, name: str) -> Dataset:
        ext = self.file_format.extension
        stem = name[: -len(ext) - 1] if name.endswith(f".{ext}") else name
        return Dataset(self.base, stem, ext)

    def _location(self, name: str) -> str:
        # Resolve only the folder: dependency inference compares these strings, and must not depend on
        # whether the file exists yet.
        dataset = self.dataset(name)
        return f"file:{(dataset.parent.resolve() / dataset.file.name).as_posix()}"

    def scan_files(self, files: list[Path], *, text: Collection[str] | None = None) -> pl.LazyFrame:
        """The files as one frame; with `text`, files of a target being written (FileFormat.scan_written)."""
        fmt = self.file_format
        frames = [
            fmt.scan(path, self.settings) if text is None else fmt.scan_written(path, self.settings, text)
            for path in files
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


def _glob_split(pattern: str, base: Path) -> tuple[Path, str]:
    """(the folder before the first glob character, the rest of the pattern)."""
    path = base / Path(pattern).expanduser()
    parts = path.parts
    fixed = next(i for i, part in enumerate(parts) if _is_glob(part))
    return Path(*parts[:fixed]), "/".join(parts[fixed:])


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
            what = self.shown(files[0])
            if len(files) > 1:
                what = f"{len(files)} files in {self.shown(files[0].parent)}"
            raise FlowError(f"could not read {what}: {exc}", where=where) from exc
        keep = None
        if request.incremental is not None:
            frame, keep = only_new_rows(frame, request.incremental, where)
        return frame, self._pieces(files, frame.collect_schema(), request.batch_size, keep)

    def _pieces(self, files: list[Path], schema: pl.Schema, rows: int, keep: pl.Expr | None) -> Pieces | None:
        """The files' parts in order, when every file has the frame's own schema (a concat that widens types or
        fills missing columns is left to Polars)."""
        fmt, settings = self.file_format, self.settings
        if not fmt.splits:
            return None
        if len(files) > 1 and any(fmt.scan(path, settings).collect_schema() != schema for path in files):
            return None

        def pieces() -> Generator[pl.DataFrame, None, None]:
            for path in files:
                for part in fmt.split(path, settings, rows):
                    yield (part if keep is None else part.filter(keep)).collect()

        return pieces

    def _resolve(self, source: str, where: str) -> list[Path]:
        if _is_glob(source):
            return self._glob(source, where)
        dataset = self.dataset(source)
        shown = self.shown(dataset.folder)
        if source.endswith(f".{dataset.extension}"):
            if dataset.file.is_file():
                return [dataset.file]
            raise self._missing(dataset, where, tried=[self.shown(dataset.file)])
        files = dataset.files(where=where, shown=shown)
        if files:
            return files
        if dataset.folder.is_dir():
            raise FlowError(
                f"could not read {shown}/: the folder has no .{dataset.extension} files",
                where=where,
                hint="Files whose names start with '.' or '_' are ignored.",
            )
        raise self._missing(dataset, where, tried=[self.shown(dataset.file), f"{shown}/"])

    def _glob(self, pattern: str, where: str) -> list[Path]:
        folder, rest = _glob_split(pattern, self.base)
        suffix = f".{self.file_format.extension}"
        files = sorted(
            path
            for path in folder.glob(rest)
            if path.name.endswith(suffix)
            and not any(_is_hidden(part) for part in path.relative_to(folder).parts)
            and path.is_file()
        )
        if not files:
            raise FlowError(
                f"could not read {self.shown(folder / rest)}: no {suffix} file matches",
                where=where,
                hint=f"The pattern is relative to {self.shown(self.base)}/ (path: of home '{self.name}').",
            )
        return files

    def _missing(self, dataset: Dataset, where: str, *, tried: list[str]) -> FlowError:
        hints = [f"Tried {' and '.join(tried)}."]
        if dataset.asides():
            hints.append(
                f"An interrupted replace set the previous rows aside in {self.shown(dataset.asides()[0])}; "
                "run the flow that writes this target again to restore or finish it."
            )
        elif not self.base.is_dir():
            hints.append(f"The folder {self.shown(self.base)} (path: of home '{self.name}') does not exist.")
        else:
            names = self._available()
            if names:
                shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
                hints.append(f"Sources there: {shown}.")
        return FlowError(f"could not read {tried[0]}: file does not exist", where=where, hint=" ".join(hints))

    def _available(self) -> list[str]:
        suffix = f".{self.file_format.extension}"
        names = set()
        for path in self.base.iterdir():
            if _is_hidden(path.name):
                continue
            if path.is_file() and path.name.endswith(suffix):
                names.add(path.name[: -len(suffix)])
            elif path.is_dir() and Dataset(self.base, path.name, self.file_format.extension).parts():
                names.add(path.name)
        return sorted(names)

    def location(self, source: str) -> str:
        if _is_glob(source):
            folder, rest = _glob_split(source, self.base)
            return f"file:{folder.resolve().as_posix()}/{rest}"
        return self._location(source)

    def watch_paths(self, source: str) -> list[Path]:
        if _is_glob(source):
            return [_glob_split(source, self.base)[0]]
        dataset = self.dataset(source)
        return [dataset.file, dataset.folder]

    def check(self) -> None:
        if not self.base.is_dir():
            raise FlowError(
                f"the folder {self.shown(self.base)} does not exist",
                where=f"home {self.name}",
                hint="Create it or change path: in the home's file.",
            )


class FileStore(_FileEndpoint, Store):
    """Writes target `orders` as `<path>/orders.<ext>` (replace, merge) or parts in `<path>/orders/`."""

    def write(self, frame: pl.LazyFrame, request: WriteRequest) -> WriteResult:
        where = f"flow {request.flow}"
        if _is_glob(request.target):
            raise FlowError(f"target '{request.target}' has glob characters", where=where)
        dataset = self.dataset(request.target)
        if not dataset.parent.resolve().is_relative_to(self.base.resolve()):
            raise FlowError(
                f"target '{request.target}' is outside store {self.name}'s folder {self.shown(self.base)}",
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
        dataset = self.dataset(request.target)
        try:
            dataset.parent.mkdir(parents=True, exist_ok=True)
            self._recover(dataset)
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
                f"could not write {self.shown(dataset.file)}: {exc}",
                where=where,
                hint=f"Target '{request.target}' is unchanged.",
            ) from exc

    def _recover(self, dataset: Dataset) -> None:
        """Finish or undo a replace a killed run left half done, and remove its stale staging folders."""
        for aside in dataset.asides():
            if dataset.file.exists():
                shutil.rmtree(aside, ignore_errors=True)  # the replace committed; the old parts are garbage
            elif not dataset.folder.exists():
                aside.rename(dataset.folder)  # killed before the commit: the old parts are still the target
        cutoff = time.time() - STALE_TEMP_AGE.total_seconds()
        for temp in dataset.temps():
            with contextlib.suppress(OSError):
                # the file inside is what a running write keeps touching
                touched = [temp, *temp.iterdir()] if temp.is_dir() else [temp]
                if max(path.stat().st_mtime for path in touched) >= cutoff:
                    continue
                if temp.is_dir():
                    shutil.rmtree(temp)
                else:
                    temp.unlink()

    def _sink(self, frame: pl.LazyFrame, temp: Path) -> int:
        self.file_format.sink(self.file_format.encode(frame), temp, self.settings)
        return self.file_format.count_rows(temp, self.settings)

    def _replace(
        self, frame: pl.LazyFrame, request: WriteRequest, dataset: Dataset, incoming: _Rows | None = None
    ) -> WriteResult:
        """Write `frame` as the target's one file; a merge passes its `incoming` rows, the rows this run moves
        (what a database store reports too), where the file holds the target's rows."""
        aside: Path | None = None
        with dataset.staging() as temp:
            rows = self._sink(frame, temp)
            if rows == 0 and not request.allow_empty:
                self._refuse_emptying(dataset, request)
            if incoming is not None:
                rows = incoming.count
                if rows == 0 and (dataset.file.is_file() or dataset.parts()):
                    _before_commit(request, 0)
                    return WriteResult(0)  # merging no rows changes nothing: the target stays as it was
            _before_commit(request, rows)
            # Order matters for readers and for a crash at any step: a reader must never see the old parts
            # and the new file together (rows twice). So the parts folder goes aside to a hidden name first,
            # then the new file is renamed in (the commit), then the old parts are deleted. A crash between
            # the two renames leaves no visible target and the old parts aside; the next write of this target
            # restores them (_recover), since the replace did not commit. A crash after the commit leaves
            # garbage aside that the next write deletes.
            if dataset.folder.is_dir():
                aside = dataset.aside_path()
                dataset.folder.rename(aside)
            try:
                checkpoint("write.between_renames")
                temp.replace(dataset.file)
            except BaseException:
                if aside is not None:
                    aside.rename(dataset.folder)
                raise
            _sync_dir(dataset.parent)
        checkpoint("write.after_commit")
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        return WriteResult(rows)

    def _refuse_emptying(self, dataset: Dataset, request: WriteRequest) -> None:
        existing = [dataset.file] if dataset.file.is_file() else []
        if any(self.file_format.count_rows(path, self.settings) for path in existing + dataset.parts()):
            raise FlowError(
                f"refusing to replace the rows of target '{request.target}' with no rows",
                where=f"flow {request.flow}",
                hint="The target is unchanged. Pass --allow-empty if emptying it is intended.",
            )

    def _existing(self, dataset: Dataset, request: WriteRequest, frame: pl.LazyFrame) -> pl.LazyFrame | None:
        """The target's current rows, to add `frame` to or merge it into; None when it has no files (or none with
        columns)."""
        where = f"flow {request.flow}"
        files = dataset.files(where=where, shown=self.shown(dataset.folder))
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
        self, files: list[Path], text: list[str], schema: pl.Schema, written: pl.Schema
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

    def _text_columns(self, files: list[Path], written: pl.Schema) -> list[str]:
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
            # Each step is one rename and every state between them shows each row once: an empty new folder
            # is not data, the old single file moves in as the first part, then the new part is the commit.
            dataset.folder.mkdir(exist_ok=True)
            now = datetime.now(UTC)
            if dataset.file.is_file():
                written = datetime.fromtimestamp(dataset.file.stat().st_mtime, UTC)
                earlier = min(written, now - timedelta(microseconds=1))  # sorts before the new part
                dataset.file.rename(dataset.folder / self._part_name(earlier))
            temp.replace(dataset.folder / self._part_name(now))
            _sync_dir(dataset.folder)
            _sync_dir(dataset.parent)
        checkpoint("write.after_commit")
        return WriteResult(rows)

    def _part_name(self, moment: datetime) -> str:
        return f"part-{_utc_stamp(moment)}-{uuid.uuid4().hex[:8]}.{self.file_format.extension}"

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
        return self._location(target)

    def globbed_locations(self, target: str) -> list[str]:
        # `orders/*.parquet` reads the parts an append writes: a part's name stands for them all.
        dataset = self.dataset(target)
        part = f"part-{_utc_stamp(datetime(2000, 1, 1, tzinfo=UTC))}-00000000.{dataset.extension}"
        return [self._location(target), f"file:{(dataset.parent.resolve() / dataset.name / part).as_posix()}"]

    def max_value(self, target: str, column: str) -> Any:
        dataset = self.dataset(target)
        files = dataset.files(where=f"store {self.name}", shown=self.shown(dataset.base / dataset.name))
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
        dataset = self.dataset(target)
        return [dataset.file, dataset.folder]

    def check(self) -> None:
        if self.base.exists() and not self.base.is_dir():
            raise FlowError(
                f"{self.shown(self.base)} is a file, not a folder",
                where=f"store {self.name}",
                hint="Change path: in the store's file to a folder.",
            )


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
