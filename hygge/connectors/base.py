"""What every connector is: a settings model, declared capabilities, and a Home and/or a Store."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from hygge.errors import FlowError

if TYPE_CHECKING:
    import polars as pl

Mode = Literal["replace", "append", "merge"]
SchemaPolicy = Literal["fail", "append_new_columns", "ignore"]
# The rows of a home's frame as eager frames of bounded size, in order (see Home.read_with_pieces).
Pieces = Callable[[], Generator["pl.DataFrame", None, None]]


class ConnectorSettings(BaseModel):
    """Base of every connector's settings; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do, checked by the resolver instead of class types."""

    home: bool = True
    store: bool = True
    modes: frozenset[str] = frozenset({"replace", "append", "merge"})
    query: bool = False  # the home accepts `query:` (SQL)
    merge_needs_unique_key: bool = False
    incremental: bool = False  # the store can report a target's watermark (Store.max_value)


@dataclass(frozen=True)
class Incremental:
    """Read only rows whose `cursor` is past `after` (None: everything, first run)."""

    cursor: str
    after: Any = None
    lag: Any = None
    nulls: Literal["fail", "include", "exclude"] = "fail"


@dataclass(frozen=True)
class ReadRequest:
    flow: str
    source: str
    query: str | None = None
    batch_size: int = 100_000
    incremental: Incremental | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class WriteRequest:
    flow: str
    target: str
    mode: Mode = "replace"
    key: tuple[str, ...] = ()
    allow_empty: bool = False
    on_schema_change: SchemaPolicy = "append_new_columns"
    batch_size: int = 100_000
    cancel: threading.Event = field(default_factory=threading.Event)
    # Called with the written row count inside the commit, so state can move with the data.
    on_commit: Callable[[int], None] | None = None
    # The same rows as the frame, in pieces a store that writes batch by batch may pull one at a time instead.
    pieces: Pieces | None = None
    # A merge flow rebuilt by replace (--full-refresh): rows sharing a key keep the last, as merging into an empty
    # target would. A plain replace keeps every row, and a database store refuses rows its key cannot hold.
    last_per_key: bool = False


@dataclass(frozen=True)
class WriteResult:
    rows: int


class Cancelled(FlowError):
    """The run was interrupted before this flow committed; its target is untouched."""


def check_cancel(request: WriteRequest) -> None:
    if request.cancel.is_set():
        raise Cancelled(f"interrupted before writing target '{request.target}'; it is unchanged")


def stop_if_cancelled(cancel: threading.Event | None) -> None:
    """Between two batches of a read or a write: a stopped run (Ctrl-C, --fail-fast) stops here rather than
    after reading the whole source, and the write rolls back."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("interrupted while moving data; the target is unchanged")


def null_key_error(column: str, count: int | None) -> FlowError:
    """A merge key that is null identifies no row: in a database it matches none (so the row is added again on
    every merge), in a file it matches every other null (so those rows collapse into one). Either way, refused."""
    rows = f"{count} row(s)" if count is not None else "some rows"
    return FlowError(
        f"the key column '{column}' is null in {rows} of this run; a null key cannot identify a row",
        hint="The target is unchanged. Filter out or fill the null keys in the source (a query), or choose key "
        "columns that always hold a value.",
    )


class Endpoint:
    """What homes and stores share: a name, validated settings, the project root for relative paths."""

    def __init__(self, name: str, settings: Any, root: Path) -> None:
        self.name = name
        self.settings = settings
        self.root = root

    def check(self) -> None:
        """Open the underlying place and fail with a HyggeError if it cannot be reached."""

    def close(self) -> None:
        """Release connections; called once the run is done with this endpoint."""


class Home(Endpoint, ABC):
    """Where data comes from."""

    @abstractmethod
    def read(self, request: ReadRequest) -> pl.LazyFrame:
        """A lazy frame of the source; nothing is read until it is collected or sunk."""

    def read_with_pieces(self, request: ReadRequest) -> tuple[pl.LazyFrame, Pieces | None]:
        """`read(request)`, and the same rows as eager frames pulled one at a time (None: cannot be split).

        A database store writes batch by batch at its own pace. Polars' streaming engine, asked for batches, decodes
        hundreds of MB ahead of such a slow consumer, so a home that can cut its source into pieces (Parquet row
        groups, a database's batches) offers them here, and memory stays at a few pieces. Concatenated, the pieces
        hold exactly the rows of the frame, with its schema, in its order.
        """
        return self.read(request), None

    @abstractmethod
    def location(self, source: str) -> str:
        """An identity of what reading `source` touches, matched against stores' locations."""

    def watch_paths(self, source: str) -> list[Path]:
        """Files or folders whose change means the source changed (file homes only)."""
        return []


class Store(Endpoint, ABC):
    """Where data lands."""

    @abstractmethod
    def write(self, frame: pl.LazyFrame, request: WriteRequest) -> WriteResult:
        """Write the frame with the request's mode, atomically: on any failure the target is unchanged."""

    @abstractmethod
    def location(self, target: str) -> str:
        """The identity of the written target, as a home reading it would report it."""

    def globbed_locations(self, target: str) -> list[str]:
        """What a home's glob must match to read the target (dependency inference): its location, and where a
        store writes a target as several files, the location of one such file."""
        return [self.location(target)]

    def max_value(self, target: str, column: str) -> Any:
        """The largest `column` value the target holds (None when it is missing or empty): the watermark.

        Taken from the target itself, so it always moves together with the data it covers.
        """
        raise FlowError(f"store '{self.name}' cannot keep incremental targets", where=f"store {self.name}")

    def output_paths(self, target: str) -> list[Path]:
        """Files or folders this store writes for `target` (so watch mode can ignore them)."""
        return []


class Connector:
    """A registered connector type: subclasses set the class attributes, nothing else."""

    type_name: ClassVar[str]
    settings_model: ClassVar[type[ConnectorSettings]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    home_class: ClassVar[type[Home] | None] = None
    store_class: ClassVar[type[Store] | None] = None
    # Settings `hygge new home/store NAME --type T` and `hygge init` write; values may use ${VAR}, and {name}
    # becomes the home's or store's name (data/{name}: two of one type never share a place). `hygge init`
    # offers the types whose settings need no variable without a default: they work out of the box.
    template_settings: ClassVar[dict[str, Any]] = {}

    @classmethod
    def home(cls, name: str, settings: ConnectorSettings, root: Path) -> Home:
        if cls.home_class is None:
            raise TypeError(f"connector {cls.type_name} cannot be a home")
        return cls.home_class(name, settings, root)

    @classmethod
    def store(cls, name: str, settings: ConnectorSettings, root: Path) -> Store:
        if cls.store_class is None:
            raise TypeError(f"connector {cls.type_name} cannot be a store")
        return cls.store_class(name, settings, root)
