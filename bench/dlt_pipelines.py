"""dlt's side of each move: a resource over the source and a destination for the target, dlt's fastest formats.

File sources are fed to dlt as Arrow batches (its fastest input); databases are read with dlt's own
`sql_table` (pyarrow backend), DuckDB through its Arrow reader. Destinations: filesystem (Parquet), duckdb,
postgres (CSV through COPY) and sqlalchemy for SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.context import OUTPUT_TABLE, Context, Place
from bench.moves import Move

DATASET = "bench_dlt"
FORMATS = {"parquet": "parquet", "duckdb": "parquet", "postgres": "csv", "sqlite": "parquet"}


def output(ctx: Context, move: Move) -> Place:
    """Where dlt puts a move's rows: a dataset is a schema, a folder, or (SQLite) a database file of its own."""
    folder = ctx.out_dir / move.name
    if move.target == "parquet":
        return Place("parquet", path=folder / "dlt")
    if move.target == "sqlite":
        return Place("sqlite", path=folder / f"dlt__{DATASET}.sqlite", table=OUTPUT_TABLE)
    if move.target == "duckdb":
        return Place("duckdb", path=folder / "dlt.duckdb", schema=DATASET, table=OUTPUT_TABLE)
    return Place("postgres", schema=f"{DATASET}_{move.slug}", table=OUTPUT_TABLE)


def with_password(url: str) -> str:
    """dlt insists on a password even where the server trusts the user; any one will do then."""
    parts = urlsplit(url)
    if parts.password or not parts.username:
        return url
    netloc = f"{parts.username}:bench@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _destination(ctx: Context, move: Move) -> tuple[Any, str]:
    import dlt

    folder = ctx.out_dir / move.name
    if move.target == "parquet":
        return dlt.destinations.filesystem(f"file://{folder / 'dlt'}"), DATASET
    if move.target == "sqlite":
        return dlt.destinations.sqlalchemy(f"sqlite:///{folder / 'dlt.sqlite'}"), DATASET
    if move.target == "duckdb":
        return dlt.destinations.duckdb(str(folder / "dlt.duckdb")), DATASET
    return dlt.destinations.postgres(with_password(ctx.pg_url)), output(ctx, move).schema or DATASET


def _arrow_batches(ctx: Context, src: Place) -> Iterator[Any]:
    from bench.engines import polars_scan

    for frame in polars_scan(src).collect_batches(chunk_size=ctx.batch_size):
        yield from frame.to_arrow().to_batches()


def _duckdb_batches(ctx: Context, src: Place) -> Iterator[Any]:
    import duckdb

    with duckdb.connect(str(src.path), read_only=True) as conn:
        yield from conn.sql(f"SELECT * FROM {src.qualified}").to_arrow_reader(ctx.batch_size)


def _resource(ctx: Context, src: Place) -> Any:
    import dlt

    if src.kind in ("sqlite", "postgres"):
        from dlt.sources.sql_database import sql_table

        # SQLAlchemy 2.1 picks psycopg 3 for postgresql://; dlt's postgres extra installs psycopg2.
        pg_url = with_password(ctx.pg_url).replace("postgresql://", "postgresql+psycopg2://", 1)
        url = f"sqlite:///{src.path}" if src.kind == "sqlite" else pg_url
        return sql_table(
            credentials=url, table=str(src.table), schema=src.schema, backend="pyarrow", chunk_size=ctx.batch_size
        )
    batches = _duckdb_batches if src.kind == "duckdb" else _arrow_batches
    return dlt.resource(batches(ctx, src), name="source")


def run(ctx: Context, move: Move, pipelines_dir: Path) -> None:
    import dlt

    destination, dataset = _destination(ctx, move)
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{move.slug}",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(pipelines_dir),
    )
    pipeline.run(
        _resource(ctx, ctx.source(move.source)),
        table_name=OUTPUT_TABLE,
        write_disposition="replace",
        loader_file_format=FORMATS[move.target],
    )
