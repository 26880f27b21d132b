"""Deterministic benchmark data: a synthetic 10-column table or TPC-H lineitem, and every source derived from it.

The base table is Parquet; CSV and NDJSON come from Polars sinks, SQLite and PostgreSQL from ADBC bulk ingest of
streamed batches, DuckDB from its own Parquet reader. Each finished source is noted in `sources.json`, so a later
run with the same parameters reuses it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from bench.context import SOURCE_SCHEMA, Context, Place
from bench.verify import Checksum, checksum_frame, column_kinds

GENERATOR_VERSION = 1
SEED = 20240611
CHUNK_ROWS = 1_000_000
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_WORDS = (
    "hygge moves rows from homes to stores quietly, with a warm cup of tea and a blanket; "
    'orders said "ship it" at dawn café naïve façade 12.5% of 3,000 lines & more <tags> '
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
).split()


def _random(index: pl.Expr, stream: int) -> pl.Expr:
    """splitmix64 of (index, stream): the same numbers on any machine and any Polars version."""
    start = ((SEED * 31 + stream) * _GOLDEN + _GOLDEN) & _MASK
    x = index.cast(pl.UInt64) + pl.lit(start, pl.UInt64)
    x = x.xor(x // pl.lit(1 << 30, pl.UInt64)) * pl.lit(0xBF58476D1CE4E5B9, pl.UInt64)
    x = x.xor(x // pl.lit(1 << 27, pl.UInt64)) * pl.lit(0x94D049BB133111EB, pl.UInt64)
    return x.xor(x // pl.lit(1 << 31, pl.UInt64))


def _text_pool(length: int = 4000) -> str:
    words, i = [], 0
    while sum(len(w) + 1 for w in words) < length:
        words.append(_WORDS[(i * 7919 + (i * i) % 13) % len(_WORDS)])
        i += 1
    return " ".join(words)


def synthetic_chunk(start: int, stop: int) -> pl.DataFrame:
    """Rows [start, stop) of the synthetic table: ints, floats, a decimal, short and long text, a date, a
    timestamp, a boolean, with nulls in several columns."""
    pool = _text_pool()
    i = pl.int_range(start, stop, dtype=pl.Int64)
    r = [_random(i, s) for s in range(8)]
    cents = (r[2] % 10_000_000_000).cast(pl.Int64)
    whole, frac = cents // 100, (cents % 100).cast(pl.String).str.zfill(2)
    note_start = (r[4] % (len(pool) - 210)).cast(pl.Int64)
    note_len = (r[4] // 7919 % 151 + 50).cast(pl.Int64)
    return pl.select(
        id=i,
        qty=pl.when(r[0] % 20 == 0).then(None).otherwise((r[0] // 20 % 1000).cast(pl.Int32)),
        price=(r[1] // 2048).cast(pl.Float64) / float(1 << 53) * 10_000.0,
        amount=pl.format("{}.{}", whole, frac).cast(pl.Decimal(12, 2)),
        code=pl.format("SKU-{}", (r[3] % 100_000).cast(pl.String).str.zfill(5)),
        note=pl.when(r[4] % 10 == 0).then(None).otherwise(pl.lit(pool).str.slice(note_start, note_len)),
        day=(pl.lit(10957, pl.Int32) + (r[5] % 9000).cast(pl.Int32)).cast(pl.Date),
        ts=(pl.lit(1_577_836_800_000_000) + (r[6] % 157_766_400_000_000).cast(pl.Int64)).cast(pl.Datetime("us")),
        flag=pl.when(r[7] % 7 == 0).then(None).otherwise(r[7] // 7 % 2 == 0),
        status=pl.lit(["new", "paid", "shipped", "returned"]).list.get((r[7] // 14 % 4).cast(pl.Int64)),
    )


def write_synthetic(path: Path, rows: int) -> None:
    import pyarrow.parquet as pq

    temp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    for start in range(0, rows, CHUNK_ROWS):
        table = synthetic_chunk(start, min(rows, start + CHUNK_ROWS)).to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(temp, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=250_000)
    assert writer is not None, "rows must be positive"
    writer.close()
    temp.replace(path)


def write_lineitem(path: Path, scale: float) -> None:
    """TPC-H lineitem at `scale`, from the tpchgen-cli package (`pip install tpchgen-cli`)."""
    tool = shutil.which("tpchgen-cli") or str(Path(_python_bin()) / "tpchgen-cli")
    work = path.parent / "tpchgen"
    work.mkdir(exist_ok=True)
    command = [tool, "parquet", "-s", str(scale), "--tables", "lineitem", "--compression", "ZSTD(1)"]
    subprocess.run([*command, "--output-dir", str(work), "--overwrite", "--quiet"], check=True)
    (work / "lineitem.parquet").replace(path)
    shutil.rmtree(work)


def _python_bin() -> str:
    return str(Path(sys.executable).parent)


# --- derived sources --------------------------------------------------------------------------------------


def _batches(base: Path, batch_size: int, exprs: list[pl.Expr] | None = None) -> Iterator[pl.DataFrame]:
    frame = pl.scan_parquet(base)
    if exprs is not None:
        frame = frame.select(exprs)
    yield from frame.collect_batches(chunk_size=batch_size)


def _reader(base: Path, batch_size: int, exprs: list[pl.Expr] | None = None) -> object:
    import pyarrow as pa

    first = pl.scan_parquet(base)
    schema_frame = first.select(exprs) if exprs is not None else first
    schema = schema_frame.head(0).collect().to_arrow(compat_level=pl.CompatLevel.oldest()).schema

    def gen() -> Iterator[pa.RecordBatch]:
        for frame in _batches(base, batch_size, exprs):
            yield from frame.to_arrow(compat_level=pl.CompatLevel.oldest()).to_batches()

    return pa.RecordBatchReader.from_batches(schema, gen())


def _sqlite_column(name: str, dtype: pl.DataType) -> tuple[str, pl.Expr]:
    """How a SQLite user would declare the column, and its values as SQLite keeps them (text for dates)."""
    col = pl.col(name)
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision},{dtype.scale})", col.cast(pl.String)
    if dtype == pl.Date:
        return "DATE", col.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP", col.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
    if dtype == pl.Boolean:
        return "BOOLEAN", col.cast(pl.Int64)
    if dtype.is_integer():
        return "INTEGER", col.cast(pl.Int64)
    if dtype.is_float():
        return "REAL", col.cast(pl.Float64)
    return "TEXT", col.cast(pl.String)


def _postgres_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"numeric({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    simple = {pl.Int8: "smallint", pl.Int16: "smallint", pl.Int32: "integer", pl.Int64: "bigint"}
    simple |= {pl.Float32: "real", pl.Float64: "double precision", pl.Boolean: "boolean", pl.Date: "date"}
    for polars_type, name in simple.items():
        if dtype == polars_type:
            return name
    return "text"


def make_csv(base: Path, place: Place) -> None:
    assert place.path is not None
    pl.scan_parquet(base).sink_csv(place.path)


def make_ndjson(base: Path, place: Place) -> None:
    assert place.path is not None
    pl.scan_parquet(base).sink_ndjson(place.path)


def make_sqlite(base: Path, place: Place, batch_size: int) -> None:
    import adbc_driver_sqlite.dbapi as dbapi

    assert place.path is not None
    place.path.unlink(missing_ok=True)
    schema = pl.scan_parquet(base).collect_schema()
    columns = [_sqlite_column(name, dtype) for name, dtype in schema.items()]
    declared = ", ".join(f'"{name}" {decl}' for name, (decl, _) in zip(schema, columns, strict=True))
    exprs = [expr.alias(name) for name, (_, expr) in zip(schema, columns, strict=True)]
    with dbapi.connect(str(place.path)) as conn:
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE TABLE "{place.table}" ({declared})')
            cursor.adbc_ingest(str(place.table), _reader(base, batch_size, exprs), mode="append")
        conn.commit()


def make_duckdb(base: Path, place: Place) -> None:
    import duckdb

    assert place.path is not None
    place.path.unlink(missing_ok=True)
    with duckdb.connect(str(place.path)) as conn:
        conn.execute(f"CREATE TABLE \"{place.table}\" AS SELECT * FROM read_parquet('{base}')")


def make_postgres(base: Path, place: Place, pg_url: str, batch_size: int) -> None:
    import adbc_driver_postgresql.dbapi as dbapi

    schema = pl.scan_parquet(base).collect_schema()
    declared = ", ".join(f'"{name}" {_postgres_type(dtype)}' for name, dtype in schema.items())
    with dbapi.connect(pg_url) as conn:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {SOURCE_SCHEMA}")
            cursor.execute(f"DROP TABLE IF EXISTS {place.qualified}")
            cursor.execute(f"CREATE TABLE {place.qualified} ({declared})")
            cursor.adbc_ingest(str(place.table), _reader(base, batch_size), mode="append", db_schema_name=place.schema)
            cursor.execute(f"ANALYZE {place.qualified}")
        conn.commit()


# --- the dataset ------------------------------------------------------------------------------------------


class Dataset:
    """The base table of one dataset, what it holds (count, checksum, column kinds) and its sources."""

    def __init__(self, data_dir: Path, name: str, *, rows: int | None, scale: float | None) -> None:
        self.dir = data_dir / name
        self.name = name
        self.rows_wanted = rows
        self.scale = scale
        self.base = self.dir / "base.parquet"
        self.marker = self.dir / "sources.json"

    def _params(self) -> dict[str, object]:
        return {"version": GENERATOR_VERSION, "seed": SEED, "rows": self.rows_wanted, "scale": self.scale}

    def _state(self) -> dict[str, object]:
        if self.marker.exists():
            state = json.loads(self.marker.read_text())
            if state.get("params") == self._params() and self.base.exists():
                return state
        return {"params": self._params(), "sources": [], "postgres": {}}

    def _save(self, state: dict[str, object]) -> None:
        self.marker.write_text(json.dumps(state, indent=2))

    def ensure_base(self) -> tuple[Checksum, dict[str, str]]:
        """Make the base table unless it is there with the same parameters; return what it holds."""
        self.dir.mkdir(parents=True, exist_ok=True)
        state = self._state()
        if "checksum" not in state:
            for stale in self.dir.glob("source.*"):
                stale.unlink()
            print(f"generating {self.name} ...", flush=True)
            if self.scale is not None:
                write_lineitem(self.base, self.scale)
            else:
                assert self.rows_wanted is not None
                write_synthetic(self.base, self.rows_wanted)
            frame = pl.scan_parquet(self.base)
            kinds = column_kinds(frame.collect_schema())
            state["kinds"] = kinds
            state["checksum"] = list(checksum_frame(frame, kinds))
            self._save(state)
        count, total = state["checksum"]  # type: ignore[misc]
        return Checksum(int(count), int(total)), dict(state["kinds"])  # type: ignore[arg-type]

    def ensure_sources(self, ctx: Context, kinds: set[str]) -> None:
        """Derive each source kind in `kinds` from the base table unless it was made already."""
        state = self._state()
        done: list[str] = state["sources"]  # type: ignore[assignment]
        pg_done: dict[str, str] = state["postgres"]  # type: ignore[assignment]
        for kind in sorted(kinds - {"parquet"}):
            place = ctx.source(kind)
            if kind == "postgres":
                if pg_done.get(ctx.pg_url) == place.qualified and _pg_has_rows(ctx, place):
                    continue
            elif kind in done and place.path is not None and place.path.exists():
                continue
            print(f"making the {kind} source of {self.name} ...", flush=True)
            self._make(ctx, kind, place)
            if kind == "postgres":
                pg_done[ctx.pg_url] = place.qualified
            elif kind not in done:
                done.append(kind)
            self._save(state)
        parquet = ctx.source("parquet").path
        assert parquet is not None
        if not parquet.exists():
            parquet.symlink_to(self.base.name)

    def _make(self, ctx: Context, kind: str, place: Place) -> None:
        if kind == "csv":
            make_csv(self.base, place)
        elif kind == "ndjson":
            make_ndjson(self.base, place)
        elif kind == "sqlite":
            make_sqlite(self.base, place, ctx.batch_size)
        elif kind == "duckdb":
            make_duckdb(self.base, place)
        elif kind == "postgres":
            make_postgres(self.base, place, ctx.pg_url, ctx.batch_size)


def _pg_has_rows(ctx: Context, place: Place) -> bool:
    import adbc_driver_postgresql.dbapi as dbapi

    try:
        with dbapi.connect(ctx.pg_url) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {place.qualified}")
            return bool(cursor.fetchone()[0] == ctx.rows)  # type: ignore[index]
    except dbapi.Error:
        return False
