"""Reading ahead on a thread: order kept, errors raised in order, an early stop closes the source."""

from __future__ import annotations

import threading
from collections.abc import Generator
from contextlib import closing

import pytest

from hygge.prefetch import prefetched


def numbers(n: int, log: list[str], fail_at: int | None = None) -> Generator[int, None, None]:
    try:
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"bad row {i}")
            log.append(f"read {i} on {threading.current_thread().name}")
            yield i
    finally:
        log.append("closed")


def test_yields_everything_in_order_and_reads_on_another_thread() -> None:
    log: list[str] = []
    assert list(prefetched(numbers(50, log), depth=2)) == list(range(50))
    assert log[-1] == "closed"
    assert all("hygge-read-ahead" in line for line in log[:-1])


def test_an_error_is_raised_after_the_items_before_it() -> None:
    log: list[str] = []
    seen = []
    with pytest.raises(ValueError, match="bad row 3"):
        for item in prefetched(numbers(10, log, fail_at=3)):
            seen.append(item)
    assert seen == [0, 1, 2]
    assert log[-1] == "closed"


def test_stopping_early_stops_the_thread_and_closes_the_source() -> None:
    log: list[str] = []
    before = threading.active_count()
    with closing(prefetched(numbers(1_000_000, log), depth=2)) as items:
        assert [next(items) for _ in range(3)] == [0, 1, 2]
    assert log[-1] == "closed"
    assert len(log) < 10  # read at most `depth` (and one in hand) ahead, not the whole source
    assert threading.active_count() == before


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_reads_at_most_depth_items_ahead_of_the_one_in_hand(depth: int) -> None:
    # Each item is a piece of a table in memory: what is read ahead is what the move holds.
    log: list[str] = []
    ahead = []
    # 8 items: enough for the thread to get `depth` ahead and stay there a while (each item waits 0.05 s).
    with closing(prefetched(numbers(8, log), depth=depth)) as items:
        for item in items:
            deadline = threading.Event()
            deadline.wait(0.05)  # a slow consumer: the thread reads ahead as far as it may
            ahead.append(sum(line.startswith("read") for line in log) - (item + 1))
    assert max(ahead) == depth


def test_two_sources_are_read_at_once_each_at_most_depth_ahead() -> None:
    from hygge.prefetch import merged

    logs: list[list[str]] = [[], []]
    with closing(merged([numbers(5, logs[0]), numbers(5, logs[1])], depth=1)) as items:
        got = [next(items)]
        threading.Event().wait(0.2)  # both threads read ahead meanwhile, one item each past what was taken
        reads = [sum(line.startswith("read") for line in log) for log in logs]
        assert sorted(reads) == [1, 2]
        got += list(items)
    assert sorted(got) == sorted([*range(5), *range(5)])
    assert logs[0][-1] == logs[1][-1] == "closed"
