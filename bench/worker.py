"""One timed process: `python -m bench.worker CONTEXT.json MOVE TOOL` runs a raw candidate or dlt for one move."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench import engines
from bench.context import Context
from bench.moves import DLT, RAW, find


def main(argv: list[str]) -> int:
    context_file, move_name, tool = argv
    ctx = Context.from_json(Path(context_file).read_text())
    move = find(move_name)
    if tool == DLT:
        from bench import dlt_pipelines

        with tempfile.TemporaryDirectory(prefix="bench-dlt-") as pipelines:
            dlt_pipelines.run(ctx, move, Path(pipelines))
        return 0
    if not tool.startswith(RAW):
        raise SystemExit(f"unknown tool {tool}")
    candidate = move.candidate(tool.removeprefix(RAW))
    engine: engines.Engine = getattr(engines, candidate.engine)
    engine(ctx, ctx.source(move.source), ctx.output(move.target, move.name, tool))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
