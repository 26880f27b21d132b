"""Run one command and report its wall time and memory: `python -I launch.py RESULT TIMEOUT -- COMMAND...`.

A separate small process, because a child's ru_maxrss starts from the RSS of the process that spawned it: spawned
from the benchmark (which holds Polars and data), every child would look at least that large.

Two peaks are reported. `maxrss_kb` is ru_maxrss from wait4 (the child and the children it waited for); it counts
file pages the process mapped, so a tool that memory-maps its input (Polars does) shows the file's size in it.
`anon_kb` is the largest RssAnon of the process tree, sampled every few milliseconds: the memory it allocated.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.01
# Finding a tree's processes reads a file per thread: done this rarely, so the sampling itself takes almost no CPU
# (walking every thread every 5 ms took a core's sixth from the two the timed tool has, adding ~25% to its time).
DISCOVER_EVERY = 25


def _children(pid: int) -> list[int]:
    """The processes `pid`'s threads started (empty for a process that is gone)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        pass
    return found


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(_children(current))
    return tree


def _anon_kb(pids: list[int]) -> int:
    """The RssAnon of these processes together, in kB (0 for those that are gone)."""
    total = 0
    for pid in pids:
        try:
            with Path(f"/proc/{pid}/status").open("rb") as status:
                for line in status:
                    if line.startswith(b"RssAnon:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue
    return total


def main() -> int:
    result_file, timeout, separator, *command = sys.argv[1:]
    assert separator == "--", "usage: launch.py RESULT TIMEOUT -- COMMAND..."
    start = time.perf_counter()
    child = subprocess.Popen(command)
    deadline = start + float(timeout)
    anon, polls, pids = 0, 0, [child.pid]
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if polls % DISCOVER_EVERY == 0:
            pids = _tree(child.pid)
        polls += 1
        anon = max(anon, _anon_kb(pids))
        if time.perf_counter() > deadline:
            child.kill()
        time.sleep(POLL_S)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    result = {"seconds": seconds, "maxrss_kb": usage.ru_maxrss, "anon_kb": anon, "returncode": child.returncode}
    with Path(result_file).open("w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
