"""Move one flow's data: read the home, write the store, with the incremental window when there is one."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hygge.connectors.base import Incremental, Mode, ReadRequest, Store, WriteRequest
from hygge.errors import FlowError, HyggeError, first_line
from hygge.faults import checkpoint
from hygge.resolver import ResolvedFlow

if TYPE_CHECKING:
    from hygge.runner import RunOptions
    from hygge.state import StateStore


@dataclass(frozen=True)
class Moved:
    rows: int
    window: tuple[str | None, str | None] = (None, None)


def move(flow: ResolvedFlow, options: RunOptions, cancel: threading.Event, state: StateStore | None = None) -> Moved:
    """Read the flow's source and write it to its target; returns the rows written and the window read."""
    home = flow.make_home()
    store = flow.make_store()
    try:
        checkpoint("flow.start")
        mode, incremental = _window(flow, store, options, state)
        read = ReadRequest(
            flow=flow.name,
            source=flow.source,
            query=flow.query,
            batch_size=flow.batch_size,
            incremental=incremental,
            cancel=cancel,
        )
        try:
            frame, pieces = home.read_with_pieces(read)
        except HyggeError as exc:
            # an error raised inside a Polars expression comes back without its place
            exc.where = exc.where or f"flow {flow.name}"
            raise
        except BaseException as exc:
            error = _as_flow_error(flow, exc)
            if error is None:
                raise
            raise error from exc
        request = WriteRequest(
            flow=flow.name,
            target=flow.target,
            mode=mode,
            key=flow.key,
            allow_empty=flow.allow_empty or options.allow_empty or (incremental is not None and mode != "replace"),
            on_schema_change=flow.on_schema_change,
            batch_size=flow.batch_size,
            cancel=cancel,
            pieces=pieces,
            last_per_key=mode == "replace" and flow.mode == "merge",
        )
        try:
            if mode != "replace" and not frame.collect_schema():
                # A source without columns (an empty ndjson file) holds no rows: nothing to add or merge, and its
                # missing columns are no schema change. A replace still judges emptying the target.
                rows = 0
            else:
                rows = store.write(frame, request).rows
        except HyggeError as exc:
            # an error raised inside a Polars expression comes back without its place
            exc.where = exc.where or f"flow {flow.name}"
            raise
        except BaseException as exc:  # Polars' panics are BaseExceptions
            error = _as_flow_error(flow, exc)
            if error is None:
                raise  # anything else is a bug (or Ctrl-C): its traceback goes to the log
            raise error from exc
        if incremental is None:
            return Moved(rows)
        after = store.max_value(flow.target, incremental.cursor)
        if state is not None:
            state.record_watermark(flow.name, flow.target, incremental.cursor, after)
        return Moved(rows, (_text(incremental.after), _text(after)))
    finally:
        home.close()
        store.close()


def _window(
    flow: ResolvedFlow, store: Store, options: RunOptions, state: StateStore | None
) -> tuple[Mode, Incremental | None]:
    """The mode and the rows to read: past the target's own watermark, or all of them on a refresh."""
    spec = flow.incremental
    if spec is None:
        return flow.mode, None
    reset = state is not None and state.reset_requested(flow.name, flow.target)
    refresh = options.full_refresh or (reset and flow.mode == "append")
    if refresh:
        # Re-reading everything into an append target would add the rows again: rebuild it instead.
        return "replace", Incremental(spec.cursor, spec.initial, spec.lag, spec.nulls)
    after = None if reset else store.max_value(flow.target, spec.cursor)
    return flow.mode, Incremental(spec.cursor, spec.initial if after is None else after, spec.lag, spec.nulls)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _as_flow_error(flow: ResolvedFlow, exc: BaseException) -> FlowError | None:
    """Polars and OS errors while moving data are about the user's data or files, not hygge bugs; so is a
    Polars panic on data it cannot handle (such as a binary column written as JSON)."""
    import polars.exceptions as ple

    what = f"could not move {flow.home_name}:{flow.source} to {flow.store_name}:{flow.target}"
    if isinstance(exc, ple.PanicException):
        return FlowError(
            f"{what}: Polars stopped on this data: {first_line(exc)}",
            where=f"flow {flow.name}",
            hint="Polars cannot do this with these columns' types (binary, nested); cast or leave out such "
            "columns, or choose another store type. The target is unchanged.",
        )
    if not isinstance(exc, ple.PolarsError | OSError):
        return None
    hint = "Check the source data and the home's settings; run with --debug for the full error."
    if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
        hint = "The source is not UTF-8 text: set encoding: utf8-lossy in the home, or convert the file."
    return FlowError(f"{what}: {first_line(exc)}", where=f"flow {flow.name}", hint=f"{hint} The target is unchanged.")
