"""Feeding a lazy frame to a database driver as Arrow batches, with bounded memory.

A store reshapes what it writes (casts to the column types, JSON text for nested values, a row number for merges).
Put in the streaming query, such a stage lets Polars decode far ahead of a slow consumer: Parquet -> SQLite at 4M
rows peaked at 885 MB with a cast in the query and 480 MB with the same cast applied to each batch as it is
written (bench/). So `Shaped` keeps the source query and the reshaping apart, and runs the reshaping per batch.

Even a bare query, asked for batches, keeps hundreds of MB of decoded batches ahead of a slow consumer (a Parquet
scan fed to a sleeping loop: 729 MB, against 407 MB pulling row groups one at a time). So when the home offers
its rows in pieces (`Home.read_with_pieces`), `Shaped` pulls those instead, one read ahead, and never asks the
engine for the whole source.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hygge.connectors.base import stop_if_cancelled
from hygge.faults import checkpoint
from hygge.lazy import pl
from hygge.prefetch import prefetched

if TYPE_CHECKING:
    import pyarrow as pa

    from hygge.connectors.base import Pieces

__all__ = ["Feeder", "Shaped", "Step"]

# A row-wise step: the frame of one batch and the position of its first row in the whole stream.
Step = Callable[["pl.LazyFrame", int], "pl.LazyFrame"]


@dataclass(frozen=True)
class Shaped:
    """A source query (and the same rows in pieces, when its home offers them), and the row-wise steps a store
    applies to it before writing."""

    source: pl.LazyFrame
    pieces: Pieces | None = None
    steps: tuple[Step, ...] = ()

    def then(self, step: Step) -> Shaped:
        return Shaped(self.source, self.pieces, (*self.steps, step))

    def select(self, exprs: list[pl.Expr] | list[str]) -> Shaped:
        return self.then(lambda frame, _first: frame.select(exprs))

    def with_row_number(self, name: str) -> Shaped:
        """A 0-based Int64 row number over the whole stream (batches carry on where the last one stopped)."""
        return self.then(
            lambda frame, first: frame.with_row_index(name, offset=first).with_columns(pl.col(name).cast(pl.Int64))
        )

    def _apply(self, frame: pl.LazyFrame, first: int) -> pl.LazyFrame:
        for step in self.steps:
            frame = step(frame, first)
        return frame

    def collect_schema(self) -> pl.Schema:
        return self._apply(self.source, 0).collect_schema()

    def batches(self, batch_size: int) -> Iterator[pl.DataFrame]:
        """The source in batches of at most `batch_size` rows, each reshaped on its own."""
        first = 0
        for batch in self._unshaped(batch_size):
            yield self._apply(batch.lazy(), first).collect() if self.steps else batch
            first += batch.height

    def _unshaped(self, batch_size: int) -> Iterator[pl.DataFrame]:
        if self.pieces is None:
            yield from self.source.collect_batches(chunk_size=batch_size, lazy=True)
            return
        # The next piece is read (a row group decoded, a batch fetched) while this one is written.
        with closing(prefetched(self.pieces(), depth=1)) as pieces:
            for piece in pieces:
                yield from piece.iter_slices(batch_size)


class Feeder:
    """Streams a shaped frame as Arrow batches for a driver, counting rows and keeping the frame's own error."""

    def __init__(self, frame: Shaped, batch_size: int, cancel: threading.Event | None = None) -> None:
        self.frame = frame
        self.batch_size = batch_size
        self.cancel = cancel
        self.rows = 0
        self.error: BaseException | None = None

    def reader(self) -> pa.RecordBatchReader:
        import pyarrow as pa

        empty = pl.DataFrame(schema=self.frame.collect_schema())
        schema = empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema
        return pa.RecordBatchReader.from_batches(schema, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            # Reshaping and converting the next batch (casts, decimals as text, strings copied into plain Arrow)
            # runs on a thread of its own while the driver inserts this one.
            with closing(prefetched(self._converted(), depth=1)) as converted:
                for batches in converted:
                    stop_if_cancelled(self.cancel)  # a stopped run rolls back now, not after the whole source
                    for batch in batches:
                        self.rows += batch.num_rows
                        yield batch
                    checkpoint("write.batch")
        except BaseException as exc:
            self.error = exc
            raise

    def _converted(self) -> Generator[list[pa.RecordBatch], None, None]:
        # Plain Arrow types (large_string rather than string_view) are what every driver takes.
        compat = pl.CompatLevel.oldest()
        for frame in self.frame.batches(self.batch_size):
            yield frame.to_arrow(compat_level=compat).to_batches()
