"""Does an output hold exactly the base table's rows? A row count and an order-independent checksum.

Each column is first brought to a canonical value whatever type the tool stored it as (a date may come back as
text from SQLite, a boolean as 0/1, a decimal as text or a float), then each row is hashed and the hashes summed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from bench.context import Place

MODULUS = 1_000_000_007  # hashes are reduced first, so 10M of them sum far below 2**63
FLOAT_DIGITS = 6
_TRUE = ["true", "t", "1", "yes"]


class Checksum(NamedTuple):
    rows: int
    total: int


def column_kinds(schema: pl.Schema) -> dict[str, str]:
    """What each base column is, independent of how a tool stores it."""
    kinds = {}
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Decimal):
            kinds[name] = f"decimal:{dtype.scale}"
        elif dtype.is_integer():
            kinds[name] = "int"
        elif dtype.is_float():
            kinds[name] = "float"
        elif dtype == pl.Date:
            kinds[name] = "date"
        elif isinstance(dtype, pl.Datetime):
            kinds[name] = "datetime"
        elif dtype == pl.Boolean:
            kinds[name] = "bool"
        else:
            kinds[name] = "string"
    return kinds


def _scaled(col: pl.Expr, digits: int) -> pl.Expr:
    return (col.cast(pl.Float64) * 10.0**digits).round(0).cast(pl.Int64)


def _datetime(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        text = col.str.replace("T", " ", literal=True).str.strip_suffix("Z")
        return text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return col.dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.cast_time_unit("us")
    return col.cast(pl.Datetime("us"))


def _date(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return col.str.slice(0, 10).str.to_date("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    return col.cast(pl.Date)


def _bool(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        value = col.str.to_lowercase().is_in(_TRUE)
    elif dtype == pl.Boolean:
        value = col
    else:
        value = col.cast(pl.Float64) != 0
    return pl.when(col.is_null()).then(None).otherwise(value)


def canonical(name: str, kind: str, dtype: pl.DataType) -> pl.Expr:
    """Column `name`, stored as `dtype`, as the one canonical value of its `kind`."""
    col = pl.col(name)
    if kind == "int":
        expr = col.cast(pl.Int64)
    elif kind == "float":
        expr = _scaled(col, FLOAT_DIGITS)
    elif kind.startswith("decimal:"):
        expr = _scaled(col, int(kind.split(":")[1]))
    elif kind == "date":
        expr = _date(col, dtype).cast(pl.Int32)
    elif kind == "datetime":
        expr = _datetime(col, dtype).cast(pl.Int64)
    elif kind == "bool":
        expr = _bool(col, dtype).cast(pl.Int8)
    else:
        expr = col.cast(pl.String)
    return expr.alias(name)


def _sums(schema: pl.Schema, kinds: dict[str, str]) -> list[pl.Expr]:
    missing = [name for name in kinds if name not in schema]
    if missing:
        raise VerifyError(f"columns missing: {', '.join(missing)} (has {', '.join(schema.names())})")
    row = pl.struct([canonical(name, kind, schema[name]) for name, kind in kinds.items()])
    return [pl.len().alias("rows"), (row.hash(seed=0) % MODULUS).cast(pl.Int64).sum().alias("total")]


def checksum_frame(frame: pl.LazyFrame, kinds: dict[str, str]) -> Checksum:
    result = frame.select(_sums(frame.collect_schema(), kinds)).collect(engine="streaming")
    return Checksum(int(result["rows"][0]), int(result["total"][0] or 0))


def checksum_batches(frames: Iterable[pl.DataFrame], kinds: dict[str, str]) -> Checksum:
    rows = total = 0
    for frame in frames:
        result = frame.select(_sums(frame.schema, kinds))
        rows += int(result["rows"][0])
        total += int(result["total"][0] or 0)
    return Checksum(rows, total)


class VerifyError(Exception):
    """An output does not hold the rows it should."""


# --- reading outputs back -----------------------------------------------------------------------------------


def _plain(batch: Any) -> pl.DataFrame:
    """An Arrow batch as a Polars frame; extension columns (PostgreSQL numeric) become their storage (text)."""
    import pyarrow as pa

    columns = [c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in batch.columns]
    return pl.DataFrame(pa.RecordBatch.from_arrays(columns, names=batch.schema.names))


def parquet_files(folder: Path) -> list[Path]:
    """The data files a tool wrote under `folder`: `_` and `.` names are metadata (dlt's `_dlt_loads`) or temp."""
    found = folder.rglob("*.parquet")
    return sorted(p for p in found if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts))


def _sqlite_batches(place: Place, kinds: dict[str, str], batch_size: int) -> Iterator[pl.DataFrame]:
    import adbc_driver_sqlite.dbapi as dbapi

    # The driver types columns from the first rows; a first row of typed placeholders (then dropped) fixes them.
    affinity = {"int": ("INTEGER", "0"), "float": ("REAL", "0.0"), "bool": ("INTEGER", "0")}
    casts, primes = [], []
    for name, kind in kinds.items():
        sql_type, prime = affinity.get(kind, ("TEXT", "''"))
        casts.append(f'CAST("{name}" AS {sql_type}) AS "{name}"')
        primes.append(f'{prime} AS "{name}"')
    sql = f"SELECT 1 AS _p, {', '.join(primes)} UNION ALL SELECT 0, {', '.join(casts)} FROM {place.qualified}"
    with dbapi.connect(str(place.path)) as conn, conn.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_size)})
        cursor.execute(sql)
        for batch in cursor.fetch_record_batch():
            yield _plain(batch).filter(pl.col("_p") == 0).drop("_p")


def _duckdb_batches(place: Place, batch_size: int) -> Iterator[pl.DataFrame]:
    import duckdb

    with duckdb.connect(str(place.path), read_only=True) as conn:
        for batch in conn.sql(f"SELECT * FROM {place.qualified}").to_arrow_reader(batch_size):
            yield _plain(batch)


def _postgres_batches(place: Place, pg_url: str) -> Iterator[pl.DataFrame]:
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {place.qualified}")
        for batch in cursor.fetch_record_batch():
            yield _plain(batch)


def checksum_place(place: Place, kinds: dict[str, str], *, pg_url: str, batch_size: int = 100_000) -> Checksum:
    """Read what a tool wrote to `place` and checksum it."""
    if place.kind == "parquet":
        assert place.path is not None
        files = parquet_files(place.path) if place.path.is_dir() else []
        if not files:
            raise VerifyError(f"no Parquet files under {place.path}")
        return checksum_frame(pl.scan_parquet(files), kinds)
    if place.kind == "sqlite":
        return checksum_batches(_sqlite_batches(place, kinds, batch_size), kinds)
    if place.kind == "duckdb":
        return checksum_batches(_duckdb_batches(place, batch_size), kinds)
    if place.kind == "postgres":
        return checksum_batches(_postgres_batches(place, pg_url), kinds)
    raise ValueError(f"cannot read back {place.kind}")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str


def verify(place: Place, expected: Checksum, kinds: dict[str, str], *, pg_url: str) -> Verdict:
    """Whether `place` holds exactly the expected rows; never raises for a wrong or missing output."""
    try:
        got = checksum_place(place, kinds, pg_url=pg_url)
    except Exception as exc:  # any failure to read the output back is a failed verification, said why
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Verdict(False, f"could not read the output back: {first}")
    if got == expected:
        return Verdict(True, "ok")
    if got.rows != expected.rows:
        return Verdict(False, f"{got.rows} rows, expected {expected.rows}")
    return Verdict(False, f"checksum {got.total} differs from the source's {expected.total} (same row count)")
