"""Where a benchmark run keeps its data: the sources of one dataset and the output of each (move, tool).

Only the standard library here: the worker imports this under any interpreter (the DuckDB-scanner one too).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE_KINDS = ("csv", "parquet", "ndjson")
DATABASE_FILE_KINDS = ("sqlite", "duckdb")
SOURCE_TABLE = "source"
OUTPUT_TABLE = "out"
SOURCE_SCHEMA = "bench_src"  # PostgreSQL: the sources
OUTPUT_SCHEMA = "bench_out"  # PostgreSQL: hygge's and the raw engines' outputs


def slug(text: str) -> str:
    """A name usable as a file, flow, table or schema name: `csv-parquet` -> `csv_parquet`."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@dataclass(frozen=True)
class Place:
    """One readable or writable thing: a file or folder (`path`), or a table in a database (`schema`.`table`)."""

    kind: str
    path: Path | None = None
    schema: str | None = None
    table: str | None = None

    @property
    def qualified(self) -> str:
        """`schema.table` quoted for SQL (the table alone where there is no schema)."""
        parts = [p for p in (self.schema, self.table) if p]
        return ".".join(f'"{p}"' for p in parts)


@dataclass(frozen=True)
class Context:
    """One benchmark run's settings, passed to each worker process as JSON."""

    dataset: str  # synthetic-1000000, lineitem-sf1
    data_dir: Path  # bench/data/<dataset>: the sources
    out_dir: Path  # where outputs are written, emptied before each run
    pg_url: str
    batch_size: int = 100_000
    rows: int = 0
    # the base table's columns and their kinds (int, float, decimal:<scale>, string, date, datetime, bool)
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def pg_table(self) -> str:
        return slug(self.dataset)

    def source(self, kind: str) -> Place:
        if kind in FILE_KINDS:
            return Place(kind, path=self.data_dir / f"{SOURCE_TABLE}.{kind}")
        if kind in DATABASE_FILE_KINDS:
            return Place(kind, path=self.data_dir / f"{SOURCE_TABLE}.{kind}", table=SOURCE_TABLE)
        if kind == "postgres":
            return Place(kind, schema=SOURCE_SCHEMA, table=self.pg_table)
        raise ValueError(f"unknown kind {kind}")

    def output(self, kind: str, move: str, tool: str) -> Place:
        """Where `tool` writes `move`'s result: a folder of Parquet files, or a table in a database."""
        folder = self.out_dir / move
        if kind == "parquet":
            return Place(kind, path=folder / slug(tool))
        if kind in DATABASE_FILE_KINDS:
            return Place(kind, path=folder / f"{slug(tool)}.{kind}", table=OUTPUT_TABLE)
        if kind == "postgres":
            return Place(kind, schema=OUTPUT_SCHEMA, table=f"{slug(move)}_{slug(tool)}")
        raise ValueError(f"{kind} is not a target kind here")

    def to_json(self) -> str:
        data = asdict(self)
        data["data_dir"], data["out_dir"] = str(self.data_dir), str(self.out_dir)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Context:
        data = json.loads(text)
        data["data_dir"], data["out_dir"] = Path(data["data_dir"]), Path(data["out_dir"])
        return cls(**data)
