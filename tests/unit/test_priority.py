"""Background processes lower every thread they have, not only the one that asks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities: Linux")

CHILD = """
import json, os, threading
from recops.priority import lower_priority
started = threading.Event()
stop = threading.Event()
def background():
    started.set()
    stop.wait()
early = threading.Thread(target=background)  # like a pool a library starts at import
early.start()
started.wait()
lower_priority(10, idle=IDLE)
late = threading.Thread(target=stop.wait)  # started afterwards: inherits
late.start()
report = {}
for tid in os.listdir("/proc/self/task"):
    fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    report[tid] = [int(fields[16]), int(fields[38])]  # nice, scheduling policy
stop.set()
print(json.dumps(report))
"""


@pytest.mark.parametrize(("idle", "policy"), [(False, 3), (True, 5)])  # SCHED_BATCH, SCHED_IDLE
def test_every_thread_becomes_background_work_at_a_higher_niceness(idle: bool, policy: int) -> None:
    import os

    base = os.getpriority(os.PRIO_PROCESS, 0)
    code = f"IDLE = {idle}\n" + CHILD
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    threads = json.loads(out.stdout)
    assert len(threads) == 3
    assert all(got == [min(19, base + 10), policy] for got in threads.values()), threads
