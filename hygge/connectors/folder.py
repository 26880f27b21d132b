"""Where a file home or store keeps its datasets: a local folder (localfolder.py) or an S3 prefix (s3folder.py).

Dataset `orders` in a folder is either the single file `orders.<ext>` (written by replace and merge) or the folder
`orders/` of part files (written by append). Names starting with `.` or `_` are never data: temp files, a folder
set aside during a replace, a pending commit, and tool metadata such as `_SUCCESS` live under such names.

The formats (csv, ndjson, parquet) and the home and store logic (files.py) see only these interfaces; how a
write becomes visible at once (renames locally, a commit record on S3) is each folder's own.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hygge.errors import FlowError

GLOB_CHARS = frozenset("*?[")
# Staging files of a killed run are harmless (hidden); only ones this old are removed, so a store never deletes
# the staging file of a write still running in another process.
STALE_TEMP_AGE = timedelta(minutes=15)


def is_glob(text: str) -> bool:
    return any(char in GLOB_CHARS for char in text)


def is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")


def part_name(moment: datetime, extension: str, tag: str | None = None) -> str:
    """The name of an appended part: its UTC time first, so parts sort oldest first."""
    return f"part-{utc_stamp(moment)}-{tag or uuid.uuid4().hex[:8]}.{extension}"


def glob_match(pattern: str, name: str) -> bool:
    """Whether `name` (relative to the pattern's folder) matches `pattern` as Path.glob reads it: `*`, `?` and
    `[...]` stay within one path segment, and a `**` segment matches any number of them."""

    def match(wanted: list[str], parts: list[str]) -> bool:
        if not wanted:
            return not parts
        if wanted[0] == "**":
            return any(match(wanted[1:], parts[i:]) for i in range(len(parts) + 1))
        return bool(parts) and fnmatchcase(parts[0], wanted[0]) and match(wanted[1:], parts[1:])

    return match(pattern.split("/"), name.split("/"))


class DataFile(ABC):
    """One file of a dataset, as Polars opens it."""

    shown: str  # as messages show it: a path relative to the project, or a URL

    @property
    @abstractmethod
    def source(self) -> str | Path:
        """What Polars' scan_* and sink_* take."""

    @property
    def name(self) -> str:
        return str(self.source).rsplit("/", 1)[-1]

    @property
    def path(self) -> Path | None:
        """The local file, or None for an object in a store."""
        return None

    @property
    def storage_options(self) -> dict[str, Any] | None:
        """Polars' options for reaching it (credentials, endpoint), or None for a local file."""
        return None

    @abstractmethod
    def size(self) -> int:
        """Its size in bytes."""


class Dataset(ABC):
    """Dataset `name` of one format in a folder: the file `<name>.<ext>`, or the folder `<name>/` of parts."""

    name: str
    extension: str

    @property
    @abstractmethod
    def shown_file(self) -> str:
        """The single file, as messages show it."""

    @property
    @abstractmethod
    def shown_folder(self) -> str:
        """The folder of parts, as messages show it (without a trailing '/')."""

    @abstractmethod
    def single_file(self) -> DataFile | None:
        """The single file `<name>.<ext>`, when it exists."""

    @abstractmethod
    def files(self, *, where: str) -> list[DataFile]:
        """The data files now, or [] when there are none; both a file and a folder of parts is an error."""

    def has_data(self, *, where: str) -> bool:
        return bool(self.files(where=where))

    @abstractmethod
    def folder_exists(self) -> bool:
        """Whether the folder of parts exists (it may hold no data file)."""

    def interrupted_hint(self) -> str | None:
        """Why the dataset may be missing because of an interrupted write, for a home's error; None if not."""
        return None

    @abstractmethod
    def location(self) -> str:
        """The identity of the single file, compared by dependency inference."""

    @abstractmethod
    def part_location(self) -> str:
        """The identity of one part (any part stands for them all), for a reader's glob."""

    def output_paths(self) -> list[Path]:
        """Local files or folders a write touches (watch mode ignores them)."""
        return []

    def watch_paths(self) -> list[Path]:
        """Local files or folders whose change means the dataset changed."""
        return []

    # writing

    @abstractmethod
    def inside(self, folder: Folder) -> bool:
        """Whether the dataset lies inside `folder` (a target named `../x` does not)."""

    def prepare(self) -> None:
        """Make what a write needs before it starts (local: the parent folder)."""
        return

    @abstractmethod
    def recover(self) -> None:
        """Finish or undo a write a killed run left half done, and remove stale staging files."""

    @abstractmethod
    def staging(self) -> AbstractContextManager[DataFile]:
        """A hidden temp file for one write, removed with whatever is left of it when the context ends."""

    @abstractmethod
    def commit_replace(self, temp: DataFile) -> Callable[[], None]:
        """Make `temp` the dataset's one file at once: readers see the old rows or the new, never both. Returns
        what removes the garbage once the commit is past (a kill before it leaves garbage the next write removes)."""

    @abstractmethod
    def commit_append(self, temp: DataFile) -> Callable[[], None]:
        """Add `temp` as a new part at once (the single file, if any, becomes the first part); returns as
        commit_replace does."""


class Folder(ABC):
    """The folder of a file home or store (`path:`), holding one dataset per name."""

    shown: str  # as messages show it

    @abstractmethod
    def dataset(self, name: str, extension: str) -> Dataset:
        """Dataset `name` (without its extension)."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether the folder is there (for a bucket: reachable)."""

    @abstractmethod
    def glob(self, pattern: str, extension: str) -> tuple[list[DataFile], str]:
        """The data files `pattern` matches (hidden names skipped), sorted, and the pattern as messages show it."""

    @abstractmethod
    def glob_location(self, pattern: str) -> str:
        """The identity of what `pattern` reads, matched (as a glob) against stores' locations."""

    def glob_watch_paths(self, pattern: str) -> list[Path]:
        """Local folders whose changes may change what `pattern` reads."""
        return []

    @abstractmethod
    def available(self, extension: str) -> list[str]:
        """The names of the datasets there, for a did-you-mean."""

    @abstractmethod
    def check(self, where: str, *, store: bool) -> None:
        """Fail with a FlowError where the folder cannot be used (missing, a file, unreachable)."""


def both_error(dataset: Dataset, where: str) -> FlowError:
    return FlowError(
        f"both {dataset.shown_file} and the folder {dataset.shown_folder}/ hold data",
        where=where,
        hint=f"Name one: '{dataset.name}.{dataset.extension}' for the file or "
        f"'{dataset.name}/*.{dataset.extension}' for the folder, or remove the other.",
    )


def open_folder(path: str, root: Path, s3: Any = None) -> Folder:
    """The folder `path:` names: `s3://bucket/prefix` (with the settings' `s3:` options), or a local folder
    relative to the project `root`."""
    if path.startswith("s3://"):
        from hygge.connectors.s3folder import S3Folder

        return S3Folder.open(path, s3)
    from hygge.connectors.localfolder import LocalFolder

    return LocalFolder(root / Path(path).expanduser(), root)
