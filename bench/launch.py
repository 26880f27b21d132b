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

POLL_S = 0.005


def _anon_kb(pid: int) -> int:
    """RssAnon of `pid` and its descendants, in kB (0 for processes that are gone)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def main() -> int:
    result_file, timeout, separator, *command = sys.argv[1:]
    assert separator == "--", "usage: launch.py RESULT TIMEOUT -- COMMAND..."
    start = time.perf_counter()
    child = subprocess.Popen(command)
    deadline = start + float(timeout)
    anon = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        anon = max(anon, _anon_kb(child.pid))
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
