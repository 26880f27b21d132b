"""What the sqlite, duckdb and postgres connectors share: reading and writing a database through Arrow.

A `Database` (sqldatabase.py) says how to reach one database and how its SQL and types differ; the home, store and
connector here do everything else once. Reading runs a query and hands its Arrow batches to Polars as a lazy
source (sqlread.py). Writing streams a frame's batches, in the types their table columns hold (sqlwrite.py), into
the database inside one transaction: replace loads a staging table and swaps it in, append inserts, merge loads a
staging table and upserts from it. Schema evolution, type mapping and identifier quoting (sqlnames.py) are shared;
sessions and driver errors are in sqlsession.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hygge.connectors.base import (
    Capabilities,
    Connector,
    ConnectorSettings,
    Endpoint,
    Home,
    Incremental,
    Pieces,
    ReadRequest,
    Store,
    WriteRequest,
    WriteResult,
    check_cancel,
    null_key_error,
)
from hygge.connectors.feed import Feeder, Shaped
from hygge.connectors.sqldatabase import Column, Database
from hygge.connectors.sqlnames import TableName, quote
from hygge.connectors.sqlread import batches, scan
from hygge.connectors.sqlsession import DatabaseError, Session
from hygge.connectors.sqlwrite import to_stored
from hygge.connectors.timetext import temporal_as_text
from hygge.errors import FlowError, did_you_mean
from hygge.faults import checkpoint
from hygge.incremental import lower_bound, only_new_rows, text_watermark
from hygge.lazy import pl
from hygge.schema import apply_schema_plan, plan_schema_change

__all__ = ["SQL_CAPABILITIES", "SqlConnector", "SqlHome", "SqlStore"]

SQL_CAPABILITIES = Capabilities(home=True, store=True, query=True, merge_needs_unique_key=True, incremental=True)
# Columns hygge adds to its staging tables; a source column of the same name is refused.
ROW_COLUMN = "_hygge_row"
RANK_COLUMN = "_hygge_rank"
STAGE_PREFIX = "_hygge_stage_"
# Rows per batch when reading the rows a watermark is the largest of (Database.watermark_rows): one, or a few;
# and when reading a whole text column for the largest number or latest time it holds.
WATERMARK_BATCH_ROWS = 1000
TEXT_WATERMARK_BATCH_ROWS = 100_000


@dataclass
class _Write:
    """One write in progress: the open session, the request, and the columns new data would get."""

    session: Session
    request: WriteRequest
    new: dict[str, Column]

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(self.request.key)


# --- homes and stores --------------------------------------------------------------------------


@contextmanager
def _reported(action: str, where: str) -> Iterator[None]:
    """Errors from inside a read or write, told with what was being done and where."""
    try:
        yield
    except DatabaseError as exc:
        error = DatabaseError(f"{action}: {exc.message}", retryable=exc.retryable, hint=exc.hint)
        error.where = where
        raise error from exc
    except FlowError as exc:
        if exc.where is None:
            exc.where = where
        raise


class _SqlEndpoint(Endpoint):
    """What a database home and store share: the Database their settings describe."""

    def __init__(self, name: str, settings: Any, root: Path, database: Database) -> None:
        super().__init__(name, settings, root)
        self.database = database


def _window(database: Database, relation: str, columns: list[Column], inc: Incremental) -> tuple[str, list[Any]]:
    """`relation` narrowed in SQL to rows past the watermark, so the database skips the rest (an index helps)."""
    cursor = next((c for c in columns if c.name == inc.cursor), None)
    if cursor is None or inc.after is None:
        return relation, []
    bound = lower_bound(inc, cursor.dtype)
    value = database.pushdown(cursor, pl.select(bound).item() if bound is not None else None)
    compared = database.ordered(cursor)
    if value is None or compared is None:
        return relation, []
    condition = f"{compared} > {database.placeholder}"
    if inc.nulls == "include":
        condition = f"({condition} OR {quote(cursor.name)} IS NULL)"
    return f"(SELECT * FROM {relation} WHERE {condition}) AS {quote('_hygge_window')}", [value]


class SqlHome(_SqlEndpoint, Home):
    """Reads a table (`source: schema.table`) or a query (`query: SELECT ...`) in batches."""

    def read(self, request: ReadRequest) -> pl.LazyFrame:
        return self.read_with_pieces(request)[0]

    def read_with_pieces(self, request: ReadRequest) -> tuple[pl.LazyFrame, Pieces | None]:
        """The frame, and its pieces: the batches the database returns, converted as the frame converts them."""
        where = f"flow {request.flow}"
        db = self.database
        with _reported(f"could not read from {db.shown()}", where), db.connect(create=False) as session:
            if request.query is not None:
                query = request.query.strip().rstrip(";").strip()
                columns = db.query_columns(session, query)
                relation, label = f"({query}) AS {quote('_hygge_query')}", f"{db.type_name} query"
                whole: TableName | None = None
            else:
                table = db.table(request.source)
                found = db.columns(session, table)
                if found is None:
                    raise FlowError(
                        f"table {table} does not exist in {db.shown()}",
                        hint=did_you_mean(table.name, db.tables(session, table.schema), kind="Tables there"),
                    )
                columns, relation, label, whole = found, table.sql, f"{db.type_name} {table}", table
            columns = db.readable(session, relation, columns)
        params: list[Any] = []
        if request.incremental is not None:
            relation, params = _window(db, relation, columns, request.incremental)
        frame = scan(db, relation, columns, request.batch_size, label, params, whole, request.cancel)
        keep = None
        if request.incremental is not None:
            # Also filtered in Polars: exact semantics for every type, whatever the query could push down.
            frame, keep = only_new_rows(frame, request.incremental, where)

        def pieces() -> Generator[pl.DataFrame, None, None]:
            for piece in batches(db, relation, columns, request.batch_size, params, whole, cancel=request.cancel):
                yield piece if keep is None else piece.filter(keep)

        return frame, pieces

    def location(self, source: str) -> str:
        return self.database.location(source)

    def watch_paths(self, source: str) -> list[Path]:
        return self.database.files()

    def check(self) -> None:
        with _reported(f"could not open {self.database.shown()}", f"home {self.name}"):
            self.database.check(create=False)


class SqlStore(_SqlEndpoint, Store):
    """Writes a frame to a table in one transaction: replace, append or merge, with schema evolution."""

    def write(self, frame: pl.LazyFrame, request: WriteRequest) -> WriteResult:
        db = self.database
        with _reported(f"could not write {request.target} in {db.shown()}", f"flow {request.flow}"):
            table = db.table(request.target)
            shaped, new = self._stored(frame, request)
            with db.connect(create=True) as session:
                self._ensure_schema(session, table.schema)
                with session.transaction(db.begin_sql):
                    write = _Write(session, request, new)
                    rows = self._write(write, table, shaped)
                    self._before_commit(write, rows)
        checkpoint("write.after_commit")
        return WriteResult(rows)

    def _ensure_schema(self, session: Session, schema: str) -> None:
        """Create the target's schema on its own, before the write's transaction: flows writing into one new
        schema at once would each create it, and all but the first fail on a duplicate (PostgreSQL) or a write
        conflict (DuckDB) at their commit. Here the loser's retry finds the schema there."""
        for attempt in range(3):
            try:
                self.database.ensure_schema(session, schema)
                return
            except DatabaseError:
                if attempt == 2:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _stored(self, frame: pl.LazyFrame, request: WriteRequest) -> tuple[Shaped, dict[str, Column]]:
        """The frame in the types its table columns hold, and the columns a new table would get."""
        schema = frame.collect_schema()
        if not schema:
            raise FlowError("the data has no columns")
        missing = [k for k in request.key if k not in schema]
        if missing:
            raise FlowError(f"the data has no key column {', '.join(missing)}", hint=f"Columns: {', '.join(schema)}.")
        new: dict[str, Column] = {}
        limit = self.database.max_name_bytes
        for name, dtype in schema.items():
            if name in (ROW_COLUMN, RANK_COLUMN):
                raise FlowError(f"the column name '{name}' is reserved for hygge's staging tables")
            if limit is not None and len(name.encode()) > limit:
                # PostgreSQL would cut it short without a word, and then not find the column it made.
                raise FlowError(
                    f"the column name '{name}' is {len(name.encode())} bytes, longer than "
                    f"{self.database.type_name}'s {limit}",
                    hint="Rename it in the source (a query: SELECT ... AS shorter_name).",
                )
            try:
                new[name] = self.database.new_column(name, dtype)
            except FlowError as exc:
                raise FlowError(f"column '{name}': {exc.message}", hint="Cast it in the source.") from exc
        stored = [to_stored(name, dtype, new[name].dtype, self.database) for name, dtype in schema.items()]
        return Shaped(frame, request.pieces).select(stored), new

    def _write(self, write: _Write, table: TableName, frame: Shaped) -> int:
        mode = write.request.mode
        if mode == "merge" and not write.key:
            raise FlowError("merge needs a key", hint="Set key: [id] (the columns of a row's identity).")
        if mode not in ("replace", "append", "merge"):
            raise FlowError(f"unknown mode '{mode}'")
        self.database.ensure_schema(write.session, table.schema)
        existing = self.database.columns(write.session, table)
        if mode == "replace":
            return self._replace(write, table, frame, exists=existing is not None)
        key = write.key if mode == "merge" else ()
        if existing is None:
            columns = self._create(write, table, key)
        else:
            frame, columns = self._evolve(write, table, frame, existing)
            if key:
                self._check_key(write.session, table, key)
        return self._load(write, table, columns, frame, key)

    def _replace(self, write: _Write, table: TableName, frame: Shaped, *, exists: bool) -> int:
        """Load a new table aside, then drop the old one and rename the new one in its place."""
        stage = self._stage_name(table)
        unique = not write.request.last_per_key
        rows = self._load(write, stage, self._create(write, stage, write.key), frame, write.key, unique=unique)
        if exists:
            if rows == 0 and not write.request.allow_empty and self._has_rows(write.session, table):
                raise FlowError(
                    f"refusing to replace the rows of target '{write.request.target}' with no rows",
                    hint="The target is unchanged. Pass --allow-empty if emptying it is intended.",
                )
            write.session.execute(f"DROP TABLE {table.sql}")
        write.session.execute(f"ALTER TABLE {stage.sql} RENAME TO {quote(table.name)}")
        return rows

    def _has_rows(self, session: Session, table: TableName) -> bool:
        return bool(session.rows(f"SELECT 1 FROM {table.sql} LIMIT 1"))

    def _stage_name(self, table: TableName) -> TableName:
        return TableName(table.schema, f"{STAGE_PREFIX}{uuid.uuid4().hex[:16]}")

    def _create(self, write: _Write, table: TableName, key: tuple[str, ...]) -> list[Column]:
        columns = list(write.new.values())
        self._create_table(write.session, table, columns, key)
        return columns

    def _create_table(self, session: Session, table: TableName, columns: list[Column], key: tuple[str, ...]) -> None:
        # Key columns are NOT NULL, as a primary key makes them in DuckDB and PostgreSQL but not in SQLite, where
        # a null key would never match ON CONFLICT and be inserted again on every merge.
        listed = [f"{quote(c.name)} {c.declared}{' NOT NULL' if c.name in key else ''}" for c in columns]
        if key:
            listed.append(f"PRIMARY KEY ({', '.join(quote(k) for k in key)})")
        session.execute(f"CREATE TABLE {table.sql} ({', '.join(listed)})")

    def _evolve(
        self, write: _Write, table: TableName, frame: Shaped, existing: list[Column]
    ) -> tuple[Shaped, list[Column]]:
        """Fit the frame to the existing table, adding the new columns to the table (DESIGN §5)."""
        target = pl.Schema([(c.name, c.dtype) for c in existing])
        request = write.request
        plan = plan_schema_change(
            target, frame.collect_schema(), request.on_schema_change, what=f"target '{request.target}'"
        )
        columns = list(existing)
        for name in plan.added:
            column = write.new[name]
            write.session.execute(f"ALTER TABLE {table.sql} ADD COLUMN {quote(name)} {column.declared}")
            columns.append(column)
        return frame.then(lambda batch, _first: apply_schema_plan(batch, plan)), columns

    def _check_key(self, session: Session, table: TableName, key: tuple[str, ...]) -> None:
        fold = self.database.fold
        wanted = frozenset(fold(k) for k in key)
        if any(frozenset(fold(c) for c in unique) == wanted for unique in self.database.unique_keys(session, table)):
            return
        raise FlowError(
            f"table {table} has no primary key or unique index on ({', '.join(key)}), so merge cannot tell "
            "which rows to update",
            hint=f"Add one ({self.database.unique_index_sql(table, key)}), or rebuild the target with "
            "--full-refresh so hygge creates it with a primary key.",
        )

    def _load(
        self,
        write: _Write,
        table: TableName,
        columns: list[Column],
        frame: Shaped,
        key: tuple[str, ...],
        *,
        unique: bool = False,
    ) -> int:
        """Insert the frame into `table`: directly, or through a staging table to upsert or to cast. `unique`:
        `table` is new and must get every row, so rows sharing a key are an error rather than the last winning."""
        frame = frame.select([c.name for c in columns])
        if not key and not any(c.write_as_text for c in columns):
            return self._ingest(write, table, frame)
        schema = frame.collect_schema()
        staged = [self.database.new_column(c.name, schema[c.name]) for c in columns]
        if key:
            frame = frame.with_row_number(ROW_COLUMN)
            staged.insert(0, self.database.new_column(ROW_COLUMN, pl.Int64()))
        stage = self._stage_name(table)
        self._create_table(write.session, stage, staged, ())
        rows = self._ingest(write, stage, frame)
        if key:
            self._check_null_keys(write, stage, key)
            self.database.before_upsert(write.session, table, rows)
        write.session.execute(self._insert_sql(table, stage, columns, key))
        if unique:
            self._check_unique(write, table, stage, key, rows)
        write.session.execute(f"DROP TABLE {stage.sql}")
        return rows

    def _check_null_keys(self, write: _Write, stage: TableName, key: tuple[str, ...]) -> None:
        """A null key matches no row (ON CONFLICT never sees two nulls as equal), so such a row would be
        inserted again on every merge: refused, as DuckDB's and PostgreSQL's primary keys refuse it."""
        counts = ", ".join(f"sum(CASE WHEN {quote(k)} IS NULL THEN 1 ELSE 0 END)" for k in key)
        nulls = write.session.rows(f"SELECT {counts} FROM {stage.sql}")[0]
        for name, count in zip(key, nulls, strict=True):
            if count:
                raise null_key_error(name, count)

    def _check_unique(self, write: _Write, table: TableName, stage: TableName, key: tuple[str, ...], rows: int) -> None:
        """Replace keeps exactly this run's rows (DESIGN §5), and a primary key holds one row per key: rows
        sharing a key are an error, never silently dropped. A dbt or Sling full refresh keeps every row; hygge
        cannot while the key makes a primary key, and one that merges need is what `key:` asks for."""
        kept = write.session.rows(f"SELECT count(*) FROM {table.sql}")[0][0]
        if kept == rows:
            return
        keys = ", ".join(quote(k) for k in key)
        example = write.session.rows(
            f"SELECT {keys}, count(*) FROM {stage.sql} GROUP BY {keys} HAVING count(*) > 1 ORDER BY count(*) DESC "
            "LIMIT 1"
        )[0]
        shown = ", ".join(f"{k}={v!r}" for k, v in zip(key, example, strict=False))
        raise FlowError(
            f"this run's {rows} rows hold only {kept} different keys ({shown} is on {example[-1]} rows), and "
            f"replace keeps every row while key: ({', '.join(key)}) makes a primary key",
            hint="The target is unchanged. Remove key: to keep every row, use mode: merge to keep the last row "
            "per key, or remove the duplicates in the source.",
        )

    def _insert_sql(self, table: TableName, stage: TableName, columns: list[Column], key: tuple[str, ...]) -> str:
        names = ", ".join(quote(c.name) for c in columns)
        values = ", ".join(
            f"CAST({quote(c.name)} AS {c.declared}) AS {quote(c.name)}" if c.write_as_text else quote(c.name)
            for c in columns
        )
        if not key:
            return f"INSERT INTO {table.sql} ({names}) SELECT {values} FROM {stage.sql}"
        keys = ", ".join(quote(k) for k in key)
        # The last row per key wins: rank the staged rows by their position in the source and keep the first.
        latest = (
            f"SELECT *, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {quote(ROW_COLUMN)} DESC) "
            f"AS {quote(RANK_COLUMN)} FROM {stage.sql}"
        )
        updates = ", ".join(f"{quote(c.name)} = excluded.{quote(c.name)}" for c in columns if c.name not in key)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        return (
            f"INSERT INTO {table.sql} ({names}) SELECT {values} FROM ({latest}) AS {quote('_hygge_latest')} "
            f"WHERE {quote(RANK_COLUMN)} = 1 ON CONFLICT ({keys}) {action}"
        )

    def _ingest(self, write: _Write, table: TableName, frame: Shaped) -> int:
        schema = frame.collect_schema()
        wired = frame.select([self.database.wire(name, dtype) for name, dtype in schema.items()])
        feeder = Feeder(wired, write.request.batch_size, write.request.cancel)
        try:
            write.session.ingest(table, feeder.reader())
        except DatabaseError as exc:
            # A failure of the frame itself (a bad value, an injected fault) reaches the driver as its own
            # error; the frame's exception says what happened.
            if feeder.error is not None:
                raise feeder.error from exc
            raise
        if feeder.error is not None:
            raise feeder.error
        return feeder.rows

    def _before_commit(self, write: _Write, rows: int) -> None:
        """The last moment the write may stop with the target unchanged; state that must move with the data
        is written here, on `write.session`, inside the same transaction."""
        check_cancel(write.request)
        checkpoint("write.before_commit")
        if write.request.on_commit is not None:
            write.request.on_commit(rows)

    def location(self, target: str) -> str:
        return self.database.location(target)

    def output_paths(self, target: str) -> list[Path]:
        return self.database.files()

    def max_value(self, target: str, column: str) -> Any:
        db = self.database
        if not db.exists():
            return None
        with _reported(f"could not read {target} in {db.shown()}", f"store {self.name}"):
            table = db.table(target)
            with db.connect(create=False) as session:
                columns = db.columns(session, table)
                if columns is None:
                    return None
                found = [c for c in columns if db.fold(c.name) == db.fold(column)]
                if not found:
                    raise FlowError(
                        f"target '{target}' has no column '{column}' to take the watermark from",
                        hint="Rebuild the target with --full-refresh, or change incremental.cursor.",
                    )
            # In the order the home's Polars filter compares cursors in, or it re-reads or skips rows.
            relation = f"({db.watermark_rows(table, found[0])}) AS {quote('_hygge_max')}"
            rows = scan(db, relation, found, WATERMARK_BATCH_ROWS, f"{db.type_name} watermark")
            top = rows.select(pl.col(found[0].name).max())
            dtype = found[0].dtype
            if dtype == pl.String:
                # A text column may hold the numbers or timestamps of the source's cursor, in several forms
                # (written by another tool, or by hygge as text): as in text stores, the watermark has them all.
                whole = scan(db, table.sql, found, TEXT_WATERMARK_BATCH_ROWS, f"{db.type_name} {table}", table=table)
                return text_watermark(whole, found[0].name, top.collect().item())
            if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns":
                # A Python datetime ends at microseconds: the watermark would fall behind the rows it covers,
                # and a row later in the same microsecond would never be moved.
                top = temporal_as_text(top)
            return top.collect().item()

    def check(self) -> None:
        with _reported(f"could not open {self.database.shown()}", f"store {self.name}"):
            self.database.check(create=True)


class SqlConnector(Connector):
    """A database connector type: subclasses set type_name, settings_model, database_class, template_settings."""

    database_class: ClassVar[type[Database]]
    capabilities = SQL_CAPABILITIES
    home_class = SqlHome
    store_class = SqlStore

    @classmethod
    def home(cls, name: str, settings: ConnectorSettings, root: Path) -> Home:
        return SqlHome(name, settings, root, cls.database_class(settings, root))

    @classmethod
    def store(cls, name: str, settings: ConnectorSettings, root: Path) -> Store:
        return SqlStore(name, settings, root, cls.database_class(settings, root))
