"""Measuring a command as a whole process: wall seconds and peak resident memory."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def timed(command: list[str], *, env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run a command under /usr/bin/time: wall seconds, peak RSS (MiB), stdout, stderr.

    Exit codes 0 and 1 count as success (1 is "a check failed" for recops commands).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        full = ["/usr/bin/time", "-f", "%e %M", "-o", stats.name, *command]
        started = time.perf_counter()
        done = subprocess.run(full, capture_output=True, text=True, env=env, timeout=timeout)
        wall = time.perf_counter() - started
        parts = Path(stats.name).read_text().split()
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    elapsed, rss = (float(parts[-2]), int(parts[-1])) if len(parts) >= 2 else (wall, 0)
    return {"seconds": elapsed, "peak_mib": rss / 1024, "stdout": done.stdout, "stderr": done.stderr}
