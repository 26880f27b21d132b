"""hygge has glibc hand a driver's large freed buffers back at once, unless the user set the threshold."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the threshold is glibc's")

# Where glibc puts a 5 MB buffer after one was freed: left alone, it raises its mapping threshold past the freed
# size and serves the next from its heap, which it keeps; hygge's threshold maps it on its own, unmapped on free.
_PROBE = """
import ctypes, sys
if sys.argv[1] == "cli":
    sys.argv = ["hygge", "--help"]
    from hygge.cli import main
    try:
        main()
    except SystemExit:
        pass
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 5 << 20
libc.free(libc.malloc(size))
pointer = libc.malloc(size)
with open("/proc/self/maps") as maps:
    heaps = [line.split()[0].split("-") for line in maps if line.rstrip().endswith("[heap]")]
inside = any(int(low, 16) <= pointer < int(high, 16) for low, high in heaps)
print("HEAP" if inside else "MAPPED")
"""


def _probe(how: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, how], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def test_glibc_left_alone_keeps_a_freed_buffers_size_in_its_heap() -> None:
    """The behaviour hygge changes, so the test below can tell the two apart."""
    assert _probe("plain") == "HEAP"


def test_the_cli_maps_large_buffers_on_their_own() -> None:
    assert _probe("cli") == "MAPPED"


def test_a_threshold_the_user_set_wins() -> None:
    assert _probe("cli", MALLOC_MMAP_THRESHOLD_=str(32 << 20)) == "HEAP"
