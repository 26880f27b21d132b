"""The raw approaches: each moves one source to one output with an engine directly, no hygge in between.

Every function runs in a worker process of its own and imports its engine lazily, so a worker under the DuckDB
scanner interpreter (DuckDB 1.5 without Polars) can run the DuckDB ones.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.context import Context, Place

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

Engine = Callable[[Context, Place, Place], None]
PARQUET_FILE = "out.parquet"


def _out_file(out: Place) -> Path:
    assert out.path is not None
    out.path.mkdir(parents=True, exist_ok=True)
    return out.path / PARQUET_FILE


# --- Polars -------------------------------------------------------------------------------------------------


def polars_scan(src: Place) -> pl.LazyFrame:
    import polars as pl

    scans = {"csv": pl.scan_csv, "parquet": pl.scan_parquet, "ndjson": pl.scan_ndjson}
    return scans[src.kind](src.path)


def polars_sink(ctx: Context, src: Place, out: Place) -> None:
    """Polars streaming: `scan_*().sink_parquet()`."""
    polars_scan(src).sink_parquet(_out_file(out), compression="zstd")


def arrow_source(batches: Iterator[pa.RecordBatch]) -> pl.LazyFrame:
    """A lazy frame over a stream of record batches, as a Polars IO source (typed by the first batch; one use)."""
    import polars as pl
    from polars.io.plugins import register_io_source

    first = next(batches)
    schema = pl.DataFrame(_plain(first)).schema

    def source(with_columns: Any, predicate: Any, n_rows: Any, batch_size: Any) -> Iterator[pl.DataFrame]:
        for batch in itertools.chain([first], batches):
            frame = pl.DataFrame(_plain(batch))
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            yield frame

    return register_io_source(source, schema=schema)


def _plain(batch: Any) -> Any:
    """PostgreSQL numeric arrives as an Arrow extension type over text; Polars takes the text."""
    import pyarrow as pa

    if not any(isinstance(f.type, pa.BaseExtensionType) for f in batch.schema):
        return batch
    columns = [c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in batch.columns]
    return type(batch).from_arrays(columns, names=batch.schema.names)


def _batches_of(frame: pl.LazyFrame, batch_size: int) -> pa.RecordBatchReader:
    """A lazy frame streamed (`collect_batches`) as a pyarrow reader, what ADBC ingest and DuckDB take."""
    import polars as pl
    import pyarrow as pa

    compat = pl.CompatLevel.oldest()
    schema = frame.head(0).collect().to_arrow(compat_level=compat).schema

    def gen() -> Iterator[pa.RecordBatch]:
        for chunk in frame.collect_batches(chunk_size=batch_size):
            yield from chunk.to_arrow(compat_level=compat).to_batches()

    return pa.RecordBatchReader.from_batches(schema, gen())


# --- ADBC ---------------------------------------------------------------------------------------------------


def _adbc_connect(ctx: Context, place: Place) -> Any:
    if place.kind == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite

        return sqlite.connect(str(place.path))
    import adbc_driver_postgresql.dbapi as postgres

    return postgres.connect(ctx.pg_url)


def _adbc_batches(ctx: Context, src: Place) -> Iterator[pa.RecordBatch]:
    """A query's record batches, streamed on a connection of its own."""
    with _adbc_connect(ctx, src) as conn, conn.cursor() as cursor:
        if src.kind == "sqlite":
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(ctx.batch_size)})
        cursor.execute(f"SELECT * FROM {src.qualified}")
        yield from cursor.fetch_record_batch()


def adbc_polars_source(ctx: Context, src: Place, out: Place) -> None:
    """ADBC record batches as a Polars IO source, then `sink_parquet`."""
    arrow_source(_adbc_batches(ctx, src)).sink_parquet(_out_file(out), compression="zstd")


def _ingest(ctx: Context, out: Place, reader: pa.RecordBatchReader) -> None:
    with _adbc_connect(ctx, out) as conn:
        with conn.cursor() as cursor:
            if out.kind == "postgres":
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{out.schema}"')
                cursor.adbc_ingest(str(out.table), reader, mode="create", db_schema_name=out.schema)
            else:
                cursor.adbc_ingest(str(out.table), reader, mode="create")
        conn.commit()


def _sqlite_writable(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The SQLite driver binds no decimals: they go as exact text."""
    import polars as pl

    return frame.with_columns(pl.col(pl.Decimal).cast(pl.String))


def adbc_ingest(ctx: Context, src: Place, out: Place) -> None:
    """Polars streams the source in batches (`collect_batches`) into ADBC bulk ingest (COPY for PostgreSQL)."""
    frame = polars_scan(src)
    if out.kind == "sqlite":
        frame = _sqlite_writable(frame)
    _ingest(ctx, out, _batches_of(frame, ctx.batch_size))


def adbc_stream(ctx: Context, src: Place, out: Place) -> None:
    """ADBC record batches from the source straight into ADBC bulk ingest on a second connection."""
    import pyarrow as pa

    batches = _adbc_batches(ctx, src)
    first = next(batches)
    _ingest(ctx, out, pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], batches)))


def connectorx_read(ctx: Context, src: Place, out: Place) -> None:
    """connectorx reads the whole table into Arrow (partitioned for PostgreSQL), then pyarrow writes it."""
    import connectorx as cx
    import pyarrow.parquet as pq

    if src.kind == "sqlite":
        table = cx.read_sql(f"sqlite://{src.path}", f"SELECT * FROM {src.qualified}", return_type="arrow")
    else:
        # Two partitions (one per core) on the first integer column: `id`, or `l_orderkey` in lineitem.
        key = next((name for name, kind in ctx.kinds.items() if kind == "int"), None)
        parts = {"partition_on": key, "partition_num": 2} if key else {}
        table = cx.read_sql(ctx.pg_url, f"SELECT * FROM {src.qualified}", return_type="arrow", **parts)
    pq.write_table(table, _out_file(out), compression="zstd")


# --- DuckDB -------------------------------------------------------------------------------------------------


def _duckdb_relation(src: Place) -> str:
    # read_json types columns from a sample and fails on a later value that does not fit: read them all.
    readers = {"csv": "read_csv('{}')", "parquet": "read_parquet('{}')", "ndjson": "read_json('{}', sample_size=-1)"}
    return readers[src.kind].format(src.path)


def duckdb_copy(ctx: Context, src: Place, out: Place) -> None:
    """DuckDB `COPY (SELECT ...) TO 'out.parquet'` (zstd, like hygge)."""
    import duckdb

    target = _out_file(out)
    if src.kind == "duckdb":
        with duckdb.connect(str(src.path), read_only=True) as conn:
            conn.execute(f"COPY {src.qualified} TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        return
    with duckdb.connect() as conn:
        conn.execute(f"COPY (SELECT * FROM {_duckdb_relation(src)}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")


def duckdb_ctas(ctx: Context, src: Place, out: Place) -> None:
    """DuckDB `CREATE TABLE out AS SELECT * FROM read_parquet(...)`."""
    import duckdb

    with duckdb.connect(str(out.path)) as conn:
        conn.execute(f"CREATE TABLE {out.qualified} AS SELECT * FROM {_duckdb_relation(src)}")


def duckdb_arrow_insert(ctx: Context, src: Place, out: Place) -> None:
    """Polars batches registered in DuckDB as an Arrow stream and inserted: what a Polars-first tool does."""
    import duckdb

    reader = _batches_of(polars_scan(src), ctx.batch_size)
    with duckdb.connect(str(out.path)) as conn:
        conn.register("batches", reader)
        conn.execute(f"CREATE TABLE {out.qualified} AS SELECT * FROM batches")


def duckdb_arrow_polars(ctx: Context, src: Place, out: Place) -> None:
    """DuckDB's Arrow record-batch reader as a Polars IO source, then `sink_parquet`."""
    import duckdb

    conn = duckdb.connect(str(src.path), read_only=True)
    sql = f"SELECT * FROM {src.qualified}"
    frame = arrow_source(iter(conn.sql(sql).to_arrow_reader(ctx.batch_size)))
    frame.sink_parquet(_out_file(out), compression="zstd")


# --- DuckDB's SQLite and PostgreSQL scanners (DuckDB 1.5 with the scanner packages) --------------------------


def _load_scanner(conn: Any, name: str) -> None:
    """Load a scanner extension shipped by a `duckdb-extension-*` package: DuckDB 2 downloads them at run time."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"pip install duckdb-extension-{name.replace('_', '-')} into the scanner interpreter")
    found = next(Path(spec.submodule_search_locations[0]).rglob("*.duckdb_extension"))
    conn.execute(f"LOAD '{found}'")


def _attach(ctx: Context, conn: Any, place: Place, alias: str, *, read_only: bool) -> str:
    """Attach a SQLite file or the PostgreSQL database; returns the table's name through the attachment."""
    mode = ", READ_ONLY" if read_only else ""
    if place.kind == "sqlite":
        _load_scanner(conn, "sqlite_scanner")
        conn.execute(f"ATTACH '{place.path}' AS {alias} (TYPE sqlite{mode})")
        return f'{alias}."{place.table}"'
    _load_scanner(conn, "postgres_scanner")
    conn.execute(f"ATTACH '{_libpq(ctx.pg_url)}' AS {alias} (TYPE postgres{mode})")
    return f"{alias}.{place.qualified}"


def _libpq(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    fields = {"host": parts.hostname, "port": parts.port, "user": parts.username, "password": parts.password}
    fields["dbname"] = parts.path.lstrip("/")
    return " ".join(f"{k}={v}" for k, v in fields.items() if v)


def duckdb_scanner(ctx: Context, src: Place, out: Place) -> None:
    """DuckDB's SQLite / PostgreSQL scanner: ATTACH, then COPY to Parquet or CREATE TABLE AS across."""
    import duckdb

    same = src.kind == out.kind == "postgres"  # one attachment reads and writes
    with duckdb.connect() as conn:
        if src.kind in ("sqlite", "postgres"):
            source = _attach(ctx, conn, src, "src", read_only=not same)
        else:
            source = _duckdb_relation(src)
        if out.kind == "parquet":
            conn.execute(f"COPY (SELECT * FROM {source}) TO '{_out_file(out)}' (FORMAT parquet, COMPRESSION zstd)")
            return
        target = f"src.{out.qualified}" if same else _attach(ctx, conn, out, "dst", read_only=False)
        if out.kind == "postgres":
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {target.rsplit('.', 1)[0]}")
        conn.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
