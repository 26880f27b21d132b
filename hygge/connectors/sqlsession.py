"""Sessions: one open connection to a database, whatever its driver, with the driver's errors as hygge's.

A `Session` runs statements, small queries and Arrow batch streams, ingests Arrow batches into a table, and
wraps a transaction; `AdbcSession` is one over an ADBC connection (SQLite, PostgreSQL). Drivers are imported
when first needed (`import_driver`), and what they raise comes out as `DatabaseError`, passwords masked.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from hygge.connectors.sqlnames import TableName
from hygge.errors import FlowError, MissingDriverError
from hygge.redact import redact

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["AdbcSession", "DatabaseError", "Session", "driver_error", "import_driver"]


class DatabaseError(FlowError):
    """A database refused a statement or a connection; `retryable` when trying again may help (locks, network)."""

    def __init__(self, message: str, *, retryable: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


def driver_error(exc: BaseException, *, retryable: bool) -> DatabaseError:
    """A driver's exception as a DatabaseError: its first lines, passwords masked."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return DatabaseError(redact(" ".join(lines[:3]) or type(exc).__name__), retryable=retryable)


def import_driver(module: str, type_name: str, extra: str) -> Any:
    """Import a driver module when it is first needed, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDriverError(type_name, module.split(".")[0].replace("_", "-"), extra) from exc


class Session(ABC):
    """One open connection; driver errors come out as DatabaseError."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement that returns nothing."""

    @abstractmethod
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a small query and return all its rows."""

    @abstractmethod
    def batches(self, sql: str, batch_size: int, params: Sequence[Any] = ()) -> Generator[pa.RecordBatch, None, None]:
        """Stream a query's rows as Arrow record batches of about `batch_size` rows."""

    @abstractmethod
    def ingest(self, table: TableName, reader: pa.RecordBatchReader) -> None:
        """Insert every batch of `reader` into the existing `table`, matching columns by name."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, begin: str) -> Iterator[None]:
        """Everything inside commits together, or rolls back on any exception (Ctrl-C included)."""
        self.execute(begin)
        try:
            yield
        except BaseException:
            try:
                self.execute("ROLLBACK")
            except DatabaseError:
                pass  # the connection is gone, and the transaction with it
            raise
        self.execute("COMMIT")


class AdbcSession(Session):
    """A session over an ADBC DB-API connection in autocommit mode; hygge issues BEGIN and COMMIT itself."""

    def __init__(self, connection: Any, read_options: dict[str, str], *, schema_is_catalog: bool = False) -> None:
        self.connection = connection
        self.read_options = read_options  # `{rows}` in a value is the batch size
        self.schema_is_catalog = schema_is_catalog  # SQLite's driver calls an attached database a catalog

    @staticmethod
    @contextmanager
    def errors() -> Iterator[None]:
        import adbc_driver_manager.dbapi as dbapi

        try:
            yield
        except dbapi.OperationalError as exc:
            raise driver_error(exc, retryable=True) from exc
        except dbapi.Error as exc:
            raise driver_error(exc, retryable=False) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.errors(), closing(self.connection.cursor()) as cursor:
            cursor.execute(sql, list(params) or None)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.errors(), closing(self.connection.cursor()) as cursor:
            cursor.execute(sql, list(params) or None)
            return list(cursor.fetchall())

    def batches(self, sql: str, batch_size: int, params: Sequence[Any] = ()) -> Generator[pa.RecordBatch, None, None]:
        with self.errors(), closing(self.connection.cursor()) as cursor:
            options = {key: value.format(rows=batch_size) for key, value in self.read_options.items()}
            if options:
                cursor.adbc_statement.set_options(**options)
            cursor.execute(sql, list(params) or None)
            yield from cursor.fetch_record_batch()

    def ingest(self, table: TableName, reader: pa.RecordBatchReader) -> None:
        with self.errors(), closing(self.connection.cursor()) as cursor:
            where = {"catalog_name" if self.schema_is_catalog else "db_schema_name": table.schema}
            cursor.adbc_ingest(table.name, reader, mode="append", **where)

    def close(self) -> None:
        with self.errors():
            self.connection.close()
