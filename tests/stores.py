"""Every store type the exactly-once suite runs against: how to declare it and how to read a target back."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class StoreKind:
    name: str
    store_yaml: Callable[[Path], str]
    read_target: Callable[[Path, Path], pl.DataFrame]
    requirement: Callable[[], None] = field(default=lambda: None)
    target: Callable[[Path], str] = field(default=lambda _tmp: "events")
    cleanup: Callable[[Path], None] = field(default=lambda _tmp: None)

    def require(self) -> None:
        """Skip (or, under CI, fail) when the store's server or driver is not there."""
        self.requirement()


def _file_kind(fmt: str) -> StoreKind:
    def read(tmp_path: Path, root: Path) -> pl.DataFrame:
        base = root / "data" / "out"
        files = [base / f"events.{fmt}"] if (base / f"events.{fmt}").exists() else []
        files += sorted((base / "events").glob(f"*.{fmt}")) if (base / "events").is_dir() else []
        reader = {"parquet": pl.read_parquet, "csv": pl.read_csv, "ndjson": pl.read_ndjson}[fmt]
        frames = [reader(f) for f in files]  # type: ignore[operator]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()

    return StoreKind(fmt, lambda _tmp: f"type: {fmt}\npath: data/out\n", read)


def _read_sqlite(tmp_path: Path, root: Path) -> pl.DataFrame:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(root / "data" / "out.sqlite")) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_schema WHERE name = 'events'").fetchall():
            return pl.DataFrame()
        rows = connection.execute("SELECT id, seq, value FROM events").fetchall()
    return pl.DataFrame(rows, schema={"id": pl.Int64, "seq": pl.Int64, "value": pl.String}, orient="row")


def _read_duckdb(tmp_path: Path, root: Path) -> pl.DataFrame:
    import duckdb

    with duckdb.connect(str(root / "data" / "out.duckdb"), read_only=True) as connection:
        if not connection.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'events'").fetchall():
            return pl.DataFrame()
        return connection.sql("SELECT id, seq, value FROM events").pl()


def _pg_schema(tmp_path: Path) -> str:
    # One schema per test, so parallel workers never share a target.
    return "hygge_eo_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]


def _pg_execute(sql: str) -> list[tuple[object, ...]]:
    import adbc_driver_postgresql.dbapi as dbapi
    from databases import POSTGRES_URL

    with dbapi.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        rows = list(cursor.fetchall()) if cursor.description else []
        connection.commit()
        return rows


def _read_postgres(tmp_path: Path, root: Path) -> pl.DataFrame:
    schema = _pg_schema(tmp_path)
    if not _pg_execute(f"SELECT 1 FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'events'"):
        return pl.DataFrame()
    rows = _pg_execute(f'SELECT id, seq, value FROM "{schema}".events')
    return pl.DataFrame(rows, schema={"id": pl.Int64, "seq": pl.Int64, "value": pl.String}, orient="row")


def _require_postgres() -> None:
    from databases import require_postgres

    require_postgres()


POSTGRES = StoreKind(
    "postgres",
    lambda _tmp: "type: postgres\nurl: ${HYGGE_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}\n",
    _read_postgres,
    _require_postgres,
    target=lambda tmp: f"{_pg_schema(tmp)}.events",
    cleanup=lambda tmp: _pg_execute(f'DROP SCHEMA IF EXISTS "{_pg_schema(tmp)}" CASCADE') and None,
)

STORES: list[StoreKind] = [
    _file_kind("parquet"),
    _file_kind("csv"),
    StoreKind("sqlite", lambda _tmp: "type: sqlite\npath: data/out.sqlite\n", _read_sqlite),
    StoreKind("duckdb", lambda _tmp: "type: duckdb\npath: data/out.duckdb\n", _read_duckdb),
    POSTGRES,
]
