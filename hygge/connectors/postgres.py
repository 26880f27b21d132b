"""The postgres connector: PostgreSQL tables as a home and a store, through the ADBC PostgreSQL driver.

The driver writes with binary COPY, which needs each Arrow type to match its column exactly, and reads most
types natively. Types it cannot move (numeric on read; json, uuid and others on write) pass as text and are
cast: in Polars on read, by PostgreSQL through a staging table on write.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Sequence
from contextlib import suppress
from functools import cache
from typing import Any, ClassVar
from urllib.parse import quote as url_quote
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator

from hygge.connectors.base import ConnectorSettings
from hygge.connectors.pgvalues import MAX_PRECISION, NUMERIC, UNCONSTRAINED_NUMERIC, check_batch, dimensions_sql
from hygge.connectors.sql import SqlConnector
from hygge.connectors.sqldatabase import Column, Database, Parts, inner_type, is_nested, range_conditions
from hygge.connectors.sqlnames import TableName
from hygge.connectors.sqlsession import AdbcSession, DatabaseError, Session, import_driver
from hygge.errors import FlowError
from hygge.lazy import pl

DEFAULT_PORT = 5432
CONNECT_TIMEOUT_SECONDS = 10
# A table this large (100 MB of 8 kB pages) is read over PARALLEL_READS connections at once, each a range of its
# pages, all in one snapshot: the server scans and sends on every core (bench/, 10M rows: see README).
MIN_PARALLEL_PAGES = 12_800
_REPEATABLE = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


@cache
def _scalars() -> dict[pl.DataType, str]:
    return {
        pl.Boolean(): "boolean",
        pl.Int16(): "smallint",
        pl.Int32(): "integer",
        pl.Int64(): "bigint",
        pl.Float32(): "real",
        pl.Float64(): "double precision",
        pl.String(): "text",
        pl.Binary(): "bytea",
        pl.Date(): "date",
        pl.Time(): "time",
    }


@cache
def _native() -> dict[str, pl.DataType]:
    """Types the driver reads and writes as Arrow, alone and as array elements (`integer[]`)."""
    return {
        **{name: dtype for dtype, name in _scalars().items()},
        "character varying": pl.String(),
        "character": pl.String(),
        "name": pl.String(),
        "timestamp without time zone": pl.Datetime("us"),
        "timestamp with time zone": pl.Datetime("us", "UTC"),
        "time without time zone": pl.Time(),
    }


@cache
def _wider() -> dict[pl.DataType, pl.DataType]:
    """Polars types with no PostgreSQL type of their own, widened to one that holds every value."""
    return {
        pl.Int8(): pl.Int16(),
        pl.UInt8(): pl.Int16(),
        pl.UInt16(): pl.Int32(),
        pl.UInt32(): pl.Int64(),
        pl.UInt64(): pl.Decimal(20, 0),
    }


# How often the server checks that hygge is still there while a statement runs (see PostgresDatabase.connect).
CLIENT_CHECK_INTERVAL = "2s"
# One open connection per server URL, which the others are cloned from (see PostgresDatabase.connect).
_KEPT: dict[str, Any] = {}
_KEPT_LOCK = threading.Lock()
_TYPMOD = re.compile(r"\(\d+(?:,\d+)?\)")


class PostgresSettings(ConnectorSettings):
    """A PostgreSQL database: `url`, or its parts (the password best from ${VAR})."""

    url: str | None = None
    host: str | None = None
    port: int = DEFAULT_PORT
    user: str | None = None
    password: str | None = None
    database: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None:
            _check_url(url)
        return url

    @model_validator(mode="after")
    def _url_or_parts(self) -> PostgresSettings:
        parts = [self.host, self.user, self.password, self.database]
        if self.url is not None and any(p is not None for p in parts):
            raise ValueError("set either url or host/port/user/password/database, not both")
        if self.url is None and (self.host is None or self.database is None):
            raise ValueError("set url (postgresql://user@host:5432/db), or host and database")
        return self


def _check_url(url: str) -> None:
    """Reject a URL that urlsplit would misread; the messages never repeat any part of it (it may hold a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError("must start with postgresql://")
    # The host part ends at the first '/', '?' or '#'; an '@' after it means the password holds one of them, and
    # urlsplit would take part of the password for the port or the database name.
    host_part = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in rest and "@" not in host_part:
        raise ValueError(
            "cannot be read: the user or password before '@' holds '/', '?' or '#'. Percent-encode each of them "
            "(%2F for '/', %3F for '?', %23 for '#', %40 for '@'), or set host, user, password and database "
            "instead of url"
        )
    if host_part.count("@") > 1:
        # libpq ends the user and password at the first '@' and takes the rest for the host, which it then shows.
        raise ValueError(
            "cannot be read: the user or password before '@' holds another '@'. Percent-encode it as %40, or set "
            "host, user, password and database instead of url"
        )
    try:
        urlsplit(url).port  # noqa: B018  (reading .port is what checks it)
    except ValueError:
        raise ValueError(
            "cannot be read: its host or port is malformed (the port is a number from 0 to 65535). "
            "Write postgresql://user@host:5432/db"
        ) from None


class PostgresDatabase(Database):
    placeholder = "$1"
    # A column's collation may order text unlike Polars' byte order. "C" orders by bytes, which is Polars' order in
    # a UTF-8 database; text is still not pushed down, for a database in another encoding.
    pushdown_text = False
    binary_collation = '"C"'
    type_name = "postgres"
    default_schema = "public"
    temp_schema = "pg_temp"
    folds_case = False  # a quoted name keeps its case
    max_name_bytes = 63  # longer names are cut short by PostgreSQL without a word
    settings: PostgresSettings

    def url(self) -> str:
        s = self.settings
        if s.url is not None:
            url = s.url
        else:
            login = url_quote(s.user or "", safe="")
            if s.password is not None:
                login += ":" + url_quote(s.password, safe="")
            url = f"postgresql://{login}{'@' if login else ''}{s.host}:{s.port}/{url_quote(s.database or '')}"
        if "connect_timeout=" not in url:
            url += ("&" if "?" in url else "?") + f"connect_timeout={CONNECT_TIMEOUT_SECONDS}"
        return url

    def _address(self) -> tuple[str, int, str]:
        s = self.settings
        if s.url is None:
            return (s.host or "localhost").lower(), s.port, s.database or ""
        parts = urlsplit(s.url)
        return (parts.hostname or "localhost").lower(), parts.port or DEFAULT_PORT, parts.path.lstrip("/")

    def identity(self) -> str:
        host, port, database = self._address()
        return f"postgres://{host}:{port}/{database}"

    def shown(self) -> str:
        return self.identity()

    def connect(self, *, create: bool) -> Session:
        dbapi = import_driver("adbc_driver_postgresql.dbapi", "postgres", "postgres")
        url = self.url()
        with AdbcSession.errors():
            # The driver reads the server's type catalog for each new database object (about 50 ms), so one
            # connection per server is kept and the others are cloned from it (a few ms each).
            with _KEPT_LOCK:
                first = _KEPT.get(url)
                if first is None:
                    first = _KEPT[url] = dbapi.connect(url, autocommit=True)
                    if len(_KEPT) == 1:
                        atexit.register(_close_kept)
            connection = first.adbc_clone()
            connection.adbc_connection.set_autocommit(True)  # hygge issues BEGIN and COMMIT itself
        session = AdbcSession(connection, {})
        # A killed hygge leaves its statement running on the server (a long INSERT holds its locks, and the next
        # run waits for it) until the server next writes to the gone client; this makes it look every 2 s.
        # PostgreSQL 14 and later; older servers do without.
        with suppress(DatabaseError):
            session.execute(f"SET client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'")
        return session

    def ensure_schema(self, session: Session, schema: str) -> None:
        # CREATE SCHEMA IF NOT EXISTS needs the right to create schemas even when the schema exists.
        if not session.rows("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", [schema]):
            super().ensure_schema(session, schema)

    # types

    def stored_type(self, dtype: pl.DataType) -> pl.DataType:
        dtype = super().stored_type(dtype)
        if (found := _wider().get(dtype)) is not None:
            return found
        if isinstance(dtype, pl.Datetime) and dtype.time_unit != "us":
            return pl.Datetime("us", dtype.time_zone)  # PostgreSQL keeps microseconds
        return dtype

    def kept_step(self, dtype: pl.DataType) -> int | None:
        if dtype == pl.Time:
            return 1_000  # time keeps microseconds, where Polars' Time has nanoseconds
        return super().kept_step(dtype)

    def ddl_type(self, dtype: pl.DataType) -> str:
        if (found := _scalars().get(dtype)) is not None:
            return found
        if isinstance(dtype, pl.Decimal):
            return f"numeric({dtype.precision},{dtype.scale})"
        if isinstance(dtype, pl.Datetime):
            return "timestamp with time zone" if dtype.time_zone else "timestamp without time zone"
        if isinstance(dtype, pl.List):
            inner = inner_type(dtype)
            if inner in _scalars() or isinstance(inner, pl.Datetime):
                return self.ddl_type(inner) + "[]"
        if is_nested(dtype):
            return "jsonb"  # structs and lists of anything but plain values
        raise FlowError(f"postgres stores cannot hold {dtype} columns")

    def declared_column(self, name: str, declared: str) -> Column:
        base = _TYPMOD.sub("", declared).strip()
        native = _native()
        if base in native:
            return Column(name, declared, native[base])
        if base.endswith("[]") and base[:-2] in native:
            return Column(name, declared, pl.List(native[base[:-2]]))
        if match := NUMERIC.fullmatch(declared):
            precision, scale = match.groups()
            dtype = (
                pl.Decimal(min(int(precision), MAX_PRECISION), min(int(scale or 0), MAX_PRECISION))
                if precision
                else pl.Decimal(*UNCONSTRAINED_NUMERIC)
            )
            return Column(name, declared, dtype, read_as_text=True)
        # json, jsonb, uuid, interval, enums, ...: text both ways, cast by PostgreSQL on the way in.
        return Column(name, declared, pl.String(), read_as_text=True, write_as_text=True)

    # the catalog

    def columns(self, session: Session, table: TableName) -> list[Column] | None:
        if not session.rows("SELECT to_regclass($1) IS NOT NULL", [table.sql])[0][0]:
            return None
        found = session.rows(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [table.sql],
        )
        return [self.declared_column(name, declared) for name, declared in found]

    def unique_keys(self, session: Session, table: TableName) -> list[frozenset[str]]:
        rows = session.rows(
            "SELECT array_agg(a.attname::text) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass($1) "
            "AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL GROUP BY i.indexrelid",
            [table.sql],
        )
        return [frozenset(row[0]) for row in rows]

    def tables(self, session: Session, schema: str) -> list[str]:
        rows = session.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [schema])
        return [row[0] for row in rows]

    # reading

    def select_sql(self, relation: str, columns: Sequence[Column], limit: int | None) -> str:
        # An array's dimensions, which the driver's list loses, checked by finish_batch.
        listed = ", ".join([*(self.select_column(c) for c in columns), *dimensions_sql(columns)])
        return f"SELECT {listed} FROM {relation}" + (f" LIMIT {int(limit)}" if limit is not None else "")

    def finish_batch(self, frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
        return super().finish_batch(check_batch(frame, columns), columns)

    def parts(self, session: Session, table: TableName) -> Parts | None:
        """A large table: ranges of its pages on connections sharing the snapshot `session` exports."""
        ranges = self._page_ranges(session, table)
        if ranges is None:
            return None
        snapshot = session.rows("SELECT pg_export_snapshot()")[0][0]

        def join(part: Session) -> None:
            part.execute(_REPEATABLE)
            part.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")

        # the exporting transaction on `session` stays open until every part has read its range
        return Parts(ranges, join)

    def _page_ranges(self, session: Session, table: TableName) -> list[str] | None:
        """WHERE conditions splitting `table` by pages (the last range open-ended), in a repeatable-read
        transaction begun on `session`; None when the table is small or not a plain table."""
        try:
            session.execute(_REPEATABLE)
            found = session.rows(
                "SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint FROM pg_catalog.pg_class c "
                "WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'm')",
                [table.sql],
            )
        except DatabaseError:
            with suppress(DatabaseError):
                session.execute("ROLLBACK")
            return None
        pages = int(found[0][0]) if found else 0
        if pages < MIN_PARALLEL_PAGES:
            return None
        return range_conditions(0, pages, lambda op, page: f"ctid {op} '({page},0)'::tid")


def _close_kept() -> None:
    """Close the kept connections while the interpreter can still run their cleanup."""
    with _KEPT_LOCK:
        for connection in _KEPT.values():
            with suppress(Exception):
                connection.close()
        _KEPT.clear()


class PostgresConnector(SqlConnector):
    type_name = "postgres"
    settings_model = PostgresSettings
    database_class = PostgresDatabase
    template_settings: ClassVar[dict[str, Any]] = {
        "url": "postgresql://${PG_USER:-postgres}:${PG_PASSWORD}@${PG_HOST:-localhost}:5432/${PG_DATABASE:-{name}}"
    }
