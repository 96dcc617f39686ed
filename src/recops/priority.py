"""Background processes yield the CPU to the ones people wait on.

Used by the serving SDK's writer process (its host answers requests) and by the server's
scheduler process (the dashboard and HTTP ingest answer people and services).
"""

from __future__ import annotations

import contextlib
import os


def lower_priority(niceness: int) -> None:
    """Run this process as a batch job: it never preempts a thread that wakes up, and a
    niceness of ``niceness`` (10: about a tenth of a CPU shared with one busy thread) leaves
    the machine to interactive work, without starving on a busy one (``SCHED_IDLE`` would).
    Linux only; elsewhere (or without permission) it does nothing."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    with contextlib.suppress(OSError):
        os.nice(niceness)
