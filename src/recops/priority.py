"""Background processes yield the CPU to the ones people wait on.

Used by the serving SDK's writer process (its host answers requests) and by the server's
scheduler process (the dashboard and HTTP ingest answer people and services).
"""

from __future__ import annotations

import contextlib
import os


def lower_priority(niceness: int, *, idle: bool = False) -> None:
    """Run this process as a batch job: it never preempts a thread that wakes up, and a
    niceness of ``niceness`` (10: about a tenth of a CPU shared with one busy thread) leaves
    the machine to interactive work, without starving on a busy one.

    With ``idle``, run it under ``SCHED_IDLE`` instead: a waking thread of normal priority
    always preempts it, and the scheduler counts its CPU as idle when it places a waking
    thread. It still gets a sliver of a fully busy machine (a weight of 3 against 1,024),
    so for work that may wait: the SDK's writer (decision 0056).

    On Linux both are per thread: every thread the process has already started (pyarrow's
    pools, an allocator's background thread) is lowered too, and later threads inherit
    from their creator. Measured on the SDK writer: a pyarrow thread started during its
    imports did a third of its work at the host's priority until this was done.
    Elsewhere (or without permission) it does nothing.
    """
    policy = getattr(os, "SCHED_IDLE" if idle else "SCHED_BATCH", None)
    for thread in _threads():
        with contextlib.suppress(AttributeError, OSError, TypeError):
            os.sched_setscheduler(thread, policy, os.sched_param(0))  # type: ignore[arg-type]
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(
                os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + niceness, 19)
            )


def _threads() -> list[int]:
    """This process's thread ids (Linux), or [0]: the calling thread alone."""
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return [0]
