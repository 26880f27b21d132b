"""Fault injection for tests: fail or kill a run at a named step, chosen by environment variables.

`HYGGE_FAULT=write.before_commit` raises a FlowError there; `HYGGE_KILL_AT=write.after_commit` kills the
process there with SIGKILL, as a power cut would. Both take a comma-separated list of steps.
`HYGGE_PAUSE_AT=flow.start:2` sleeps two seconds there, so a test can interrupt a run at a known moment.
"""

from __future__ import annotations

import os
import signal
import time

from hygge.errors import FlowError


def _armed(variable: str, step: str) -> bool:
    value = os.environ.get(variable)
    if not value:
        return False
    return step in {part.strip() for part in value.split(",")}


def checkpoint(step: str) -> None:
    """Raise or die here if the environment asks for it; otherwise nothing."""
    if _armed("HYGGE_KILL_AT", step):
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get("HYGGE_PAUSE_AT", "")
    if pause.partition(":")[0] == step:
        time.sleep(float(pause.partition(":")[2] or 1))
    if _armed("HYGGE_FAULT", step):
        raise FlowError(f"injected fault at {step}")
