"""Homes that offer their rows in pieces (Home.read_with_pieces): the pieces hold exactly the frame's rows, in order,
and a database store that writes from them writes what it would write from the frame."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from databases import Db, make_db
from polars.testing import assert_frame_equal

from hygge.connectors import get_connector
from hygge.connectors.base import Home, Incremental, Mode, ReadRequest, WriteRequest

ROWS = 2_500

SOURCE = pl.DataFrame(
    {
        "id": range(ROWS),
        "name": [None if i % 7 == 0 else f"name {i}" for i in range(ROWS)],
        "amount": [i / 4 for i in range(ROWS)],
        "day": [date(2026, 1, 1 + i % 28) for i in range(ROWS)],
        "at": [datetime(2026, 1, 1, i % 24, i % 60) for i in range(ROWS)],
    }
)


def parquet_home(root: Path) -> Home:
    connector = get_connector("parquet")
    return connector.home("lake", connector.settings_model.model_validate({"type": "parquet", "path": "lake"}), root)


def write_parquet(path: Path, frame: pl.DataFrame, row_group_size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, row_group_size=row_group_size)


def pieced(home: Home, request: ReadRequest) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    frame, pieces = home.read_with_pieces(request)
    assert pieces is not None, "this home should offer pieces"
    return frame.collect(), list(pieces())


def assert_same_rows(frame: pl.DataFrame, pieces: list[pl.DataFrame]) -> None:
    assert all(piece.schema == frame.schema for piece in pieces)
    assert_frame_equal(pl.concat(pieces, how="vertical"), frame)


@pytest.mark.parametrize(("row_group", "batch", "expected"), [(300, 1000, 3), (1000, 300, 3), (ROWS, 100, 1)])
def test_parquet_pieces_are_whole_row_groups_of_at_least_a_batch(
    tmp_path: Path, row_group: int, batch: int, expected: int
) -> None:
    write_parquet(tmp_path / "lake" / "orders.parquet", SOURCE, row_group)
    frame, pieces = pieced(parquet_home(tmp_path), ReadRequest(flow="f", source="orders", batch_size=batch))
    assert_same_rows(frame, pieces)
    assert len(pieces) == expected
    assert all(piece.height >= min(batch, ROWS) or piece is pieces[-1] for piece in pieces)


def test_parquet_pieces_of_many_files_and_an_incremental_window(tmp_path: Path) -> None:
    for part in range(3):
        write_parquet(tmp_path / "lake" / "orders" / f"part-{part}.parquet", SOURCE[part * 800 :][:800], 250)
    request = ReadRequest(flow="f", source="orders", batch_size=400, incremental=Incremental("id", after=1234))
    frame, pieces = pieced(parquet_home(tmp_path), request)
    assert_same_rows(frame, pieces)
    assert frame["id"].to_list() == list(range(1235, 2400))


def test_an_empty_parquet_file_is_one_empty_piece(tmp_path: Path) -> None:
    write_parquet(tmp_path / "lake" / "orders.parquet", SOURCE.clear(), 100)
    frame, pieces = pieced(parquet_home(tmp_path), ReadRequest(flow="f", source="orders"))
    assert frame.height == 0
    assert_same_rows(frame, pieces)


def test_parquet_files_of_different_schemas_are_left_to_polars(tmp_path: Path) -> None:
    write_parquet(tmp_path / "lake" / "orders" / "a.parquet", SOURCE.head(10), 100)
    write_parquet(tmp_path / "lake" / "orders" / "b.parquet", SOURCE.tail(10).drop("name"), 100)
    frame, pieces = parquet_home(tmp_path).read_with_pieces(ReadRequest(flow="f", source="orders"))
    assert pieces is None
    assert frame.collect().height == 20


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_text_files_offer_no_pieces(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "lake" / f"orders.{fmt}"
    path.parent.mkdir(parents=True)
    SOURCE.write_csv(path) if fmt == "csv" else SOURCE.write_ndjson(path)
    connector = get_connector(fmt)
    home = connector.home("lake", connector.settings_model.model_validate({"type": fmt, "path": "lake"}), tmp_path)
    assert home.read_with_pieces(ReadRequest(flow="f", source="orders"))[1] is None


@pytest.fixture(params=["sqlite", "duckdb", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    yield from make_db(str(request.param), tmp_path)


@pytest.mark.parametrize("incremental", [None, Incremental("id", after=1999)])
def test_database_pieces_are_its_batches_converted_like_the_frame(db: Db, incremental: Incremental | None) -> None:
    db.write(SOURCE, "orders")
    request = ReadRequest(flow="f", source=db.name("orders"), batch_size=700, incremental=incremental)
    frame, pieces = pieced(db.home(), request)
    assert_same_rows(frame.sort("id"), [pl.concat(pieces).sort("id")])
    assert frame.height == (ROWS if incremental is None else ROWS - 2000)
    if incremental is None and db.kind == "duckdb":  # the others' drivers size batches their own way
        assert [piece.height for piece in pieces] == [700, 700, 700, 400]


@pytest.mark.parametrize("mode", ["replace", "merge"])
def test_a_database_store_writes_the_same_from_pieces_as_from_the_frame(tmp_path: Path, db: Db, mode: Mode) -> None:
    write_parquet(tmp_path / "lake" / "orders.parquet", pl.concat([SOURCE, SOURCE.head(50)]), 400)
    home = parquet_home(tmp_path)
    request = ReadRequest(flow="f", source="orders", batch_size=300)
    frame, pieces = home.read_with_pieces(request)
    assert pieces is not None
    key = ("id",) if mode == "merge" else ()
    db.store().write(frame, WriteRequest(flow="f", target=db.name("whole"), mode=mode, key=key, batch_size=300))
    pulled: list[int] = []

    def counted() -> Generator[pl.DataFrame, None, None]:
        for piece in pieces():
            pulled.append(piece.height)
            yield piece

    write = WriteRequest(flow="f", target=db.name("pieced"), mode=mode, key=key, batch_size=300, pieces=counted)
    rows = db.store().write(frame, write).rows
    assert rows == sum(pulled) == ROWS + 50
    assert_frame_equal(db.read("pieced", sort="id"), db.read("whole", sort="id"))
    assert db.read("pieced").height == (ROWS if mode == "merge" else ROWS + 50)
