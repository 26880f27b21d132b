"""The sqlite connector: tables of a SQLite file as a home and a store, through the ADBC SQLite driver.

SQLite keeps a declared type per column but stores values by their own class, and the driver infers Arrow
types from values. So hygge declares types it can read back (`TIMESTAMP_NS`, `DECIMAL(10,2)`, ...) and, when
reading, puts a row of typed placeholders first so the driver infers the right class for every column, then
converts text to dates, times and decimals by the declared type.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from contextlib import closing
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from hygge.connectors.sql import SqlConnector
from hygge.connectors.sqldatabase import (
    Column,
    FileDatabase,
    FileDatabaseSettings,
    Parts,
    is_nested,
    range_conditions,
    stray_mark_sql,
)
from hygge.connectors.sqlnames import TableName, quote, sql_literal
from hygge.connectors.sqlsession import AdbcSession, DatabaseError, Session, import_driver
from hygge.decimaltext import too_precise
from hygge.errors import FlowError
from hygge.lazy import pl
from hygge.schema import type_label

if TYPE_CHECKING:
    import pyarrow as pa

PRIME_COLUMN = "_hygge_prime"
TOP_COLUMN = "_hygge_top"  # the largest of a column's numbers, when its watermark is read
# SQLite's numbers keep 15 significant digits; wider decimals are kept exactly as text.
EXACT_DIGITS = 15
# Rows sampled to type a query's expression columns.
SAMPLE_ROWS = 1000
# How long a writer waits for another (each flow writes in one transaction).
BUSY_TIMEOUT_MS = 600_000
# Pages of a file hygge creates. Bulk loads write each page to the WAL and then to the file: four times fewer,
# larger pages made that a quarter faster (bench/, parquet->sqlite at 10M rows: 29-33 s -> 24-26 s), and whole
# table scans read them faster; SQLite's default, 4 kB, suits small random updates better.
PAGE_SIZE = 16_384
# A table of this many rowids is read in PARALLEL_READS rowid ranges at once, on connections of their own:
# SQLite steps through rows on one core per connection (bench/, 10M rows: see README).
MIN_PARALLEL_ROWS = 500_000
# Names that reach a rowid table's rowid unless a column of that name hides it.
_ROWID_NAMES = ("rowid", "_rowid_", "oid")


@cache
def _scalars() -> dict[pl.DataType, str]:
    return {
        pl.Int8(): "TINYINT",
        pl.Int16(): "SMALLINT",
        pl.Int32(): "INT4",
        pl.Int64(): "BIGINT",
        pl.UInt8(): "UTINYINT",
        pl.UInt16(): "USMALLINT",
        pl.UInt32(): "UINTEGER",
        pl.UInt64(): "UBIGINT",
        pl.Boolean(): "BOOLEAN",
        pl.Float32(): "FLOAT4",
        pl.Float64(): "DOUBLE",
        pl.String(): "TEXT",
        pl.Binary(): "BLOB",
        pl.Date(): "DATE",
        pl.Time(): "TIME",
    }


@cache
def _read_as() -> dict[str, pl.DataType]:
    """Declared types read back, beyond the ones hygge writes: common spellings in SQLite files made by others."""
    return {
        **{name: dtype for dtype, name in _scalars().items()},
        "INTEGER": pl.Int64(),
        "INT": pl.Int64(),
        "INT8": pl.Int64(),
        "INT2": pl.Int16(),
        "MEDIUMINT": pl.Int32(),
        "BOOL": pl.Boolean(),
        "REAL": pl.Float64(),
        "FLOAT": pl.Float64(),
        "FLOAT8": pl.Float64(),
        "DOUBLE PRECISION": pl.Float64(),
        "NUMERIC": pl.Float64(),
        "DECIMAL": pl.Float64(),
        "DATETIME": pl.Datetime("us"),
        "JSON": pl.String(),
    }


_TIMESTAMP = re.compile(r"TIMESTAMP(?:\(\d\))?(TZ| WITH TIME ZONE| WITHOUT TIME ZONE)?(?:_(MS|US|NS))?")
# Timestamps as the ADBC driver writes them: fractional digits by unit, no zone (zoned values are UTC).
_ISO_DATETIME = {unit: f"%Y-%m-%dT%H:%M:%S%.{digits}f" for unit, digits in (("ms", 3), ("us", 6), ("ns", 9))}
_DECIMAL = re.compile(r"(?:DECIMAL|NUMERIC|DECIMAL_TEXT)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


class SqliteSettings(FileDatabaseSettings):
    """A SQLite database file."""

    # The journal mode of a file hygge creates (an existing file keeps its own). `wal` lets other flows read the
    # file while one writes and keeps a large write's memory bounded; `delete` loads about a quarter faster
    # (bench/, 10M rows: 43 s -> 31 s) but readers wait while a flow writes.
    journal_mode: Literal["wal", "delete"] = "wal"


class SqliteDatabase(FileDatabase):
    type_name = "sqlite"
    default_schema = "main"
    # A deferred transaction that reads first and writes later fails at once when another writer came between.
    begin_sql = "BEGIN IMMEDIATE"
    check_sql = "SELECT count(*) FROM sqlite_schema"  # reads the file, so fails on one that is not a database
    binary_collation = "BINARY"
    side_suffixes = ("-wal", "-shm", "-journal")
    settings: SqliteSettings

    def connect(self, *, create: bool) -> Session:
        dbapi = import_driver("adbc_driver_sqlite.dbapi", "sqlite", "sqlite")
        new = create and not self.path.exists()
        self.require(create=create)
        with AdbcSession.errors():
            connection = dbapi.connect(str(self.path), autocommit=True)
        session = AdbcSession(connection, {"adbc.sqlite.query.batch_rows": "{rows}"}, schema_is_catalog=True)
        try:
            session.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if new:
                session.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # ignored once the file has a page
                if self.settings.journal_mode == "wal":
                    self._use_wal(session)
            if create and session.rows("PRAGMA journal_mode") == [("wal",)]:
                session.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, and much faster
        except BaseException:
            session.close()
            raise
        return session

    def _use_wal(self, session: Session) -> None:
        """Let readers go on while a flow writes, in files hygge creates (others keep their journal mode)."""
        try:
            session.rows("PRAGMA journal_mode = WAL")
        except DatabaseError:
            pass  # another flow is creating the file at the same moment and switched it already

    def ensure_schema(self, session: Session, schema: str) -> None:
        """SQLite's schemas are attached files: there is nothing to create, and no other schema to write to."""
        if schema.lower() not in ("main", "temp"):
            raise FlowError(
                f"a SQLite file has no schema '{schema}' (its tables are all in 'main')",
                hint=f"Name the target without '{schema}.', or write it to a store of its own (another file).",
            )

    def unique_index_sql(self, table: TableName, key: Sequence[str]) -> str:
        index = quote(f"{table.name}_{'_'.join(key)}_key")
        columns = ", ".join(quote(k) for k in key)
        return f"CREATE UNIQUE INDEX {quote(table.schema)}.{index} ON {quote(table.name)} ({columns})"

    # types

    def ddl_type(self, dtype: pl.DataType) -> str:
        if (found := _scalars().get(dtype)) is not None:
            return found
        if isinstance(dtype, pl.Decimal):
            precision, scale = dtype.precision, dtype.scale
            name = "DECIMAL" if precision <= EXACT_DIGITS else "DECIMAL_TEXT"
            return f"{name}({precision},{scale})"
        if isinstance(dtype, pl.Datetime):
            zone = "TZ" if dtype.time_zone else ""
            unit = "" if dtype.time_unit == "us" else f"_{dtype.time_unit.upper()}"
            return f"TIMESTAMP{zone}{unit}"
        if is_nested(dtype):
            return "JSON"
        raise FlowError(f"sqlite stores cannot hold {dtype} columns")

    def declared_column(self, name: str, declared: str) -> Column:
        return _column(name, declared, self._read_type(declared))

    def _read_type(self, declared: str) -> pl.DataType:
        text = " ".join(declared.upper().split())
        if (found := _read_as().get(text)) is not None:
            return found
        if match := _TIMESTAMP.fullmatch(text):
            zone, unit = match.groups()
            zoned = zone in ("TZ", " WITH TIME ZONE")
            return pl.Datetime((unit or "US").lower(), "UTC" if zoned else None)  # type: ignore[arg-type]
        if match := _DECIMAL.fullmatch(text):
            return pl.Decimal(int(match[1]), int(match[2] or 0))
        # Otherwise SQLite's affinity rules decide; text holds every value, so it is the last resort.
        if "INT" in text:
            return pl.Int64()
        if any(word in text for word in ("REAL", "FLOA", "DOUB")):
            return pl.Float64()
        if "BLOB" in text:
            return pl.Binary()
        return pl.String()

    def wire(self, name: str, dtype: pl.DataType) -> pl.Expr:
        # The driver binds neither decimals nor times; exact text does for both.
        if dtype == pl.Time:
            return pl.col(name).dt.strftime("%H:%M:%S%.f")
        if isinstance(dtype, pl.Decimal):
            if dtype.precision <= EXACT_DIGITS:
                # SQLite turns that text into the nearest double anyway (or an integer when it is whole); so
                # does this cast (an exact integer over an exact power of ten), without parsing text per value.
                return pl.col(name).cast(pl.Float64)
            return pl.col(name).cast(pl.String)
        # The driver writes dates and timestamps as this same text, one value at a time (about twice the cost
        # of binding text Polars formatted, in parallel, ahead of the insert).
        if dtype == pl.Date:
            return pl.col(name).dt.strftime("%Y-%m-%d")
        if isinstance(dtype, pl.Datetime):
            return pl.col(name).dt.strftime(_ISO_DATETIME[dtype.time_unit])
        return pl.col(name)

    # the catalog

    def columns(self, session: Session, table: TableName) -> list[Column] | None:
        found = session.rows("SELECT name, type FROM pragma_table_info(?, ?) ORDER BY cid", [table.name, table.schema])
        if not found:
            return None
        return [self.declared_column(name, declared) if declared else _untyped(name) for name, declared in found]

    def unique_keys(self, session: Session, table: TableName) -> list[frozenset[str]]:
        args = [table.name, table.schema]
        primary = frozenset(row[0] for row in session.rows("SELECT name FROM pragma_table_info(?1, ?2) WHERE pk", args))
        indexed: dict[str, set[str]] = {}
        for index, column in session.rows(
            "SELECT il.name, ii.name FROM pragma_index_list(?1, ?2) AS il, pragma_index_info(il.name, ?2) AS ii "
            'WHERE il."unique" AND NOT il.partial',
            args,
        ):
            indexed.setdefault(index, set()).add(column)
        return [*([primary] if primary else []), *(frozenset(columns) for columns in indexed.values())]

    def tables(self, session: Session, schema: str) -> list[str]:
        rows = session.rows(
            f"SELECT name FROM {quote(schema)}.sqlite_schema "
            "WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"
        )
        return [row[0] for row in rows]

    # reading

    def parts(self, session: Session, table: TableName) -> Parts | None:
        """A large rowid table: ranges of rowids, each on its own connection. `session` takes the write lock
        while the parts begin reading, so no commit comes between them and all see one state of the file; it
        does not wait for a writer to get it (the table is then read in one query)."""
        names = {c.name.lower() for c in self.columns(session, table) or []}
        rowid = next((name for name in _ROWID_NAMES if name not in names), None)
        if rowid is None or not self._lock_now(session):
            return None
        try:
            low, high = session.rows(f"SELECT min({rowid}), max({rowid}) FROM {table.sql}")[0]
        except DatabaseError:  # a view, or a table without rowid
            low = high = None
        if low is None or high - low < MIN_PARALLEL_ROWS:
            session.execute("ROLLBACK")
            return None
        conditions = range_conditions(low, high, lambda op, cut: f"{rowid} {op} {cut}")

        def join(part: Session) -> None:
            part.execute("BEGIN")
            part.rows(f"SELECT 1 FROM {table.sql} LIMIT 1")  # the part's snapshot (WAL) or shared lock begins

        return Parts(conditions, join, joined=lambda: session.execute("ROLLBACK"))

    def _lock_now(self, session: Session) -> bool:
        """Take the write lock if no one holds it (a read-only file: no one can write, nor can we)."""
        session.execute("PRAGMA busy_timeout = 0")
        try:
            session.execute("BEGIN IMMEDIATE")
        except DatabaseError:
            return False
        finally:
            session.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return True

    def watermark_rows(self, table: TableName, column: Column) -> str:
        """Decimals and timestamps are text here (wide decimals to keep every digit; a table another tool wrote
        may hold timestamps in several forms, with 'T' or a space, with offsets): max() would compare them as
        text ('9.50' > '10.10'). SQL narrows them to the values near the largest by a number that orders them
        nearly exactly (a double; the Julian day, in milliseconds, UTC), and Polars takes the exact largest of
        those, parsed as every read parses them. A value SQLite reads as no time (an offset of +0200) is kept
        too: Polars may read it."""
        near = _near_max(column)
        if near is None:
            return super().watermark_rows(table, column)
        key, below = near
        name = quote(column.name)
        top = quote(TOP_COLUMN)
        largest = f"(SELECT max({key}) AS {top} FROM {table.sql}) AS {top}"
        return (
            f"SELECT DISTINCT {name} FROM {table.sql}, {largest} "
            f"WHERE {key} >= {top} - {below.format(top=top)} OR ({key} IS NULL AND {name} IS NOT NULL)"
        )

    def readable(self, session: Session, relation: str, columns: list[Column]) -> list[Column]:
        untyped = [c for c in columns if not c.declared]
        if not untyped:
            return columns
        # Expressions in a query declare no type: the first rows say what they hold.
        sql = f"SELECT {', '.join(quote(c.name) for c in untyped)} FROM {relation} LIMIT {SAMPLE_ROWS}"
        with closing(session.batches(sql, SAMPLE_ROWS)) as batches:
            sample = next(batches, None)
        seen: dict[str, pl.DataType] = {}
        if sample is not None:
            frame = pl.DataFrame(sample)
            seen = {name: frame[name].dtype for name in frame.columns if frame[name].null_count() < frame.height}
        return [c if c.declared else _column(c.name, "", seen.get(c.name, pl.String())) for c in columns]

    def select_sql(self, relation: str, columns: Sequence[Column], limit: int | None) -> str:
        # The driver takes each column's Arrow type from the values of the first batch, so a column that starts
        # with nulls would be typed wrongly. A first row of typed placeholders settles every column's type; it
        # is marked '', and dropped in finish_batch.
        # SQLite keeps any value in any column, and the driver (or a cast) would silently truncate or round one
        # its column's type cannot hold (3.7 in an INTEGER column). So SQLite itself checks each value in the
        # same SELECT: a stray one is named in the mark column, which finish_batch raises; every other row's
        # mark is NULL. Values are cast to their column's class, so the driver never meets another one.
        placeholders = ", ".join(f"{_placeholder(c.dtype)} AS {quote(c.name)}" for c in columns)
        values = ", ".join(f"{_value_sql(c)} AS {quote(c.name)}" for c in columns)
        strays = [(check, _named_sql(c)) for c in columns if (check := _stray_sql(c)) is not None]
        rows = relation if limit is None else f"(SELECT * FROM {relation} LIMIT {int(limit)})"  # the rows' limit
        return (
            f"SELECT '' AS {quote(PRIME_COLUMN)}, {placeholders} "
            f"UNION ALL SELECT {stray_mark_sql(strays) if strays else 'NULL'}, {values} FROM {rows}"
        )

    def checked(self, batches: Generator[pa.RecordBatch, None, None]) -> Generator[pa.RecordBatch, None, None]:
        """SQLite keeps any bytes as text, and the driver hands them on as they are: Polars would take text that
        is not UTF-8 into the frame, to fail later or be written on garbled. Arrow checks every text column of a
        batch (GBs a second, and on the threads that read ahead)."""
        import pyarrow as pa

        for batch in batches:
            for field, values in zip(batch.schema, batch.columns, strict=True):
                if field.name == PRIME_COLUMN or not pa.types.is_string(field.type):
                    continue
                try:
                    values.validate(full=True)
                except pa.ArrowInvalid as exc:
                    raise _not_utf8(field.name, values, str(exc)) from None
            yield batch

    def finish_batch(self, frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
        marks = frame[PRIME_COLUMN]
        if marks.null_count() < frame.height:  # the placeholder row (first batch only), or a stray value
            if (strays := marks.filter(marks != "")).len():
                raise FlowError(str(strays[0]), hint=_STRAY_HINT)
            frame = frame.filter(marks.is_null())
        for column in columns:
            if isinstance(column.dtype, pl.Decimal) and frame.schema[column.name] == pl.String:
                text, exact = frame[column.name], _affinity(column.declared) == "TEXT"
                if (stray := text.filter(too_precise(text, column.dtype.scale, exact=exact))).len():
                    shown = repr(stray[0]) if exact else stray[0]  # as SQLite's quote(): text quoted, numbers not
                    raise FlowError(
                        f"column {column.name!r} ({column.declared}) holds {shown}, which "
                        f"{type_label(column.dtype)} cannot hold exactly",
                        hint=_STRAY_HINT,
                    )
        return frame.drop(PRIME_COLUMN)


def _not_utf8(name: str, values: pa.Array, problem: str) -> FlowError:
    """The error for text of column `name` that is not UTF-8; `problem` is Arrow's, which says where it is."""
    import pyarrow as pa

    where = re.search(r"string index (\d+)", problem)
    shown = ""
    if where is not None and int(where[1]) < len(values):
        raw = values.view(pa.binary())[int(where[1])].as_py()
        shown = f": {raw[:40]!r}{'...' if len(raw) > 40 else ''}"
    return FlowError(
        f"column {name!r} holds text that is not UTF-8{shown}",
        hint=f"Read the column as bytes through a query (SELECT CAST({quote(name)} AS BLOB) AS {quote(name)}, ...), "
        "or correct the text in the source.",
    )


def _untyped(name: str) -> Column:
    """A column without a declared type (an expression in a query), typed by `readable` before reading."""
    return Column(name, "", pl.Null())


def _column(name: str, declared: str, dtype: pl.DataType) -> Column:
    # Values read as text are turned into text by SQLite, not by the driver, which keeps 7 digits of a REAL.
    return Column(name, declared, dtype, read_as_text=_placeholder(dtype) == "''")


def _placeholder(dtype: pl.DataType) -> str:
    if dtype == pl.Null:
        return "NULL"
    if dtype.is_integer() or dtype == pl.Boolean:
        return "0"
    if dtype.is_float():
        return "0.0"
    if dtype == pl.Binary:
        return "X''"
    return "''"


_STRAY_HINT = SqliteDatabase.stray_hint


def _affinity(declared: str) -> str:
    """SQLite's affinity of a declared type (its rules, in their order), as far as reading decimals needs it."""
    text = declared.upper()
    if "INT" in text:
        return "INTEGER"
    return "TEXT" if any(word in text for word in ("CHAR", "CLOB", "TEXT")) else "NUMERIC"


def _value_sql(column: Column) -> str:
    """The column's values as the class the driver reads it as (a stray value's cast is never read)."""
    name, dtype = quote(column.name), column.dtype
    if dtype.is_integer() or dtype == pl.Boolean:
        return f"CAST({name} AS INTEGER)"
    if dtype.is_float():
        return f"CAST({name} AS REAL)"
    if column.read_as_text:
        return f"CAST({name} AS TEXT)"
    return name


def _stray_sql(column: Column) -> str | None:
    """SQL that is true where the column holds a value its type cannot hold exactly, or None where every value
    reads as it is (or a stray one fails later, naming itself: text, dates and times, ranges of narrow ints)."""
    name, dtype = quote(column.name), column.dtype
    if dtype.is_integer() or dtype == pl.Boolean:
        # Exact: SQLite compares integers with reals exactly; text that is not a whole number (and a blob) is
        # never equal to its cast. Text holding one ('42' from a view) compares as that number, and reads.
        return f"{name} NOT IN (0, 1)" if dtype == pl.Boolean else f"{name} IS NOT CAST({name} AS INTEGER)"
    if dtype.is_float():
        return f"{name} IS NOT CAST({name} AS REAL)"  # text, and integers beyond 2^53
    # Decimals are read as SQLite's text of them and checked on the batch (too_precise).
    return None


def _near_max(column: Column) -> tuple[str, str] | None:
    """For a column whose max() SQLite may take wrongly: a number in SQL that orders its values nearly as
    Polars does, and how far below the largest such number ({top}) the exact largest value may be."""
    name = quote(column.name)
    if isinstance(column.dtype, pl.Decimal):
        # Text to double is off by a unit in the last place at most: a relative 1e-12 takes in far more.
        return f"CAST({name} AS REAL)", "abs({top}) * 1e-12"
    if isinstance(column.dtype, pl.Datetime):
        # The Julian day counts whole milliseconds, as a double (off by 40 µs at most): one second takes in more.
        return f"julianday({name})", "1.0 / 86400"
    return None


def _named_sql(column: Column) -> str:
    """SQL text saying which value of the column is stray, for the error."""
    declared = f" ({column.declared})" if column.declared else ""
    before = f"column {column.name!r}{declared} holds "
    after = f", which {type_label(column.dtype)} cannot hold exactly"
    return f"{sql_literal(before)} || quote({quote(column.name)}) || {sql_literal(after)}"


class SqliteConnector(SqlConnector):
    type_name = "sqlite"
    settings_model = SqliteSettings
    database_class = SqliteDatabase
    template_settings: ClassVar[dict[str, Any]] = {"path": "data/{name}.sqlite"}
