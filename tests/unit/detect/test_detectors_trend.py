"""Slow degradation: seasonal Mann–Kendall, Theil–Sen, forecast crossing and horizon."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest

from recops.detect import DetectorState, TrendDetector, TrendParams, run_detector
from tests.unit.detect.synthetic import DAY, points

WEEKLY = np.array([1.0, 1.01, 1.02, 1.0, 0.98, 1.05, 1.04])  # Monday first: T0 is a Monday
DOWN = TrendParams(threshold=0.045, direction="down_is_bad")


def daily_ctr(seed: int, days: int, ramp_start: int | None = None, ramp: float = 0.004) -> np.ndarray:
    """CTR 5% with a weekly cycle and 2% day noise; from ``ramp_start`` it loses ``ramp`` of it a day."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    level = 0.05 * WEEKLY[t % 7]
    if ramp_start is not None:
        level = level * (1 - ramp * np.clip(t - ramp_start, 0, None))
    return level * (1 + 0.02 * rng.standard_normal(days))


def first(states: list[DetectorState], *statuses: str) -> int | None:
    return next((i for i, s in enumerate(states) if s.status in statuses), None)


@pytest.mark.parametrize("seed", range(10))
def test_a_slide_alarms_at_least_a_week_before_it_crosses(seed: int) -> None:
    # flat for 40 days, then -0.4% a day: the weekly mean crosses 0.045 on day 66
    # (0.05·(1 - 0.004·m) < 0.045 from m = 26)
    states = run_detector(TrendDetector(DOWN), points(daily_ctr(seed, 120, ramp_start=40), DAY))
    crossing = 40 + 26
    alarm = first(states, "alarm")
    assert first(states[:40], "warn", "alarm") is None  # nothing while flat
    assert alarm is not None and crossing - alarm >= 7
    forecast = states[alarm].evidence["forecast"]
    assert re.fullmatch(r"crosses 0\.045 in about \d+ days, \d+–(\d+|more)", forecast["text"])
    assert forecast["days"] <= 28


@pytest.mark.parametrize("seed", range(10))
def test_the_forecast_interval_holds_the_true_crossing_on_a_steady_slide(seed: int) -> None:
    # 0.05 - 0.0001·t with 0.0003 noise, no weekly cycle: crosses 0.045 at t = 50. On day
    # 28 (t = 27) the true crossing is 23 days away.
    rng = np.random.default_rng(seed)
    t = np.arange(28)
    values = 0.05 - 0.0001 * t + 0.0003 * rng.standard_normal(28)
    state = run_detector(TrendDetector(DOWN), points(values, DAY))[-1]
    forecast = state.evidence["forecast"]
    assert state.status == "alarm"
    assert forecast["low"] <= 23 <= (forecast["high"] or 1e9)
    assert forecast["days"] == pytest.approx(23, rel=0.35)


def test_no_alarm_and_few_warnings_on_a_flat_year() -> None:
    warn_days = judged = 0
    for seed in range(10):
        states = run_detector(TrendDetector(DOWN), points(daily_ctr(seed, 365), DAY))
        assert first(states, "alarm") is None
        warn_days += sum(1 for s in states if s.status == "warn")
        judged += sum(1 for s in states if s.status != "insufficient")
    # one-sided alpha = 0.01 over overlapping windows: about 1% of days, not more than 2%
    assert warn_days <= 0.02 * judged


def test_a_rising_latency_against_a_ceiling_and_a_trend_without_threshold() -> None:
    rng = np.random.default_rng(3)
    latency = 200 + 3.0 * np.arange(60) + 4 * rng.standard_normal(60)  # +3 ms a day toward 400
    up = run_detector(
        TrendDetector(TrendParams(threshold=400.0, direction="up_is_bad")), points(latency, DAY)
    )
    alarm = first(up, "alarm")
    assert alarm is not None and up[alarm].evidence["side"] == "up"
    crossing_day = (400 - 200) / 3.0
    assert alarm < crossing_day - 7
    no_line = run_detector(TrendDetector(TrendParams()), points(latency, DAY))
    assert first(no_line, "alarm") is None and first(no_line, "warn") is not None
    assert no_line[-1].evidence["forecast"] is None


def test_moving_away_from_the_threshold_is_fine() -> None:
    rising = 0.05 + 0.0002 * np.arange(40)
    states = run_detector(TrendDetector(DOWN), points(rising, DAY))
    assert {s.status for s in states} == {"insufficient", "ok"}


def test_insufficient_until_three_weeks_and_the_window_stays_bounded() -> None:
    detector = TrendDetector(DOWN)
    states = run_detector(detector, points(daily_ctr(0, 100), DAY))
    assert first(states, "ok", "warn", "alarm") == 20  # the 21st value
    assert len(detector._window) == 28
    assert states[-1].evidence["trend"]["test"] == "seasonal_mann_kendall"
    plain = TrendDetector(
        TrendParams(
            threshold=0.045, direction="down_is_bad", seasonal=False, window=timedelta(days=14), min_points=10
        )
    )
    assert run_detector(plain, points(daily_ctr(0, 30), DAY))[-1].evidence["trend"]["n"] == 14


def test_a_relative_threshold_is_a_share_below_the_level_at_the_window_start() -> None:
    # A clean line from 0.05 losing 0.0005 a day: over the 28-day window the fitted level
    # at the window's start is 0.05 - 0.0005·(days - 1 - 28); the threshold is 10% below it.
    days = 60
    values = 0.05 - 0.0005 * np.arange(days)
    params = TrendParams(relative_threshold=0.1, direction="down_is_bad", seasonal=False)
    states = run_detector(TrendDetector(params), points(values, DAY))
    last = states[-1]
    start_level = 0.05 - 0.0005 * (days - 1 - 28)
    assert last.evidence["bounds"]["threshold"] == pytest.approx(0.9 * start_level, rel=1e-6)
    # now 0.0205, start 0.0345: 10% below the start is 0.03105, already passed
    assert last.status == "alarm" and last.evidence["forecast"]["already"]
    with pytest.raises(Exception, match="relative_threshold"):
        TrendParams(relative_threshold=1.5, direction="down_is_bad")
    with pytest.raises(Exception, match="not both"):
        TrendParams(relative_threshold=0.1, threshold=0.04, direction="down_is_bad")
