"""Dialects: what one database is, and how its SQL and types differ from the others'.

A `Database` says how to reach one database and how names and types are spelt there; each connector type
subclasses it (`FileDatabase` for one in a local file) and overrides what differs. It also decides how a table
is read: the SELECT, a window pushed down, a large table in `Parts` at once. `Column` is a column as the database
declares it and as hygge reads it; `as_type`, `inner_type`, `is_nested` and `time_step` look into Polars types
for the dialects and for writing.
"""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import field_validator

from hygge.connectors.base import ConnectorSettings
from hygge.connectors.sqlnames import TableName, quote, split_name
from hygge.connectors.sqlsession import Session
from hygge.errors import FlowError
from hygge.lazy import pl
from hygge.prefetch import merged, prefetched
from hygge.schema import type_label

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Column",
    "Database",
    "FileDatabase",
    "FileDatabaseSettings",
    "PARALLEL_READS",
    "Parts",
    "STRAY_COLUMN",
    "as_type",
    "inner_type",
    "is_nested",
    "range_conditions",
    "stray_mark_sql",
    "time_step",
]

# The column a read adds to name a value its column's type cannot hold (Database.stray_sql); NULL on other rows.
STRAY_COLUMN = "_hygge_stray"
# Connections a large table is read over at once (Database.parts): one per core of the machines hygge is measured on.
PARALLEL_READS = 2


def range_conditions(low: int, high: int, bound: Callable[[str, int], str]) -> list[str]:
    """PARALLEL_READS WHERE conditions splitting `low`..`high` evenly, the first and last open-ended, so together
    they take every row once; `bound(">=" or "<", cut)` spells one bound."""
    cuts = [low + (high - low) * i // PARALLEL_READS for i in range(1, PARALLEL_READS)]
    conditions = []
    for i in range(PARALLEL_READS):
        bounds = [bound(">=", cuts[i - 1])] if i > 0 else []
        if i < len(cuts):
            bounds.append(bound("<", cuts[i]))
        conditions.append(" AND ".join(bounds))
    return conditions


@dataclass(frozen=True)
class Parts:
    """A table read in parts at once, each on a connection of its own, together exactly the rows one read sees."""

    conditions: list[str]  # WHERE conditions on the table: each row meets exactly one
    join: Callable[[Session], None]  # puts a new part's session in the snapshot the parts share
    joined: Callable[[], None] = lambda: None  # every part has joined


@dataclass(frozen=True)
class Column:
    """A column as the database declares it and as hygge reads it.

    `read_as_text`: the driver cannot hand this type to Polars, so it is selected as text and parsed.
    `write_as_text`: the driver cannot write this type, so rows pass a staging table and a CAST.
    `read_as`: the SQL type the column is cast to when read, where the driver would hand over parts of it wrongly
    (DuckDB's UHUGEINT inside a list); the database's cast fails on a value that type cannot hold.
    """

    name: str
    declared: str
    dtype: pl.DataType
    read_as_text: bool = False
    write_as_text: bool = False
    read_as: str = ""


class Database(ABC):
    """One database a home or store talks to: how to connect, and how names and types are spelt there."""

    type_name: ClassVar[str]
    default_schema: ClassVar[str]
    temp_schema: ClassVar[str] = "temp"
    # SQLite and DuckDB treat `Orders` and `orders` as one table even when quoted; PostgreSQL does not.
    folds_case: ClassVar[bool] = True
    begin_sql: ClassVar[str] = "BEGIN"
    check_sql: ClassVar[str] = "SELECT 1"
    max_name_bytes: ClassVar[int | None] = None

    def __init__(self, settings: Any, root: Path) -> None:
        self.settings = settings
        self.root = root

    # reaching it

    @abstractmethod
    def connect(self, *, create: bool) -> Session:
        """Open a session; with `create=False` a database that does not exist is an error, not created."""

    @abstractmethod
    def identity(self) -> str:
        """What names this database in locations, such as `sqlite:/abs/shop.sqlite`; never a password."""

    @abstractmethod
    def shown(self) -> str:
        """How messages name this database."""

    def exists(self) -> bool:
        """Whether there is a database to connect to without creating one."""
        return True

    def files(self) -> list[Path]:
        """The local files holding the database (none for a server), for watch mode."""
        return []

    def check(self, *, create: bool) -> None:
        """Open the database and run a trivial query."""
        with self.connect(create=False) as session:
            session.rows(self.check_sql)

    # names

    def table(self, text: str) -> TableName:
        """The table a `source:` or `target:` names: `orders`, `shop.orders`, `"odd.name"`."""
        try:
            parts = split_name(text.strip())
        except ValueError as exc:
            raise FlowError(f"'{text}' is not a table name: {exc}") from exc
        if len(parts) > 2 or not all(parts):
            raise FlowError(
                f"'{text}' is not a table name",
                hint='Write table or schema.table; quote a name that holds a dot: "my.table".',
            )
        table = TableName(self.default_schema, parts[0]) if len(parts) == 1 else TableName(*parts)
        for part in (table.schema, table.name):
            quote(part)
            if self.max_name_bytes is not None and len(part.encode()) > self.max_name_bytes:
                raise FlowError(f"the name '{part}' is longer than {self.type_name}'s {self.max_name_bytes} bytes")
        return table

    def location(self, text: str) -> str:
        """Where reading or writing `text` happens: equal for a home and a store on one table."""
        try:
            table = self.table(text)
        except FlowError:
            return f"{self.identity()}/{text}"
        return f"{self.identity()}/{TableName(self.fold(table.schema), self.fold(table.name)).sql}"

    def fold(self, name: str) -> str:
        return name.casefold() if self.folds_case else name

    # types

    @abstractmethod
    def ddl_type(self, dtype: pl.DataType) -> str:
        """The column type a new table gets for `dtype` (already through `stored_type`)."""

    def declared_column(self, name: str, declared: str) -> Column:
        """A column the database declares as `declared`, with the Polars type hygge reads it as."""
        raise NotImplementedError(f"{self.type_name} reads its columns' types from the database")

    def new_column(self, name: str, dtype: pl.DataType) -> Column:
        """The column hygge creates for incoming data of type `dtype`; its `dtype` is what the data is cast to.

        Reading the declared type back gives the column's type, so what is written is what a read returns.
        """
        return self.declared_column(name, self.ddl_type(self.stored_type(dtype)))

    def stored_type(self, dtype: pl.DataType) -> pl.DataType:
        """`dtype` with what no database here keeps told apart removed; raises for what none can hold."""
        if isinstance(dtype, pl.Categorical | pl.Enum) or dtype == pl.Null:
            return pl.String()
        if dtype == pl.Float16:
            return pl.Float32()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone not in (None, "UTC"):
            return pl.Datetime(dtype.time_unit, "UTC")  # zones are stored as instants
        if isinstance(dtype, pl.Duration | pl.Object) or dtype in (pl.Int128, pl.UInt128):
            raise FlowError(f"{self.type_name} stores cannot hold {type_label(dtype)} columns")
        if isinstance(dtype, pl.List | pl.Array):
            return pl.List(self.stored_type(inner_type(dtype)))
        if isinstance(dtype, pl.Struct):
            return pl.Struct({f.name: self.stored_type(as_type(f.dtype)) for f in dtype.fields})
        return dtype

    def kept_step(self, dtype: pl.DataType) -> int | None:
        """The finest step, in nanoseconds, that a column of stored type `dtype` keeps; None for no time type."""
        return time_step(dtype)

    def wire(self, name: str, dtype: pl.DataType) -> pl.Expr:
        """Column `name` (of stored type `dtype`) as the driver takes it."""
        return pl.col(name)

    # the catalog

    @abstractmethod
    def columns(self, session: Session, table: TableName) -> list[Column] | None:
        """The table's (or view's) columns in order, or None when there is no such table."""

    @abstractmethod
    def unique_keys(self, session: Session, table: TableName) -> list[frozenset[str]]:
        """The column sets of the table's primary key and unique indexes (what ON CONFLICT can use)."""

    @abstractmethod
    def tables(self, session: Session, schema: str) -> list[str]:
        """Names of the tables and views in `schema`, for hints."""

    def ensure_schema(self, session: Session, schema: str) -> None:
        session.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")

    def unique_index_sql(self, table: TableName, key: Sequence[str]) -> str:
        """The statement that lets merge upsert into `table` by `key`."""
        index = quote(f"{table.name}_{'_'.join(key)}_key")
        return f"CREATE UNIQUE INDEX {index} ON {table.sql} ({', '.join(quote(k) for k in key)})"

    def query_columns(self, session: Session, query: str) -> list[Column]:
        """The columns a SELECT returns, as declared through a temporary view that a rollback removes."""
        view = TableName(self.temp_schema, f"_hygge_query_{uuid.uuid4().hex[:12]}")
        session.execute("BEGIN")
        try:
            session.execute(f"CREATE TEMPORARY VIEW {quote(view.name)} AS {query}")
            return self.columns(session, view) or []
        finally:
            session.execute("ROLLBACK")

    # reading

    def readable(self, session: Session, relation: str, columns: list[Column]) -> list[Column]:
        """The columns as reading `relation` returns them (SQLite types here what it could not declare)."""
        return columns

    def select_column(self, column: Column) -> str:
        if column.read_as_text or column.read_as:
            return f"CAST({quote(column.name)} AS {column.read_as or 'TEXT'}) AS {quote(column.name)}"
        return quote(column.name)

    # What a stray value's error suggests (see stray_sql).
    stray_hint: ClassVar[str] = "Correct the value in the source, or read it through a query that converts it."

    def stray_sql(self, column: Column) -> tuple[str, str] | None:
        """For a column whose driver would wrap or garble a value its Polars type cannot hold: SQL true for such
        a value, and SQL text naming it. The database checks it in the same query (no second scan), and
        finish_batch raises the first one found; None (nearly every column) costs nothing."""
        return None

    def select_sql(self, relation: str, columns: Sequence[Column], limit: int | None) -> str:
        listed = [self.select_column(c) for c in columns]
        if strays := [stray for c in columns if (stray := self.stray_sql(c)) is not None]:
            listed.append(f"{stray_mark_sql(strays)} AS {quote(STRAY_COLUMN)}")
        return f"SELECT {', '.join(listed)} FROM {relation}" + (f" LIMIT {int(limit)}" if limit is not None else "")

    placeholder = "?"  # the first query parameter, in the driver's style
    # Cursor types whose SQL comparison orders exactly as Polars does, so a WHERE in the query can only narrow
    # what the Polars filter keeps anyway (text is left out where a collation could order it differently).
    pushdown_text = True
    pushdown_temporal = True
    # The collation that orders text by its bytes, as Polars orders strings (UTF-8 bytes = code points), or None.
    binary_collation: ClassVar[str | None] = None

    def ordered(self, column: Column) -> str | None:
        """`column` in SQL, ordered as Polars orders its values; None for text SQL cannot order so.

        A column declared with a collation (NOCASE, a locale) orders 'a' after 'B' where Polars orders it before:
        a watermark taken with max() under it, or a window pushed into the query, would disagree with the Polars
        filter, and rows would be read twice or never. So text is compared under the binary collation.
        """
        if column.dtype != pl.String:
            return quote(column.name)
        if self.binary_collation is None or column.write_as_text:
            return None  # not text in the database (json, uuid, ...): no collation applies
        return f"{quote(column.name)} COLLATE {self.binary_collation}"

    def watermark_rows(self, table: TableName, column: Column) -> str:
        """A query whose rows hold the largest `column` value of `table` as Polars orders it (Polars takes the
        max of them): the target's watermark. Here SQL's max(), in the order `ordered` gives."""
        name = quote(column.name)
        return f"SELECT max({self.ordered(column) or name}) AS {name} FROM {table.sql}"

    def before_upsert(self, session: Session, table: TableName, staged: int) -> None:
        """Called before `staged` rows are upserted into `table` (ON CONFLICT), in the write's transaction."""
        return  # most databases need nothing here

    def pushdown(self, column: Column, value: Any) -> Any | None:
        """`value` as a parameter comparable with `column` in SQL, or None to filter in Polars only."""
        dtype = column.dtype
        if value is None or column.read_as_text or column.write_as_text:
            return None
        if dtype.is_numeric() and isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if dtype.is_temporal() and self.pushdown_temporal and not isinstance(dtype, pl.Duration | pl.Time):
            return value
        if isinstance(dtype, pl.String) and self.pushdown_text and isinstance(value, str):
            return value
        return None

    def parts(self, session: Session, table: TableName) -> Parts | None:
        """How to read all of `table` in parts at once, or None to read it in one query. May begin a
        transaction on `session`, which stays open until the parts are read."""
        return None

    def stream(
        self,
        select: Callable[[str], str],
        relation: str,
        batch_size: int,
        params: Sequence[Any],
        table: TableName | None,
    ) -> Generator[pa.RecordBatch, None, None]:
        """The batches of `select(relation)`, read ahead on threads; `table` when `relation` is all of that table,
        which may then be read in parts on connections of their own, all seeing the rows one query would."""
        with self.connect(create=False) as session:
            parts = self.parts(session, table) if table is not None else None
            if table is None or parts is None:
                yield from prefetched(self.checked(session.batches(select(relation), batch_size, params)))
                return
            with ExitStack() as opened:
                readers = []
                for condition in parts.conditions:
                    part = opened.enter_context(self.connect(create=False))
                    parts.join(part)
                    where = f"(SELECT * FROM {table.sql} WHERE {condition}) AS {quote('_hygge_part')}"
                    readers.append(self.checked(part.batches(select(where), batch_size)))
                parts.joined()
                yield from merged(readers)

    def finish_batch(self, frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
        """A batch of `columns` as the driver returned it, before they are converted (SQLite drops a row and
        checks values here)."""
        if STRAY_COLUMN not in frame.columns:
            return frame
        marks = frame[STRAY_COLUMN]
        if marks.null_count() < frame.height:
            raise FlowError(str(marks.drop_nulls()[0]), hint=self.stray_hint)
        return frame.drop(STRAY_COLUMN)

    def checked(self, batches: Generator[pa.RecordBatch, None, None]) -> Generator[pa.RecordBatch, None, None]:
        """The driver's batches, checked where the driver does not (SQLite's text): this runs on the threads that
        read ahead, beside the database, rather than on the one that converts and writes."""
        return batches


def stray_mark_sql(strays: Sequence[tuple[str, str]]) -> str:
    """SQL naming a row's first stray value, or NULL: `strays` pairs a condition with the SQL text naming it."""
    return "CASE" + "".join(f" WHEN {condition} THEN {named}" for condition, named in strays) + " END"


def as_type(dtype: Any) -> pl.DataType:
    """Nested types may hold a class (`pl.Int64`) where an instance is meant."""
    return dtype() if isinstance(dtype, type) else dtype


def inner_type(dtype: pl.List | pl.Array) -> pl.DataType:
    return as_type(dtype.inner)


def is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List | pl.Array | pl.Struct)


_UNIT_NS = {"ms": 1_000_000, "us": 1_000, "ns": 1}


def time_step(dtype: pl.DataType) -> int | None:
    """The step, in nanoseconds, of a time or timestamp type's values (Polars' Time is in nanoseconds); None for
    other types."""
    if isinstance(dtype, pl.Datetime):
        return _UNIT_NS[dtype.time_unit]
    return 1 if dtype == pl.Time else None


class FileDatabaseSettings(ConnectorSettings):
    """An embedded database in one file."""

    path: str  # relative to the project folder

    @field_validator("path")
    @classmethod
    def _local_file(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("path must name the database file, such as data/shop.sqlite")
        if "://" in value:
            raise ValueError(f"'{value}' is a remote location; path names a local database file")
        return value


class FileDatabase(Database):
    """A database in one local file (SQLite, DuckDB): a home needs it to exist, a store creates it."""

    settings: FileDatabaseSettings
    # Files the database keeps beside its own while it writes, such as a write-ahead log.
    side_suffixes: ClassVar[tuple[str, ...]] = ()

    @property
    def path(self) -> Path:
        return (self.root / Path(self.settings.path).expanduser()).resolve()

    def files(self) -> list[Path]:
        return [self.path, *(self.path.with_name(self.path.name + s) for s in self.side_suffixes)]

    def identity(self) -> str:
        return f"{self.type_name}:{self.path.as_posix()}"

    def shown(self) -> str:
        try:
            return self.path.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return self.path.as_posix()

    def exists(self) -> bool:
        return self.path.is_file()

    def require(self, *, create: bool) -> None:
        """Fail unless the file exists, or make its folder when creating."""
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self.path.is_dir():
            raise FlowError(
                f"{self.shown()} is a folder, not a database file",
                hint=f"Set path: in the home's file to the database file itself, such as {self.shown()}/shop.sqlite.",
            )
        elif not self.path.is_file():
            raise FlowError(
                f"the database file {self.shown()} does not exist",
                hint="Check path: in the home's file, or run the flow that writes it first.",
            )

    def check(self, *, create: bool) -> None:
        if self.path.exists() or not create:
            super().check(create=False)
            return
        # A store that has not written yet: the file will be created, so its folder must be writable.
        folder = next(p for p in self.path.parents if p.exists())
        if not (folder.is_dir() and os.access(folder, os.W_OK)):
            raise FlowError(f"cannot create {self.shown()}: {folder.as_posix()} is not a writable folder")
