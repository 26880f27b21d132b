"""Datasets in a local folder: a write becomes visible by a rename, which the file system does at once."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hygge.connectors.folder import (
    STALE_TEMP_AGE,
    DataFile,
    Dataset,
    Folder,
    both_error,
    is_glob,
    is_hidden,
    part_name,
)
from hygge.errors import FlowError
from hygge.faults import checkpoint


def _sync_dir(path: Path) -> None:
    """Make renames in `path` durable; a no-op where directories cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _shown(path: Path, root: Path) -> str:
    """`path` relative to the project root where possible, as the user wrote paths."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


class LocalFile(DataFile):
    def __init__(self, path: Path, root: Path) -> None:
        self._path = path
        self.shown = _shown(path, root)

    @property
    def source(self) -> Path:
        return self._path

    @property
    def path(self) -> Path:
        return self._path

    @property
    def name(self) -> str:
        return self._path.name

    def size(self) -> int:
        return self._path.stat().st_size


@dataclass(frozen=True)
class LocalDataset(Dataset):
    """Dataset `name` under `base`: the file `<name>.<ext>` or the folder `<name>/` of parts."""

    base: Path
    name: str
    extension: str
    root: Path

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

    @property
    def shown_file(self) -> str:
        return _shown(self.file, self.root)

    @property
    def shown_folder(self) -> str:
        return _shown(self.folder, self.root)

    def _file(self, path: Path) -> LocalFile:
        return LocalFile(path, self.root)

    def single_file(self) -> LocalFile | None:
        return self._file(self.file) if self.file.is_file() else None

    def parts(self) -> list[Path]:
        """The folder's data files, oldest first (part names start with their UTC time)."""
        if not self.folder.is_dir():
            return []
        suffix = f".{self.extension}"
        found = (p for p in self.folder.iterdir() if p.name.endswith(suffix) and not is_hidden(p.name))
        return sorted(p for p in found if p.is_file())

    def files(self, *, where: str) -> list[DataFile]:
        parts = self.parts()
        if self.file.is_file():
            if parts:
                raise both_error(self, where)
            return [self._file(self.file)]
        return [self._file(path) for path in parts]

    def has_data(self, *, where: str) -> bool:
        return self.file.is_file() or bool(self.parts())

    def folder_exists(self) -> bool:
        return self.folder.is_dir()

    def interrupted_hint(self) -> str | None:
        if not self.asides():
            return None
        return (
            f"An interrupted replace set the previous rows aside in {_shown(self.asides()[0], self.root)}; "
            "run the flow that writes this target again to restore or finish it."
        )

    def location(self) -> str:
        # Resolve only the folder: dependency inference compares these strings, and must not depend on whether
        # the file exists yet.
        return f"file:{(self.parent.resolve() / self.file.name).as_posix()}"

    def part_location(self) -> str:
        part = part_name(datetime(2000, 1, 1, tzinfo=UTC), self.extension, tag="00000000")
        return f"file:{(self.parent.resolve() / self.name / part).as_posix()}"

    def output_paths(self) -> list[Path]:
        return [self.file, self.folder]

    def watch_paths(self) -> list[Path]:
        return [self.file, self.folder]

    # writing

    def inside(self, folder: Folder) -> bool:
        return isinstance(folder, LocalFolder) and self.parent.resolve().is_relative_to(folder.path.resolve())

    def prepare(self) -> None:
        self.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def staging(self) -> Iterator[DataFile]:
        """A temp file inside a hidden folder that is removed with whatever is left: a folder rather than a bare
        temp file because a failed Polars sink may still create its file just after raising; once the folder is
        gone, that late file cannot appear."""
        folder = self.parent / f".{self.leaf}.{self.extension}.{uuid.uuid4().hex}.tmp"
        folder.mkdir()
        try:
            yield self._file(folder / f"{self.leaf}.{self.extension}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _aside_path(self) -> Path:
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

    def recover(self) -> None:
        for aside in self.asides():
            if self.file.exists():
                shutil.rmtree(aside, ignore_errors=True)  # the replace committed; the old parts are garbage
            elif not self.folder.exists():
                aside.rename(self.folder)  # killed before the commit: the old parts are still the target
        cutoff = time.time() - STALE_TEMP_AGE.total_seconds()
        for temp in self._own("tmp"):
            with contextlib.suppress(OSError):
                # the file inside is what a running write keeps touching
                touched = [temp, *temp.iterdir()] if temp.is_dir() else [temp]
                if max(path.stat().st_mtime for path in touched) >= cutoff:
                    continue
                if temp.is_dir():
                    shutil.rmtree(temp)
                else:
                    temp.unlink()

    def commit_replace(self, temp: DataFile) -> Callable[[], None]:
        assert isinstance(temp, LocalFile)
        # Order matters for readers and for a crash at any step: a reader must never see the old parts and the
        # new file together (rows twice). So the parts folder goes aside to a hidden name first, then the new file
        # is renamed in (the commit), then the old parts are deleted. A crash between the two renames leaves no
        # visible target and the old parts aside; the next write of this target restores them (recover), since
        # the replace did not commit. A crash after the commit leaves garbage aside that the next write deletes.
        aside: Path | None = None
        if self.folder.is_dir():
            aside = self._aside_path()
            self.folder.rename(aside)
        try:
            checkpoint("write.between_renames")
            temp.path.replace(self.file)
        except BaseException:
            if aside is not None:
                aside.rename(self.folder)
            raise
        _sync_dir(self.parent)
        return lambda: shutil.rmtree(aside, ignore_errors=True) if aside is not None else None

    def commit_append(self, temp: DataFile) -> Callable[[], None]:
        assert isinstance(temp, LocalFile)
        # Each step is one rename and every state between them shows each row once: an empty new folder is not
        # data, the old single file moves in as the first part, then the new part is the commit.
        self.folder.mkdir(exist_ok=True)
        now = datetime.now(UTC)
        if self.file.is_file():
            written = datetime.fromtimestamp(self.file.stat().st_mtime, UTC)
            earlier = min(written, now - timedelta(microseconds=1))  # sorts before the new part
            self.file.rename(self.folder / part_name(earlier, self.extension))
        temp.path.replace(self.folder / part_name(now, self.extension))
        _sync_dir(self.folder)
        _sync_dir(self.parent)
        return lambda: None


class LocalFolder(Folder):
    """A folder on this machine, relative to the project root."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.shown = _shown(path, root)

    def dataset(self, name: str, extension: str) -> LocalDataset:
        return LocalDataset(self.path, name, extension, self.root)

    def exists(self) -> bool:
        return self.path.is_dir()

    def _split(self, pattern: str) -> tuple[Path, str]:
        """(the folder before the first glob character, the rest of the pattern)."""
        parts = (self.path / Path(pattern).expanduser()).parts
        fixed = next(i for i, part in enumerate(parts) if is_glob(part))
        return Path(*parts[:fixed]), "/".join(parts[fixed:])

    def glob(self, pattern: str, extension: str) -> tuple[list[DataFile], str]:
        folder, rest = self._split(pattern)
        suffix = f".{extension}"
        found = sorted(
            path
            for path in folder.glob(rest)
            if path.name.endswith(suffix)
            and not any(is_hidden(part) for part in path.relative_to(folder).parts)
            and path.is_file()
        )
        return [LocalFile(path, self.root) for path in found], _shown(folder / rest, self.root)

    def glob_location(self, pattern: str) -> str:
        folder, rest = self._split(pattern)
        return f"file:{folder.resolve().as_posix()}/{rest}"

    def glob_watch_paths(self, pattern: str) -> list[Path]:
        return [self._split(pattern)[0]]

    def available(self, extension: str) -> list[str]:
        suffix = f".{extension}"
        names = set()
        for path in self.path.iterdir():
            if is_hidden(path.name):
                continue
            if path.is_file() and path.name.endswith(suffix):
                names.add(path.name[: -len(suffix)])
            elif path.is_dir() and self.dataset(path.name, extension).parts():
                names.add(path.name)
        return sorted(names)

    def check(self, where: str, *, store: bool) -> None:
        if store:
            if self.path.exists() and not self.path.is_dir():
                raise FlowError(
                    f"{self.shown} is a file, not a folder",
                    where=where,
                    hint="Change path: in the store's file to a folder.",
                )
        elif not self.path.is_dir():
            raise FlowError(
                f"the folder {self.shown} does not exist",
                where=where,
                hint="Create it or change path: in the home's file.",
            )
