"""The family pages' trend forecast replays only the trend's own window, and says the same."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from recops.detect.detectors import make_detector, run_detector
from recops.detect.plan import DetectorSpec
from recops.server.ui.families import Series, micros, trend_forecast

DAY = timedelta(days=1)
START = datetime(2026, 9, 1, tzinfo=UTC)


def declining_series(days: int, seed: int = 3) -> Series:
    """A daily CTR sliding from 6% by 0.02 points a day, with noise and a weekly cycle."""
    rng = np.random.default_rng(seed)
    starts = [START + i * DAY for i in range(days)]
    values = [
        0.06 - 0.0002 * i + 0.001 * np.sin(i * 2 * np.pi / 7) + rng.normal(0, 0.0004) for i in range(days)
    ]
    return Series(
        metric="ctr",
        subject="",
        slice="",
        granularity="day",
        starts=[micros(s) for s in starts],
        ends=[micros(s + DAY) for s in starts],
        x=[s.isoformat() for s in starts],
        values=[float(v) for v in values],
        numerators=[None] * days,
        denominators=[None] * days,
        n=[10_000] * days,
    )


def test_the_forecast_from_the_window_equals_the_full_replay() -> None:
    spec = DetectorSpec(
        detector="trend",
        params={"threshold": 0.045, "direction": "down_is_bad", "horizon": "30d"},
        granularity="day",
        alarm="ticket",
        warn=None,
        reason="test",
    )
    series = declining_series(60)
    full = run_detector(make_detector("trend", spec.params), series.points())[-1]
    shown = trend_forecast(spec, series)
    assert shown is not None, full.evidence  # a significant fall forecast to cross 4.5%
    assert full.status == shown.status
    assert full.evidence["forecast"]["text"] == shown.text
    assert full.evidence["forecast"]["days"] == shown.days
    assert full.evidence["baseline"] == shown.fitted
    assert len(series.last(timedelta(days=28))) == 28
    assert len(series.last(timedelta(days=90))) == 60


def test_visitors_asking_for_the_same_replay_at_once_compute_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from recops.server.ui import families

    calls: list[int] = []
    real = families.run_detector

    def slow_run(detector: Any, points: Any) -> Any:
        calls.append(1)
        time.sleep(0.2)  # long enough for every visitor to arrive while it runs
        return real(detector, points)

    monkeypatch.setattr(families, "run_detector", slow_run)
    spec = DetectorSpec(detector="threshold", params={"level": 0.05, "kind": "below"},
                        granularity="day", alarm="ticket", warn=None, reason="test")  # fmt: skip
    series = declining_series(20, seed=11)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: families.replay(spec, series), range(4)))
    assert len(calls) == 1
    assert all(r is results[0] for r in results) and len(results[0]) == 20
