"""The duckdb connector: tables of a DuckDB file as a home and a store, through DuckDB's own Arrow interface.

DuckDB's Arrow types match Polars' one to one, so column types are read from the Arrow schema of a query
rather than parsed from type names, and rows are inserted straight from an Arrow stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from hygge.connectors.infinity import Infinities
from hygge.connectors.sql import SqlConnector
from hygge.connectors.sqldatabase import Column, FileDatabase, FileDatabaseSettings, as_type, inner_type
from hygge.connectors.sqlnames import TableName, quote, sql_literal
from hygge.connectors.sqlsession import DatabaseError, Session, driver_error, import_driver
from hygge.errors import FlowError
from hygge.lazy import pl
from hygge.schema import type_label

if TYPE_CHECKING:
    import pyarrow as pa

MAX_PRECISION = 38
# DuckDB keeps 'infinity' and '-infinity' dates and timestamps as the largest and smallest number but one (in days,
# or in ticks of the column's unit), and hands them to Arrow as they are: read as they are, they are dates in the
# year 5881580 or 294247.
INFINITIES = Infinities(
    ranges={"date": (-(2**31) + 2, 2**31 - 2), "timestamp": (-(2**63) + 2, 2**63 - 2)},
    names={2**31 - 1: "infinity", -(2**31) + 1: "-infinity", 2**63 - 1: "infinity", -(2**63) + 1: "-infinity"},
    beyond="a date past the years DuckDB holds",
    list_fix="list_transform({name}, lambda x: CASE WHEN isfinite(x) THEN x END)",
)
CONVERSION_HINT = (
    "A value does not fit the type it is read as. Read the column through a query that casts it: "
    "CAST(col AS VARCHAR) keeps every digit as text."
)
# DuckDB types whose Arrow form is bytes (a bit string, a big integer) or drops part of the value (a time's
# offset): read as the text DuckDB prints for them, such as '0101'.
_AS_TEXT = frozenset({"bit", "bignum", "varint", "time with time zone"})
_TIMESTAMPS = {"ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}


@cache
def _scalars() -> dict[pl.DataType, str]:
    return {
        pl.Boolean(): "BOOLEAN",
        pl.Int8(): "TINYINT",
        pl.Int16(): "SMALLINT",
        pl.Int32(): "INTEGER",
        pl.Int64(): "BIGINT",
        pl.UInt8(): "UTINYINT",
        pl.UInt16(): "USMALLINT",
        pl.UInt32(): "UINTEGER",
        pl.UInt64(): "UBIGINT",
        pl.Float32(): "FLOAT",
        pl.Float64(): "DOUBLE",
        pl.String(): "VARCHAR",
        pl.Binary(): "BLOB",
        pl.Date(): "DATE",
        pl.Time(): "TIME_NS",
    }


READ_MEMORY_LIMIT = "32MB"
WRITE_MEMORY_LIMIT = "64MB"
# What a row of a key's ART index takes, with room: an upsert holds the index (and ON CONFLICT its lookups) in
# memory, which DuckDB cannot spill, so a limit below it fails where a plain load would spill. Measured with a
# BIGINT key: 1M rows merged into an empty table fail at 64MB, 10M pass at 200MB (about 14 bytes a row beyond it).
KEY_INDEX_BYTES_PER_ROW = 48


class DuckdbSettings(FileDatabaseSettings):
    """A DuckDB database file."""

    # DuckDB would take 80% of the machine's memory for a large load, and keeps the blocks it reads cached up to
    # its limit; a small cap makes it spill to disk and drop read blocks instead, so a move's memory stays bounded.
    # Unset, reading takes READ_MEMORY_LIMIT and writing WRITE_MEMORY_LIMIT. Measured at 10M rows (bench/): a
    # 10M-row read 782 MB at 512MB, 382 MB at 128MB, 259 MB at 32MB, each as fast; a load 1.1 GB at 512MB, 0.79 GB
    # at 128MB, but 40% slower at 32MB. Loading in pieces (feed.Shaped) later: 583-608 MB at 128MB, 526-543 MB at
    # 64MB, about 6% slower. Queries that aggregate or join much more than that spill to disk: raise it
    # for those.
    memory_limit: str | None = None


class DuckdbSession(Session):
    """A session over a DuckDB connection."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @staticmethod
    @contextmanager
    def errors() -> Iterator[None]:
        import duckdb

        try:
            yield
        except (duckdb.IOException, duckdb.TransactionException) as exc:
            raise driver_error(exc, retryable=True) from exc  # a lock held by another process, a write conflict
        except duckdb.Error as exc:
            raise driver_error(exc, retryable=False) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.errors():
            self.connection.execute(sql, list(params) or None)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.errors():
            return list(self.connection.execute(sql, list(params) or None).fetchall())

    def batches(self, sql: str, batch_size: int, params: Sequence[Any] = ()) -> Generator[pa.RecordBatch, None, None]:
        import duckdb

        try:
            with self.errors():
                relation = self.connection.sql(sql, params=list(params)) if params else self.connection.sql(sql)
                yield from relation.to_arrow_reader(batch_size)
        except DatabaseError as exc:
            if not isinstance(exc.__cause__, duckdb.ConversionException):
                raise
            # A value does not fit the type it is read as: a query's cast, or one hygge adds (Column.read_as).
            raise DatabaseError(exc.message, hint=CONVERSION_HINT) from exc

    def described(self, sql: str) -> tuple[pa.Schema, list[Any]]:
        """The Arrow schema of a query's rows, and DuckDB's own type of each column (a DuckDBPyType)."""
        with self.errors():
            relation = self.connection.sql(sql).limit(0)
            return relation.to_arrow_table().schema, list(relation.types)

    def ingest(self, table: TableName, reader: pa.RecordBatchReader) -> None:
        import duckdb

        name = f"_hygge_batches_{uuid.uuid4().hex[:12]}"
        with self.errors():
            self.connection.register(name, reader)
            try:
                self.connection.execute(f"INSERT INTO {table.sql} BY NAME SELECT * FROM {quote(name)}")
            finally:
                with suppress(duckdb.Error):  # fails in an aborted transaction, which must not hide why
                    self.connection.unregister(name)

    def close(self) -> None:
        with self.errors():
            self.connection.close()


class DuckdbDatabase(FileDatabase):
    type_name = "duckdb"
    default_schema = "main"
    side_suffixes = (".wal",)
    binary_collation = '"binary"'  # quoted: BINARY is a keyword of DuckDB's parser
    settings: DuckdbSettings

    def connect(self, *, create: bool) -> DuckdbSession:
        duckdb = import_driver("duckdb", "duckdb", "duckdb")
        self.require(create=create)
        # Every connection to the file in this process shares one database instance, so homes and stores
        # of one run can use it at once (another process holding it is a retryable lock error).
        with DuckdbSession.errors():
            connection = duckdb.connect(str(self.path))
            settings = self.settings
            assert isinstance(settings, DuckdbSettings)
            limit = settings.memory_limit or (WRITE_MEMORY_LIMIT if create else READ_MEMORY_LIMIT)
            connection.execute("SET memory_limit = ?", [limit])
            # Rows of a table have no order in SQL, and hygge's merge orders by its own row number, so DuckDB may
            # load batches in parallel out of order: faster and lighter.
            connection.execute("SET preserve_insertion_order = false")
            return DuckdbSession(connection)

    def before_upsert(self, session: Session, table: TableName, staged: int) -> None:
        """Unless memory_limit is set, raise the limit by what the key's index takes for the rows the table will
        hold at most: the index cannot spill, everything else still spills beyond WRITE_MEMORY_LIMIT."""
        if self.settings.memory_limit is not None:
            return
        held = session.rows(f"SELECT count(*) FROM {table.sql}")[0][0]
        extra = (held + staged) * KEY_INDEX_BYTES_PER_ROW // 1_000_000
        session.execute(f"SET memory_limit = '{int(WRITE_MEMORY_LIMIT.removesuffix('MB')) + extra}MB'")

    def ordered(self, column: Column) -> str | None:
        if column.read_as_text:
            return None  # a type Polars cannot take (an interval, ...), read as text: DuckDB's order is its own
        return super().ordered(column)

    # types

    def stored_type(self, dtype: pl.DataType) -> pl.DataType:
        dtype = super().stored_type(dtype)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone and dtype.time_unit != "us":
            return pl.Datetime("us", "UTC")  # TIMESTAMPTZ holds microseconds
        if isinstance(dtype, pl.Decimal) and dtype.precision > MAX_PRECISION:
            raise FlowError(f"duckdb decimals hold at most {MAX_PRECISION} digits")
        return dtype

    def wire(self, name: str, dtype: pl.DataType) -> pl.Expr:
        # DuckDB would keep the largest Datetime(ns) (2262-04-11 23:47:16.854775807) as 'infinity'.
        checked = INFINITIES.refused(name, dtype, self.type_name)
        return pl.col(name) if checked is None else checked

    def ddl_type(self, dtype: pl.DataType) -> str:
        if (found := _scalars().get(dtype)) is not None:
            return found
        if isinstance(dtype, pl.Decimal):
            return f"DECIMAL({dtype.precision},{dtype.scale})"
        if isinstance(dtype, pl.Datetime):
            return "TIMESTAMPTZ" if dtype.time_zone else _TIMESTAMPS[dtype.time_unit]
        if isinstance(dtype, pl.List):
            return f"{self.ddl_type(inner_type(dtype))}[]"
        if isinstance(dtype, pl.Struct):
            fields = ", ".join(f"{quote(f.name)} {self.ddl_type(as_type(f.dtype))}" for f in dtype.fields)
            return f"STRUCT({fields})"
        raise FlowError(f"duckdb stores cannot hold {dtype} columns")

    def new_column(self, name: str, dtype: pl.DataType) -> Column:
        stored = self.stored_type(dtype)
        return Column(name, self.ddl_type(stored), stored)

    # the catalog

    def columns(self, session: Session, table: TableName) -> list[Column] | None:
        found = session.rows(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND lower(table_schema) = lower(?) AND lower(table_name) = lower(?) ORDER BY ordinal_position",
            [table.schema, table.name],
        )
        if not found:
            return None
        return self._typed(session, table.sql, dict(found))

    def query_columns(self, session: Session, query: str) -> list[Column]:
        return self._typed(session, f"({query})", {})

    def _typed(self, session: Session, relation: str, declared: dict[str, str]) -> list[Column]:
        """Columns typed by the Arrow schema DuckDB gives the relation; what Polars cannot take is read as text."""
        import pyarrow as pa

        assert isinstance(session, DuckdbSession)
        columns = []
        schema, types = session.described(f"SELECT * FROM {relation}")
        kinds = [t.id for t in types]
        # A nested column holding such types is read cast to one spelt with readable ones instead.
        recast = {f.name: spelt for f, t in zip(schema, types, strict=True) if (spelt := _nested_recast(t))}
        if recast:
            listed = ", ".join(
                f"CAST({quote(n)} AS {recast[n]}) AS {quote(n)}" if n in recast else quote(n) for n in schema.names
            )
            schema, _ = session.described(f"SELECT {listed} FROM {relation}")
        for f, kind in zip(schema, kinds, strict=True):
            try:
                if pa.types.is_interval(f.type):
                    raise TypeError("Polars has no interval type")  # and panics on one
                if kind in _AS_TEXT:
                    raise TypeError(f"DuckDB hands {kind} to Arrow as bytes Polars would keep as they are")
                dtype = pl.DataFrame(pa.schema([f]).empty_table()).schema[f.name]
            except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, ValueError):
                columns.append(Column(f.name, declared.get(f.name, ""), pl.String(), read_as_text=True))
                continue
            if isinstance(dtype, pl.Datetime) and dtype.time_zone:
                dtype = pl.Datetime(dtype.time_unit, "UTC")  # DuckDB names it Etc/UTC
            columns.append(Column(f.name, declared.get(f.name) or kind.upper(), dtype, read_as=recast.get(f.name, "")))
        return columns

    def finish_batch(self, frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
        INFINITIES.check(frame, columns)
        return super().finish_batch(frame, columns)

    stray_hint = (
        "Read the column through a query that casts it: CAST(col AS VARCHAR) keeps every digit as text "
        "(CAST(col AS DOUBLE) keeps about 16)."
    )

    def stray_sql(self, column: Column) -> tuple[str, str] | None:
        """HUGEINT and UHUGEINT reach Arrow as Decimal(38,0), as their 128 bits: a value of 39 digits does not
        fit it, and a UHUGEINT from 2^127 up wraps around to a negative one. DuckDB finds them in the query."""
        kind = column.declared.lower()
        if kind not in ("hugeint", "uhugeint"):
            return None
        name, most = quote(column.name), "9" * MAX_PRECISION
        condition = f"{name} > CAST('{most}' AS {kind})"
        if kind == "hugeint":
            condition += f" OR {name} < CAST('-{most}' AS {kind})"
        before = f"column {column.name!r} ({column.declared}) holds "
        after = f", which {type_label(column.dtype)} cannot hold"
        return condition, f"{sql_literal(before)} || CAST({name} AS VARCHAR) || {sql_literal(after)}"

    def unique_keys(self, session: Session, table: TableName) -> list[frozenset[str]]:
        args = [table.schema, table.name]
        constraints = session.rows(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?) "
            "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            args,
        )
        indexes = session.rows(
            "SELECT expressions FROM duckdb_indexes() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?) AND is_unique",
            args,
        )
        return [frozenset(row[0]) for row in constraints] + [_index_columns(row[0]) for row in indexes]

    def tables(self, session: Session, schema: str) -> list[str]:
        rows = session.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND lower(table_schema) = lower(?)",
            [schema],
        )
        return [row[0] for row in rows]


def _nested_recast(dtype: Any) -> str | None:
    """A nested DuckDB type spelt with its 128-bit integers as DECIMAL(38,0) (DuckDB's cast then refuses a value
    that does not fit, where Arrow would wrap it) and _AS_TEXT types as VARCHAR; None if it holds neither."""
    if dtype.id not in _NESTED:
        return None
    spelt, changed = _spelt(dtype)
    return spelt if changed else None


_NESTED = frozenset({"list", "array", "struct", "map"})  # not unions: Polars has none


def _spelt(dtype: Any) -> tuple[str, bool]:
    """`dtype` in SQL with the types above replaced, and whether any was."""
    kind = dtype.id
    if kind in ("hugeint", "uhugeint"):
        return f"DECIMAL({MAX_PRECISION},0)", True
    if kind in _AS_TEXT:
        return "VARCHAR", True
    if kind not in _NESTED:
        return str(dtype), False
    children = [(name, child) for name, child in dtype.children if name != "size"]
    parts = [(name, *_spelt(child)) for name, child in children]
    changed = any(part[2] for part in parts)
    if kind == "list":
        return f"{parts[0][1]}[]", changed
    if kind == "array":
        return f"{parts[0][1]}[{dict(dtype.children)['size']}]", changed
    if kind == "map":
        return f"MAP({parts[0][1]}, {parts[1][1]})", changed
    fields = ", ".join(f"{quote(name)} {spelt}" for name, spelt, _ in parts)
    return f"{kind.upper()}({fields})", changed


def _index_columns(expressions: str) -> frozenset[str]:
    """`[id, "Order No"]` (how duckdb_indexes() lists an index's columns) -> {'id', 'Order No'}."""
    names = [part.strip() for part in expressions.strip().strip("[]").split(",") if part.strip()]
    return frozenset(n[1:-1].replace('""', '"') if n.startswith('"') and n.endswith('"') else n for n in names)


class DuckdbConnector(SqlConnector):
    type_name = "duckdb"
    settings_model = DuckdbSettings
    database_class = DuckdbDatabase
    template_settings: ClassVar[dict[str, Any]] = {"path": "data/{name}.duckdb"}
