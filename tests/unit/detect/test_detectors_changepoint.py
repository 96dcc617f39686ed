"""CUSUM and Page–Hinkley: ARL on white noise, detection delays, autocorrelated residuals."""

from __future__ import annotations

import math
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from recops.detect import (
    Cusum,
    CusumParams,
    DetectorState,
    PageHinkley,
    PageHinkleyParams,
    SeasonalParams,
    SeriesPoint,
    run_detector,
)
from recops.detect.detectors.changepoint import ChangePointDetector, TwoSidedSums, siegmund_arl
from tests.unit.detect.synthetic import Traffic, points, white_noise

BERLIN = ZoneInfo("Europe/Berlin")
HOLIDAYS = (date(2024, 1, 10), date(2024, 2, 7), date(2024, 2, 28))


def episodes(states: list[DetectorState]) -> int:
    """Alarms raised: switches into ``alarm``."""
    return sum(
        1 for i, s in enumerate(states) if s.status == "alarm" and (i == 0 or states[i - 1].status != "alarm")
    )


def first_alarm_after(states: list[DetectorState], start: int) -> int | None:
    return next((i - start for i in range(start, len(states)) if states[i].status == "alarm"), None)


def white(kind: type[ChangePointDetector], **params: object) -> ChangePointDetector:
    if kind is Cusum:
        return Cusum(CusumParams(baseline=None, **params))  # type: ignore[arg-type]
    return PageHinkley(PageHinkleyParams(baseline=None, **params))  # type: ignore[arg-type]


def test_siegmund_matches_the_published_cusum_table() -> None:
    # Montgomery, Introduction to Statistical Quality Control, tabular CUSUM with k = 1/2:
    # two-sided ARL₀ 168 (h = 4) and 465 (h = 5); one-sided ARL with a 1 sd shift 8.38, 10.4.
    assert siegmund_arl(0.5, 4.0) / 2 == pytest.approx(168, rel=0.02)
    assert siegmund_arl(0.5, 5.0) / 2 == pytest.approx(465, rel=0.02)
    assert siegmund_arl(0.5, 4.0, shift=1.0) == pytest.approx(8.38, rel=0.02)
    assert siegmund_arl(0.5, 5.0, shift=1.0) == pytest.approx(10.4, rel=0.02)


def test_the_accumulator_run_length_matches_siegmund() -> None:
    # one-sided, k = 0.5, h = 4: ARL₀ ≈ 338 windows; 400 simulated runs
    rng = np.random.default_rng(11)
    lengths = []
    for _ in range(400):
        sums, n = TwoSidedSums(k=0.5, h=4.0, cap=1.5, rise_bad=True, fall_bad=False), 0
        while True:
            n += 1
            if sums.add(float(rng.standard_normal())):
                break
        lengths.append(n)
    # the ARL's standard error is about ARL/√400 = 5%
    assert float(np.mean(lengths)) == pytest.approx(siegmund_arl(0.5, 4.0), rel=0.15)


@pytest.mark.parametrize("kind", [Cusum, PageHinkley])
def test_false_alarms_on_white_noise_stay_within_the_documented_arl(kind: type[ChangePointDetector]) -> None:
    # 10 series × 2,000 windows; the documented two-sided ARL₀ (k = 0.5, h = 8) is about
    # 9,600 windows, so about 2 alarms are expected; allow the Poisson 3-sigma margin.
    expected = 10 * 2000 / (siegmund_arl(0.5, 8.0) / 2)
    alarms = sum(episodes(run_detector(white(kind), points(white_noise(seed)))) for seed in range(10))
    assert alarms <= expected + 3 * math.sqrt(expected)


@pytest.mark.parametrize("kind", [Cusum, PageHinkley])
def test_a_fast_cusum_raises_as_many_false_alarms_as_its_arl_says(kind: type[ChangePointDetector]) -> None:
    # With h = 4 the ARL₀ is short enough to count: 20,000 windows / ≈169 ≈ 118 alarms
    # (less the windows spent in alarm and warm-up); the long-run scale, on white noise
    # at least 1 by construction, must not change that much.
    expected = 10 * 2000 / (siegmund_arl(0.5, 4.0) / 2)
    alarms = sum(episodes(run_detector(white(kind, h=4.0), points(white_noise(seed)))) for seed in range(10))
    assert 0.6 * expected <= alarms <= expected + 3 * math.sqrt(expected)


@pytest.mark.parametrize(("shift", "arl"), [(1.0, 16.3), (2.0, 5.9)])
def test_step_detection_delay_matches_the_documented_table(shift: float, arl: float) -> None:
    assert siegmund_arl(0.5, 8.0, shift) == pytest.approx(arl, abs=0.05)
    delays = []
    for seed in range(20):
        x = white_noise(seed, 1500)
        x[1000:] += shift
        delay = first_alarm_after(run_detector(white(Cusum), points(x)), 1000)
        assert delay is not None
        delays.append(delay)
    # the delay from a running CUSUM is a little shorter than the ARL from zero
    assert 0.6 * arl <= float(np.mean(delays)) <= 1.2 * arl


@pytest.mark.parametrize("kind", [Cusum, PageHinkley])
def test_a_three_sd_step_is_caught_within_five_windows(kind: type[ChangePointDetector]) -> None:
    for seed in range(10):
        x = white_noise(seed, 1200)
        x[1000:] -= 3.0
        delay = first_alarm_after(run_detector(white(kind), points(x)), 1000)
        assert delay is not None and delay <= 5


def test_a_noise_free_ramp_alarms_when_the_hand_computed_sum_reaches_h() -> None:
    # z = 0 for 200 windows, then rises 0.02 per window: g = Σ max(0, g + z − k)
    ramp = [0.0] * 200 + [0.02 * (t + 1) for t in range(300)]
    g, expected = 0.0, None
    for t, z in enumerate(ramp[200:]):
        g = min(12.0, max(0.0, g + min(4.0, z) - 0.5))
        if g >= 8.0:
            expected = t
            break
    # correlation 0: the scale is the residuals' own sd (at least 1), not the long-run
    # one, which would learn from the ramp's first windows
    states = run_detector(white(Cusum, correlation=timedelta(0)), points(ramp))
    assert expected is not None
    assert first_alarm_after(states, 200) == expected


def test_a_single_wild_window_does_not_alarm_but_three_do() -> None:
    one = [0.0] * 150 + [40.0] + [0.0] * 20
    three = [0.0] * 150 + [40.0] * 3 + [0.0] * 20
    assert episodes(run_detector(white(Cusum), points(one))) == 0
    assert first_alarm_after(run_detector(white(Cusum), points(three)), 150) == 2


def test_the_alarm_clears_within_cap_windows_after_a_shift_ends() -> None:
    x = [0.0] * 150 + [3.0] * 40 + [0.0] * 40
    states = run_detector(white(Cusum), points(x))
    last = max(i for i, s in enumerate(states) if s.status == "alarm")
    # capped at 1.5h = 12, the sum falls 0.5 a window: below 8 after 9 windows (12 → 7.5)
    assert last - 190 == 8 - 1
    assert states[last + 1].evidence["upper"] == 0.0  # restarted


def test_an_offset_baseline_pages_neither_and_page_hinkley_stays_sensitive() -> None:
    # The residuals sit 0.5 sd above zero throughout (a baseline that lags a growing
    # series). Raw, a CUSUM would alarm every siegmund(0.5, 8, 0.5) = 85 windows. CUSUM
    # counts the offset into its long-run scale, Page–Hinkley learns it as the level:
    # neither pages. A later 1.5 sd step is measured by Page–Hinkley against the level
    # at full strength (delay ≈ siegmund(0.5, 8, 1.5) = 7.6), by CUSUM in its wider scale.
    assert siegmund_arl(0.5, 8.0, 0.5) < 90
    runs = [white_noise(seed, 3000) + 0.5 for seed in range(5)]
    assert sum(episodes(run_detector(white(Cusum), points(x))) for x in runs) <= 2
    assert sum(episodes(run_detector(white(PageHinkley), points(x))) for x in runs) <= 2
    ph_delays, cusum_delays = [], []
    for x in runs:
        stepped = x.copy()
        stepped[2500:] += 1.5
        ph_delays.append(first_alarm_after(run_detector(white(PageHinkley), points(stepped)), 2500) or 500)
        cusum_delays.append(first_alarm_after(run_detector(white(Cusum), points(stepped)), 2500) or 500)
    assert float(np.mean(ph_delays)) <= 1.5 * siegmund_arl(0.5, 8.0, 1.5)
    assert np.mean(ph_delays) < np.mean(cusum_delays)


def test_the_long_run_scale_of_ar1_residuals() -> None:
    # AR(1) with φ = 0.5 and unit variance: the Bartlett-weighted long-run variance with
    # L = 24 lags is 1 + 2 Σ_{l=1..24} (1 − l/25) 0.5^l ≈ 2.84 (the true one is 3).
    rng = np.random.default_rng(5)
    phi, n = 0.5, 20000
    e = rng.standard_normal(n) * math.sqrt(1 - phi * phi)
    z = np.empty(n)
    z[0] = e[0]
    for t in range(1, n):
        z[t] = phi * z[t - 1] + e[t]
    expected = math.sqrt(1 + 2 * sum((1 - lag / 25) * phi**lag for lag in range(1, 25)))
    detector = Cusum(CusumParams(baseline=None, memory=20000, correlation=timedelta(hours=24)))
    state = run_detector(detector, points(z))[-1]
    assert state.evidence["long_run_sd"] == pytest.approx(expected, rel=0.08)
    # with the scale, AR(1) residuals raise about as few alarms as white noise
    assert episodes(run_detector(Cusum(CusumParams(baseline=None)), points(z))) <= 4


def test_without_the_long_run_scale_day_to_day_wobble_raises_false_alarms() -> None:
    traffic = Traffic(weeks=10, zone=BERLIN, holidays=HOLIDAYS, seed=2).points()
    base = SeasonalParams(zone=BERLIN, holidays=frozenset(HOLIDAYS))
    white_only = run_detector(Cusum(CusumParams(baseline=base, correlation=timedelta(0))), traffic)
    scaled = run_detector(Cusum(CusumParams(baseline=base)), traffic)
    assert episodes(white_only) >= 3 and episodes(scaled) == 0


@pytest.mark.parametrize("kind", [Cusum, PageHinkley])
def test_seasonal_traffic_alarms_no_more_than_the_arl_and_a_sustained_drop_is_caught(
    kind: type[ChangePointDetector],
) -> None:
    base = SeasonalParams(zone=BERLIN, holidays=frozenset(HOLIDAYS))
    params_type = CusumParams if kind is Cusum else PageHinkleyParams
    alarms, judged, delays = 0, 0, []
    drop_at = 7 * 24 * 9 + 24 * 2 + 17  # Wednesday of week 10, 18:00 Berlin
    for seed in range(10):
        pts = Traffic(weeks=12, zone=BERLIN, holidays=HOLIDAYS, seed=seed).points()
        states = run_detector(kind(params_type(baseline=base)), pts)
        alarms += episodes(states)
        judged += sum(1 for s in states if s.status != "insufficient")
        dropped = [
            SeriesPoint(at=p.at, start=p.start, value=(p.value or 0.0) * (0.7 if i >= drop_at else 1.0))
            for i, p in enumerate(pts)
        ]
        delays.append(first_alarm_after(run_detector(kind(params_type(baseline=base)), dropped), drop_at))
    # Traffic with a 3% day-to-day wobble, holidays and a clock change: residuals that
    # are far from white. With the long-run scale the false alarms stay within what the
    # white-noise ARL₀ implies for the windows judged (about 14,000 → 1.5 expected).
    expected = judged / (siegmund_arl(0.5, 8.0) / 2)
    assert alarms <= expected + 3 * math.sqrt(expected)
    # a sustained 30% drop (about 5 residual sd an hour) within 8 hours, every time
    assert all(d is not None and d <= 8 for d in delays), delays


def test_min_relative_change_keeps_small_sustained_shifts_quiet() -> None:
    # Level 100, sd 1: a step of -3 is 3 sd (caught within 5 windows) but only a 3% move.
    def run(step: float, gate: float | None) -> int | None:
        x = 100.0 + white_noise(3, 1200)
        x[1000:] -= step
        params = CusumParams(
            baseline=None, mean=100.0, sd=1.0, direction="down_is_bad", min_relative_change=gate
        )
        states = run_detector(Cusum(params), points(x))
        return first_alarm_after(states, 1000)

    assert run(3.0, None) is not None
    assert run(3.0, 0.05) is None
    delay = run(10.0, 0.05)
    assert delay is not None and delay <= 3
