"""hygge's side: a real project with one home per source kind and one flow (and store) per move."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from bench.context import Context, Place
from bench.moves import HYGGE, Move


def _settings(place: Place, pg_url: str) -> str:
    if place.kind == "postgres":
        return f"type: postgres\nurl: {pg_url}\n"
    assert place.path is not None
    path = place.path.parent if place.kind in ("csv", "parquet", "ndjson") and place.path.suffix else place.path
    return f"type: {place.kind}\npath: {path}\n"


def _name(place: Place) -> str:
    """What a flow's source or target is called in its home or store."""
    if place.kind == "postgres":
        return f"{place.schema}.{place.table}"
    if place.table is not None:
        return place.table
    assert place.path is not None
    return place.path.stem


def flow_name(move: Move) -> str:
    return move.slug


def write_project(ctx: Context, moves: Iterable[Move], root: Path) -> Path:
    """Write the project fresh under `root` (its run journal from before goes with it)."""
    shutil.rmtree(root, ignore_errors=True)
    for folder in ("homes", "stores", "flows"):
        (root / folder).mkdir(parents=True)
    (root / "hygge.yml").write_text("name: bench\nthreads: 1\n")
    for move in moves:
        source = ctx.source(move.source)
        home = f"{move.source}_source"
        (root / "homes" / f"{home}.yml").write_text(_settings(source, ctx.pg_url))
        out = ctx.output(move.target, move.name, HYGGE)
        store_place = Place("parquet", path=out.path / "out.parquet") if out.kind == "parquet" and out.path else out
        (root / "stores" / f"{flow_name(move)}.yml").write_text(_settings(store_place, ctx.pg_url))
        flow = f"home: {home}\nsource: {_name(source)}\ntarget: {_name(store_place)}\nbatch_size: {ctx.batch_size}\n"
        (root / "flows" / f"{flow_name(move)}.yml").write_text(flow)
    return root
