"""The server's scheduler: monitors and detection over newly ingested data, on a period.

A running server keeps the picture current without cron: every ``period_seconds`` it runs
the monitors incrementally (only windows with new or late data are computed) and then the
detection cycle (detectors, the dead man's switch, notification delivery), exactly what
``recops monitor run`` does, then diagnoses the open alert groups not yet diagnosed in
their current state (recops.diagnose.stored) so their pages open at once. A run that
fails is logged and retried next period; the status (last run, duration, error) is shown
by ``GET /api/scheduler``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recops.priority import lower_priority
from recops.workspace import Workspace

log = logging.getLogger("recops.server.scheduler")


@dataclass
class SchedulerStatus:
    period_seconds: float
    runs: int = 0
    failures: int = 0
    running: bool = False
    last_started_at: datetime | None = None
    last_seconds: float | None = None
    last_error: str | None = None
    last_points: int = 0
    last_alerts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "period_seconds": self.period_seconds,
            "runs": self.runs,
            "failures": self.failures,
            "running": self.running,
            "last_started_at": self.last_started_at.isoformat() if self.last_started_at else None,
            "last_seconds": self.last_seconds,
            "last_error": self.last_error,
            "last_points": self.last_points,
            "last_alerts_opened": self.last_alerts,
        }


SCHEDULER_LOCK = "scheduler"
#: How far the scheduler process lowers its priority (see :func:`recops.priority.lower_priority`).
SCHEDULER_NICENESS = 10


class Scheduler:
    """Runs :meth:`run_once` every ``period_seconds`` in a child process while started.

    A pass computes for tens of seconds, much of it in Python; in a thread of the server
    it would hold the interpreter lock the request handlers need (page and ingest latency
    doubled in ``bench/server.py``), so :meth:`start` runs the loop in its own process
    (``python -m recops.server.scheduler``), which writes its status to a file the server
    reads. :meth:`run_once` also runs in process (``POST /api/monitor/run``, tests); a
    cross-process store lock keeps two passes from overlapping wherever they run.
    """

    def __init__(self, workspace: Workspace, *, period_seconds: float) -> None:
        if period_seconds <= 0:
            raise ValueError("period_seconds must be positive")
        self.workspace = workspace
        self.state = SchedulerStatus(period_seconds)
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._status_file: Path | None = None

    def start(self) -> None:
        """Start the loop in a child process (it exits when this process does)."""
        if self._child is not None:
            return
        folder = Path(tempfile.mkdtemp(prefix="recops-scheduler-"))
        self._status_file = folder / "status.json"
        command = [
            sys.executable, "-m", "recops.server.scheduler", str(self.workspace.config.root),
            "--period", str(self.state.period_seconds), "--status", str(self._status_file),
        ]  # fmt: skip
        self._child = subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def stop(self, timeout: float = 30.0) -> None:
        if self._child is None:
            return
        self._child.terminate()
        try:
            self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        self._child = None

    def status(self) -> dict[str, Any]:
        """The child's last written status (or this process's own passes when not started)."""
        if self._status_file is not None and self._status_file.exists():
            data: dict[str, Any] = json.loads(self._status_file.read_text(encoding="utf-8"))
        else:
            data = self.state.to_dict()
        alive = self._child is not None and self._child.poll() is None
        return data | {"process": self._child.pid if self._child else None, "alive": alive}

    def run_once(self, on_start: Callable[[], None] | None = None) -> None:
        """One pass: monitors (incremental), the detection cycle, diagnoses. Never raises.

        ``on_start`` is called once the pass holds its lock and is marked running (the
        child process writes its status then, so the server shows a pass in progress).
        """
        from recops.detect.cycle import detection_cycle
        from recops.diagnose.stored import diagnose_groups
        from recops.monitors import run_monitors

        ws = self.workspace
        with self._lock, ws.store.lock(SCHEDULER_LOCK):
            self.state.running = True
            self.state.last_started_at = datetime.now(UTC)
            if on_start is not None:
                on_start()
            t0 = time.perf_counter()
            try:
                report = run_monitors(ws.config, ws.lake)
                self.state.last_points = sum(report.points.values())
                if ws.config.detection.enabled:
                    cycle = detection_cycle(ws.store, ws.config, lake=ws.lake)
                    self.state.last_alerts = cycle.detection.opened
                    # open groups get their diagnosis now, so their page is ready when opened
                    diagnose_groups(ws.store, ws.lake, ws.config, state="open")
                self.state.last_error = None
            except Exception as exc:  # a failed pass must not kill the loop; the next one retries
                self.state.failures += 1
                self.state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduled monitor run failed")
            finally:
                self.state.runs += 1
                self.state.running = False
                self.state.last_seconds = round(time.perf_counter() - t0, 3)


def _write_status(path: Path, status: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(status), encoding="utf-8")
    partial.replace(path)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the server dies, even by SIGKILL (elsewhere: poll)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the loop below notices the new parent between passes


def main(argv: list[str] | None = None) -> None:
    """The child process: pass, write the status, sleep; exit when the parent is gone."""
    parser = argparse.ArgumentParser(prog="python -m recops.server.scheduler")
    parser.add_argument("root", type=Path)
    parser.add_argument("--period", type=float, required=True)
    parser.add_argument("--status", type=Path, required=True)
    args = parser.parse_args(argv)
    parent = os.getppid()
    # A pass is batch work: pages and HTTP ingest in the server process go first.
    lower_priority(SCHEDULER_NICENESS)
    # SIGTERM keeps its default (die at once, even inside a long query): a pass writes the
    # store in transactions, so an interrupted one leaves nothing half-written.
    _die_with_parent()
    with Workspace.open(args.root) as ws:
        scheduler = Scheduler(ws, period_seconds=args.period)
        while os.getppid() == parent:
            scheduler.run_once(on_start=lambda: _write_status(args.status, scheduler.state.to_dict()))
            _write_status(args.status, scheduler.state.to_dict())
            deadline = time.monotonic() + args.period
            while time.monotonic() < deadline and os.getppid() == parent:
                time.sleep(min(1.0, args.period))


if __name__ == "__main__":
    main()
