"""Real databases for tests: a SQLite and a DuckDB file in tmp_path, and a PostgreSQL schema of the test's own.

PostgreSQL is at HYGGE_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). When it cannot be
reached its tests are skipped with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hygge.connectors import get_connector
from hygge.connectors.base import ReadRequest, WriteRequest
from hygge.connectors.sql import SqlHome, SqlStore
from hygge.connectors.sqldatabase import Database

POSTGRES_URL = os.environ.get("HYGGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
KINDS = ("sqlite", "duckdb", "postgres")


@functools.cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        import adbc_driver_postgresql.dbapi as dbapi

        separator = "&" if "?" in POSTGRES_URL else "?"
        with dbapi.connect(f"{POSTGRES_URL}{separator}connect_timeout=5") as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchall()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL at HYGGE_TEST_POSTGRES_URL={POSTGRES_URL} is unreachable: {problem}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: database tests must run)")
    pytest.skip(message)


@dataclass
class Db:
    """One database under test, with what a test needs to write, read and look inside it."""

    kind: str
    root: Path
    settings: dict[str, Any]  # as a home or store file would set them
    schema: str | None = None  # postgres: the test's own schema, dropped afterwards

    def name(self, table: str) -> str:
        """`table` in this test's schema (postgres), else as it is."""
        return f"{self.schema}.{table}" if self.schema else table

    def yaml(self) -> str:
        return "\n".join([f"type: {self.kind}", *(f"{key}: {value}" for key, value in self.settings.items())]) + "\n"

    def _model(self) -> Any:
        return get_connector(self.kind).settings_model.model_validate({"type": self.kind, **self.settings})

    def store(self) -> SqlStore:
        store = get_connector(self.kind).store("test_store", self._model(), self.root)
        assert isinstance(store, SqlStore)
        return store

    def home(self) -> SqlHome:
        home = get_connector(self.kind).home("test_home", self._model(), self.root)
        assert isinstance(home, SqlHome)
        return home

    @property
    def database(self) -> Database:
        return self.store().database

    def write(self, frame: pl.DataFrame | pl.LazyFrame, table: str, **request: Any) -> int:
        lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
        return self.store().write(lazy, WriteRequest(flow="test", target=self.name(table), **request)).rows

    def read(self, table: str, *, sort: str | None = None, **request: Any) -> pl.DataFrame:
        frame = self.home().read(ReadRequest(flow="test", source=self.name(table), **request)).collect()
        return frame.sort(sort) if sort else frame

    def query(self, sql: str) -> pl.DataFrame:
        return self.home().read(ReadRequest(flow="test", source="-", query=sql)).collect()

    def execute(self, sql: str) -> None:
        with self.database.connect(create=True) as session:
            session.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.database.connect(create=True) as session:
            return session.rows(sql)

    def tables(self) -> list[str]:
        database = self.database
        with database.connect(create=True) as session:
            return sorted(database.tables(session, self.schema or database.default_schema))

    def sql_name(self, table: str) -> str:
        """`table` of this test's schema as SQL, for statements a test runs itself."""
        return self.database.table(self.name(table)).sql


def make_db(kind: str, tmp_path: Path) -> Iterator[Db]:
    """A fresh database of `kind`; a postgres schema is dropped again afterwards."""
    if kind == "sqlite":
        yield Db("sqlite", tmp_path, {"path": "data/test.sqlite"})
    elif kind == "duckdb":
        yield Db("duckdb", tmp_path, {"path": "data/test.duckdb"})
    else:
        require_postgres()
        db = Db("postgres", tmp_path, {"url": POSTGRES_URL}, schema=f"hygge_test_{uuid.uuid4().hex[:12]}")
        db.execute(f'CREATE SCHEMA "{db.schema}"')
        try:
            yield db
        finally:
            db.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Each database in turn."""
    yield from make_db(request.param, tmp_path)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Db]:
    yield from make_db("sqlite", tmp_path)


@pytest.fixture
def duckdb_db(tmp_path: Path) -> Iterator[Db]:
    yield from make_db("duckdb", tmp_path)


@pytest.fixture
def postgres_db(tmp_path: Path) -> Iterator[Db]:
    yield from make_db("postgres", tmp_path)
