"""How much freed memory the hygge process keeps for reuse, set before any data moves.

The database drivers build their Arrow batches with the C library's malloc. glibc serves a buffer of up to 32 MB
from heaps it rarely gives back once it has seen one freed (its threshold for mapping a buffer on its own rises to
the size freed), and a driver's batches are that size: the process grew the longer a move ran (bench/, 10M rows:
postgres->postgres 460 MB, against 354 MB at 1M). Buffers from 4 MB up, mapped on their own and unmapped when
freed, keep it at 370-380 MB (sqlite->parquet 430-460 -> 380-390 MB, postgres->parquet 380 -> 320-345 MB), at the
same speed. Polars allocates with its own jemalloc, untouched: returning its pages sooner saved 40 MB on
parquet->parquet but cost 8-10% of its speed.

A threshold the user sets in the environment (`MALLOC_MMAP_THRESHOLD_`) wins.
"""

from __future__ import annotations

import os
import sys

__all__ = ["MMAP_THRESHOLD", "bound_allocators"]

MMAP_THRESHOLD = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def bound_allocators() -> None:
    """Have the C library hand large freed buffers back at once (glibc on Linux; elsewhere nothing changes)."""
    if sys.platform == "linux" and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        _glibc_mmap_threshold(MMAP_THRESHOLD)


def _glibc_mmap_threshold(size: int) -> None:
    """Map allocations of `size` bytes and more on their own (nothing where the C library has no mallopt: musl)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, size)
