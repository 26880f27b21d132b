"""Watch mode on a real file system: a short debounce, a stop event, and one real `hygge --watch` process."""

from __future__ import annotations

import io
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from conftest import spawn_hygge
from rich.console import Console

from hygge.runner import RunOptions
from hygge.watch import WatchSession

Make = Callable[..., Path]


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for watch mode")
        time.sleep(0.05)


@pytest.fixture
def session(project: Make) -> Iterator[tuple[WatchSession, Path, io.StringIO]]:
    root = project({"flows/orders.yml": "{}\n", "flows/report.yml": "home: lake\nsource: orders\n"})
    text = io.StringIO()
    s = WatchSession(root, None, {}, [], [], RunOptions(), Console(file=text, width=200))
    s.start()
    stop = threading.Event()
    thread = threading.Thread(target=s.loop, args=(stop, 50), daemon=True)
    thread.start()
    time.sleep(0.3)  # let the watcher start before the test edits files
    yield s, root, text
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_data_change_reruns_flow_and_downstream_once(session: tuple[WatchSession, Path, io.StringIO]) -> None:
    s, root, text = session
    assert [o.name for o in s.runs[0].outcomes] == ["orders", "report"]
    (root / "data" / "drops" / "orders.csv").write_text("id,amount\n1,1.0\n2,2.0\n3,3.0\n4,4.0\n")
    wait_for(lambda: len(s.runs) >= 2)
    assert sorted(o.name for o in s.runs[1].outcomes) == ["orders", "report"]
    assert pl.read_parquet(root / "data" / "lake" / "report.parquet").height == 4
    time.sleep(0.5)
    assert len(s.runs) == 2, "the run's own outputs must not trigger another run"
    assert "data/drops/orders.csv" in text.getvalue()


def test_broken_file_shows_error_and_fixing_resumes(session: tuple[WatchSession, Path, io.StringIO]) -> None:
    s, root, text = session
    flow = root / "flows" / "report.yml"
    flow.write_text("home: lake\nsource: orders\nmoed: append\n")
    wait_for(lambda: "flows/report.yml:3:1" in text.getvalue())
    assert "watching goes on" in text.getvalue()
    flow.write_text("home: lake\nsource: orders\nmode: append\n")
    wait_for(lambda: len(s.runs) >= 2)
    assert [o.name for o in s.runs[1].outcomes] == ["report"]
    assert s.runs[1].outcomes[0].status == "ok"


def test_failing_flow_shows_error_and_watching_goes_on(session: tuple[WatchSession, Path, io.StringIO]) -> None:
    s, root, text = session
    (root / "data" / "drops" / "orders.csv").write_text("id,amount\n1,not-a-number\n")
    (root / "flows" / "orders.yml").write_text("source: nothing_here\n")
    wait_for(lambda: len(s.runs) >= 2)
    assert s.runs[-1].outcomes[0].status == "failed"
    (root / "flows" / "orders.yml").write_text("{}\n")
    wait_for(lambda: len(s.runs) >= 3 and s.runs[-1].outcomes[0].status == "ok")


def test_hygge_run_watch_as_a_process(project: Make) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    proc = spawn_hygge("run", "--all", "--watch", cwd=root)
    target = root / "data" / "lake" / "orders.parquet"
    written = 0.0

    def moved_the_change() -> bool:
        # The watcher starts after the first run, at a moment the test cannot see: until a run has moved the
        # change, it is made again every 0.5 s (rather than once after a fixed wait long enough for a slow start).
        nonlocal written
        if time.monotonic() - written > 0.5:
            (root / "data" / "drops" / "orders.csv").write_text("id,amount\n7,7.0\n")
            written = time.monotonic()
        # One read of the bytes: the watcher replaces the file by rename while we poll, and read_parquet on the
        # path opens it twice (footer, then data), so it could pair one file's footer with the next file's data.
        return pl.read_parquet(io.BytesIO(target.read_bytes()))["id"].to_list() == [7]

    try:
        wait_for(target.exists)
        wait_for(moved_the_change)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "stopped watching" in out
    assert "Traceback" not in out
