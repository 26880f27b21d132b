"""The moves the benchmark times, each with its raw candidates; hygge's and dlt's side are built from the kinds.

Only the standard library here (see context.py): candidates name their engine function in bench.engines.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.context import slug

HYGGE = "hygge"
DLT = "dlt"
RAW = "raw:"


@dataclass(frozen=True)
class Candidate:
    """One raw approach: `engine` is a function in bench.engines."""

    name: str
    engine: str
    scanner: bool = False  # needs the DuckDB interpreter with the SQLite/PostgreSQL scanner extensions
    needs: str | None = None  # a module that must be importable (optional engines are skipped without it)

    @property
    def tool(self) -> str:
        return RAW + self.name


@dataclass(frozen=True)
class Move:
    name: str
    source: str
    target: str
    raw: tuple[Candidate, ...]

    @property
    def slug(self) -> str:
        return slug(self.name)

    @property
    def postgres(self) -> bool:
        return "postgres" in (self.source, self.target)

    def candidate(self, name: str) -> Candidate:
        return next(c for c in self.raw if c.name == name)


POLARS_SINK = Candidate("polars-sink", "polars_sink")
DUCKDB_COPY = Candidate("duckdb-copy", "duckdb_copy")
ADBC_SOURCE = Candidate("adbc-polars-source", "adbc_polars_source")
ADBC_INGEST = Candidate("adbc-ingest", "adbc_ingest")
CONNECTORX = Candidate("connectorx", "connectorx_read", needs="connectorx")
DUCKDB_CTAS = Candidate("duckdb-ctas", "duckdb_ctas")
DUCKDB_INSERT = Candidate("duckdb-arrow-insert", "duckdb_arrow_insert")
DUCKDB_POLARS = Candidate("duckdb-arrow-polars", "duckdb_arrow_polars")
SCANNER = Candidate("duckdb-scanner", "duckdb_scanner", scanner=True)

MOVES: tuple[Move, ...] = (
    Move("csv-parquet", "csv", "parquet", (POLARS_SINK, DUCKDB_COPY)),
    Move("parquet-parquet", "parquet", "parquet", (POLARS_SINK, DUCKDB_COPY)),
    Move("ndjson-parquet", "ndjson", "parquet", (POLARS_SINK, DUCKDB_COPY)),
    Move("sqlite-parquet", "sqlite", "parquet", (ADBC_SOURCE, CONNECTORX, SCANNER)),
    Move("parquet-sqlite", "parquet", "sqlite", (ADBC_INGEST, SCANNER)),
    Move("duckdb-parquet", "duckdb", "parquet", (DUCKDB_COPY, DUCKDB_POLARS)),
    Move("parquet-duckdb", "parquet", "duckdb", (DUCKDB_CTAS, DUCKDB_INSERT)),
    Move("postgres-parquet", "postgres", "parquet", (ADBC_SOURCE, CONNECTORX, SCANNER)),
    Move("parquet-postgres", "parquet", "postgres", (ADBC_INGEST, SCANNER)),
    Move("postgres-postgres", "postgres", "postgres", (Candidate("adbc-stream", "adbc_stream"), SCANNER)),
)
BY_NAME = {move.name: move for move in MOVES}


def find(name: str) -> Move:
    """A move by name; `csv_parquet`, `csv->parquet` and `csv-parquet` all work."""
    wanted = slug(name.replace("->", "-"))
    for move in MOVES:
        if move.slug == wanted:
            return move
    raise KeyError(f"unknown move {name!r}; moves: {', '.join(BY_NAME)}")
