"""Drift persistence: a drift ratio that keeps rising under its threshold."""

from __future__ import annotations

import numpy as np
import pytest

from recops.detect import DetectorState, DriftPersistence, DriftPersistenceParams, run_detector
from tests.unit.detect.synthetic import DAY, points


def ratios(seed: int, days: int, start: float, rise_from: int | None = None, rise: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    level = start + rise * np.clip(t - rise_from, 0, None) if rise_from is not None else np.full(days, start)
    return level * (1 + 0.08 * rng.standard_normal(days))


def first(states: list[DetectorState], status: str) -> int | None:
    return next((i for i, s in enumerate(states) if s.status == status), None)


@pytest.mark.parametrize("seed", range(10))
def test_a_steady_climb_is_flagged_well_before_the_threshold(seed: int) -> None:
    # 0.3 for 30 days, then +0.015 a day: reaches 1.0 on day 30 + 47 = 77
    states = run_detector(DriftPersistence(), points(ratios(seed, 90, 0.3, rise_from=30, rise=0.015), DAY))
    warn = first(states, "warn")
    assert warn is not None and warn < 77 - 14  # two weeks of notice
    evidence = states[warn].evidence
    assert 0.5 <= evidence["baseline"] < 1.0  # the fitted ratio
    assert evidence["forecast"]["level"] == 1.0 and evidence["forecast"]["days"] > 0
    assert first(states, "alarm") is not None  # once past 1.0 and still rising


def test_a_flat_ratio_under_the_threshold_is_rarely_flagged() -> None:
    flagged = judged = 0
    for seed in range(10):
        states = run_detector(DriftPersistence(), points(ratios(seed, 365, 0.7), DAY))
        flagged += sum(1 for s in states if s.status != "ok" and s.status != "insufficient")
        judged += sum(1 for s in states if s.status != "insufficient")
    assert flagged <= 0.02 * judged


def test_a_climb_far_below_the_threshold_is_left_alone() -> None:
    states = run_detector(DriftPersistence(), points(ratios(1, 60, 0.05, rise_from=0, rise=0.003), DAY))
    assert states[-1].evidence["p_value"] < 0.01  # it does rise significantly...
    assert {s.status for s in states} == {"insufficient", "ok"}  # ...but at 0.2 of the threshold


def test_statistic_values_are_divided_by_the_threshold() -> None:
    detector = DriftPersistence(DriftPersistenceParams(threshold=0.2))
    psi = 0.2 * ratios(2, 60, 0.3, rise_from=20, rise=0.015)
    states = run_detector(detector, points(psi, DAY))
    assert states[-1].evidence["ratio"] == pytest.approx(psi[-1] / 0.2)
    assert first(states, "warn") is not None
