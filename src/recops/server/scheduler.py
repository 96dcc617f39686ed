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

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


class Scheduler:
    """Runs :meth:`run_once` in a background thread every ``period_seconds``."""

    def __init__(self, workspace: Workspace, *, period_seconds: float) -> None:
        if period_seconds <= 0:
            raise ValueError("period_seconds must be positive")
        self.workspace = workspace
        self.state = SchedulerStatus(period_seconds)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="recops-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> dict[str, Any]:
        return self.state.to_dict()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.state.period_seconds)

    def run_once(self) -> None:
        """One pass: monitors (incremental), then the detection cycle. Never raises."""
        from recops.detect.cycle import detection_cycle
        from recops.diagnose.stored import diagnose_groups
        from recops.monitors import run_monitors

        with self._lock:
            ws = self.workspace
            self.state.running = True
            self.state.last_started_at = datetime.now(UTC)
            t0 = time.perf_counter()
            try:
                report = run_monitors(ws.config, ws.lake)
                self.state.last_points = sum(report.points.values())
                if ws.config.detection.enabled:
                    cycle = detection_cycle(ws.store, ws.config)
                    self.state.last_alerts = cycle.detection.opened
                    # open groups get their diagnosis now, so their page is ready when opened
                    diagnose_groups(ws.store, ws.lake, ws.config, state="open")
                self.state.last_error = None
            except Exception as exc:  # a failed pass must not kill the server; the next one retries
                self.state.failures += 1
                self.state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduled monitor run failed")
            finally:
                self.state.runs += 1
                self.state.running = False
                self.state.last_seconds = round(time.perf_counter() - t0, 3)
