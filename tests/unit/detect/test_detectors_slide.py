"""A slide that began recently: the broken-line scan against hand values, noise and ramps."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from recops.detect import DetectorState, SeriesPoint, SlideDetector, SlideParams, make_detector, run_detector
from recops.detect.detectors.slide import best_onset
from recops.errors import InvalidInput
from tests.unit.detect.synthetic import HOUR, T0, weekday_shape, weekend_shape


def hourly_ctr(seed: int, days: int, ramp_start: float | None = None, ramp: float = 0.0095,
               per_day: float = 500_000.0, day_wobble: float = 0.004) -> list[SeriesPoint]:  # fmt: skip
    """Hourly CTR points: impressions follow the daily/weekly shape (``per_day`` a day),
    CTR 4% with a weekly cycle, a day-level wobble and binomial clicks; from
    ``ramp_start`` (days) the CTR loses ``ramp`` of itself a day."""
    rng = np.random.default_rng(seed)
    wobble = rng.normal(0.0, day_wobble, days)
    out = []
    for h in range(days * 24):
        start = T0 + h * HOUR
        day, hour = divmod(h, 24)
        weekend = start.weekday() >= 5
        shape = weekend_shape(hour) if weekend else weekday_shape(hour)
        shows = int(rng.poisson(per_day * shape / 14.0))
        ctr = 0.04 * (1.03 if weekend else 1.0) * (1 + wobble[day])
        if ramp_start is not None:
            ctr *= 1 - ramp * max(0.0, h / 24 - ramp_start)
        clicks = int(rng.binomial(shows, ctr))
        out.append(SeriesPoint(at=start + HOUR, start=start, value=clicks / shows, numerator=clicks,
                               denominator=shows, n=shows))  # fmt: skip
    return out


def first(states: list[DetectorState], *statuses: str) -> int | None:
    return next((i for i, s in enumerate(states) if s.status in statuses), None)


def episodes(states: list[DetectorState]) -> int:
    return sum(
        s.status == "alarm" and (i == 0 or states[i - 1].status != "alarm") for i, s in enumerate(states)
    )


def test_the_scan_matches_a_hand_computed_broken_line() -> None:
    # daily windows with residuals 0, 0, 1, 2, 3 (bad side positive), sd 1: the onset at
    # day 2 gives w = 0.5, 1.5, 2.5, Σwu = 0.5 + 3 + 7.5 = 11, Σw² = 8.75, so slope
    # 11/8.75 and z = 11/√8.75 = 3.7186; onsets 0 and 1 fit worse
    middle = np.arange(5) + 0.5
    u = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    first_after = np.array([0, 1, 2])
    fit = best_onset(middle, u, np.ones(5), first_after.astype(float), first_after, now=5.0)
    assert fit is not None
    assert fit.onset == 2.0 and fit.windows == 3
    assert fit.slope == pytest.approx(11 / 8.75)
    assert fit.z == pytest.approx(11 / math.sqrt(8.75))
    assert fit.slope_se == pytest.approx(1 / math.sqrt(8.75))
    # each window's sd weighs it: doubling every sd halves z and keeps the slope; a
    # long-run scale of 2 does the same to z and doubles the slope's standard error
    wide = best_onset(middle, u, np.full(5, 2.0), first_after.astype(float), first_after, now=5.0)
    assert wide is not None and wide.slope == pytest.approx(fit.slope) and wide.z == pytest.approx(fit.z / 2)
    scaled = best_onset(middle, u, np.ones(5), first_after.astype(float), first_after, now=5.0, scale=2.0)
    assert scaled is not None and scaled.z == pytest.approx(fit.z / 2)
    assert scaled.slope_se == pytest.approx(2 * fit.slope_se)


def test_white_noise_crosses_the_default_line_rarely() -> None:
    # the module docstring's figure, re-checked: the largest z over onsets in the last
    # 21 unit-sd daily windows, judged every day, opens an episode at 3.5 about 0.2
    # times a year (20,000 days here: about 11 expected; 30 would be 0.55 a year)
    rng = np.random.default_rng(7)
    u = rng.standard_normal(20_021)
    count, above = 0, False
    ones, onsets = np.ones(21), np.arange(19)
    for end in range(21, len(u)):
        days = np.arange(end - 21, end, dtype=float)
        fit = best_onset(days + 0.5, u[end - 21 : end], ones, days[onsets], onsets, now=float(end))
        now_above = fit is not None and fit.z >= 3.5
        count += now_above and not above
        above = now_above
    assert count / 20_000 * 365 < 0.55


def test_a_slide_alarms_a_week_before_it_crosses_ten_percent() -> None:
    # flat for 42 days, then −0.95% a day (−20% over three weeks), so 10% down 10.5 days
    # after the onset; a million impressions a day and a 0.4% day-level wobble
    onset, covered = 42 * 24, 0
    for seed in range(6):
        states = run_detector(SlideDetector(), hourly_ctr(seed, 56, ramp_start=42, per_day=1e6))
        assert first(states[:onset], "warn", "alarm") is None  # nothing while flat
        alarm = first(states, "alarm")
        assert alarm is not None
        lead_days = 10.5 - (alarm + 1 - onset) / 24  # state i ends hour i + 1
        assert lead_days >= 7.0
        evidence = states[alarm].evidence
        # onsets are local midnights: the estimate may be one of them off, give or take its hour
        assert abs(evidence["slide"]["onset_days_ago"] - (alarm + 1 - onset) / 24) <= 1.0 + 1 / 24
        forecast = evidence["forecast"]
        assert forecast["level"] == pytest.approx(-0.1)
        covered += forecast["low"] <= lead_days <= (forecast["high"] or math.inf)
    # a 90% interval, from the best of many onsets (which favours a steep one): most hold it
    assert covered >= 4


def test_no_alarm_on_flat_noisy_weeks() -> None:
    # 26 weeks of flat hourly CTR with a day-level wobble larger than the binomial noise
    # of a day: the long-run scale keeps the correlated hours from passing for a slide
    states = run_detector(SlideDetector(), hourly_ctr(11, 182, day_wobble=0.01))
    assert episodes(states) == 0
    assert max(s.evidence["slide"]["long_run_sd"] for s in states if "slide" in s.evidence) > 1.2


def test_a_slide_too_slow_to_cross_within_the_horizon_only_warns() -> None:
    # −0.2% a day on thick data: significant within days, but 10% is 50 days away
    states = run_detector(SlideDetector(), hourly_ctr(3, 52, ramp_start=42, ramp=0.002, per_day=5e7))
    assert first(states, "warn") is not None
    assert first(states, "alarm") is None


def test_rises_are_watched_on_up_is_bad_series_and_params_are_checked() -> None:
    falling = hourly_ctr(1, 56, ramp_start=42)
    rising = [SeriesPoint(at=p.at, start=p.start, value=2 * 0.04 - (p.value or 0.0)) for p in falling]
    detector = make_detector("slide", {"direction": "up_is_bad", "learn": "14d"})
    assert first(run_detector(detector, rising), "alarm") is not None
    with pytest.raises(InvalidInput):
        SlideParams(direction="both_bad")
    with pytest.raises(InvalidInput):
        SlideParams(relative_threshold=1.5)
    with pytest.raises(InvalidInput):
        SlideParams(min_span=timedelta(days=30))
    with pytest.raises(InvalidInput):
        make_detector("slide", {"onset": "3d"})


def test_a_recovered_step_stops_reading_as_a_slide() -> None:
    # a 6% drop for three days (a bad deploy, rolled back), then back to normal: a line
    # from before the drop still fits the old deficit, but the last two days sit at zero,
    # far above where that line says they should be
    points = hourly_ctr(5, 56, per_day=1e6)
    drop = range(42 * 24, 45 * 24)
    stepped = [
        SeriesPoint(at=p.at, start=p.start, value=(p.value or 0.0) * (0.94 if i in drop else 1.0))
        for i, p in enumerate(points)
    ]
    states = run_detector(SlideDetector(), stepped)
    assert first(states[42 * 24 :], "alarm") is not None  # the drop itself is a deficit worth a look
    recovered = states[47 * 24 :]
    assert all(s.status != "alarm" for s in recovered)
    assert min(s.evidence["slide"]["recent_gap_z"] for s in recovered) < -3
