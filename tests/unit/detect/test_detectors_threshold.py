"""Static thresholds: above/below, warn line, min_n."""

from __future__ import annotations

import pytest

from recops.detect import SeriesPoint, StaticThreshold, ThresholdParams, run_detector
from tests.unit.detect.synthetic import HOUR, T0, points


def test_above_with_a_warn_line_and_scores() -> None:
    detector = StaticThreshold(ThresholdParams(level=500.0, warn_level=400.0))
    states = run_detector(detector, points([100.0, 450.0, 500.0, 650.0]))
    assert [s.status for s in states] == ["ok", "warn", "warn", "alarm"]
    assert [s.score for s in states] == pytest.approx([0.0, 50.0, 100.0, 150.0])
    assert states[3].evidence["bounds"] == {"alarm": 500.0, "warn": 400.0, "side": "above"}


def test_below_and_a_step_is_caught_on_its_first_window() -> None:
    values = [0.05] * 10 + [0.03] * 5
    states = run_detector(StaticThreshold(ThresholdParams(level=0.045, kind="below")), points(values))
    first = next(i for i, s in enumerate(states) if s.status == "alarm")
    assert first == 10  # detection delay 0 windows
    assert states[first].score == pytest.approx(0.015)


def test_min_n_leaves_thin_windows_unjudged() -> None:
    detector = StaticThreshold(ThresholdParams(level=1000.0, min_n=100))
    thin = detector.update(SeriesPoint(at=T0 + HOUR, value=5000.0, n=40))
    thick = detector.update(SeriesPoint(at=T0 + 2 * HOUR, value=5000.0, n=400))
    missing = detector.update(SeriesPoint(at=T0 + 3 * HOUR, value=None, n=400))
    assert (thin.status, thick.status, missing.status) == ("insufficient", "alarm", "insufficient")
    assert "min_n" in thin.evidence["reason"]


def test_default_is_above_zero_for_counts_that_should_stay_zero() -> None:
    states = run_detector(StaticThreshold(), points([0.0, 0.0, 1.0]))
    assert [s.status for s in states] == ["ok", "ok", "alarm"]
