"""Mann–Kendall, seasonal Kendall and Theil–Sen against scipy and hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats import mstats

from recops.detect.detectors.kendall import (
    SenSlope,
    forecast_crossing,
    mann_kendall,
    seasonal_mann_kendall,
    sen_slope,
)


def test_mann_kendall_by_hand_with_ties() -> None:
    # y = 1, 2, 2, 3, 1: pairs (i<j) signs: 1→2 +,1→2 +,1→3 +,1→1 0; 2→2 0, 2→3 +, 2→1 -;
    # 2→3 +, 2→1 -; 3→1 -   => S = 5 - 3 = 2
    # ties: two groups of size 2 (the 1s and the 2s): Σ t(t-1)(2t+5) = 2·(2·1·9) = 36
    # Var = (5·4·15 - 36) / 18 = 264 / 18; z = (2 - 1) / √Var
    result = mann_kendall([1, 2, 2, 3, 1])
    assert result.s == 2
    assert result.var == pytest.approx(264 / 18)
    assert result.z == pytest.approx(1 / math.sqrt(264 / 18))


@pytest.mark.parametrize("seed", range(5))
def test_mann_kendall_p_value_matches_scipy_kendalltau(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.round(rng.normal(0.0, 1.0, 40) + 0.02 * np.arange(40), 1)  # rounding makes ties
    assert len(np.unique(y)) < len(y)
    ours = mann_kendall(y, continuity=False)
    theirs = stats.kendalltau(np.arange(len(y)), y, method="asymptotic")
    assert ours.p_two_sided() == pytest.approx(theirs.pvalue, rel=1e-9)
    assert math.copysign(1, ours.s) == math.copysign(1, theirs.statistic)


def test_seasonal_kendall_matches_scipy_kendalltau_seasonal() -> None:
    rng = np.random.default_rng(7)
    weeks, seasons = 6, 7
    table = rng.normal(0.0, 1.0, (weeks, seasons)) + 0.1 * np.arange(weeks)[:, None]
    y = table.ravel()  # time order: week by week, weekday by weekday
    season = np.tile(np.arange(seasons), weeks)
    ours = seasonal_mann_kendall(y, season)
    theirs = mstats.kendalltau_seasonal(table)
    assert ours.p_two_sided() == pytest.approx(float(theirs["global p-value (indep)"]), rel=1e-9)
    per_season = [mann_kendall(table[:, j]).s for j in range(seasons)]
    assert ours.s == sum(per_season)


def test_seasonal_kendall_ignores_a_weekly_cycle() -> None:
    # A strong weekly cycle, no trend, in a window starting mid-week: the plain test's S
    # is pulled by the within-week order, the seasonal one sees only week-to-week change.
    cycle = np.array([3, 2, 1, 0, -1, -2, -3], dtype=float)
    days = np.arange(3, 3 + 28)
    y = cycle[days % 7]
    assert mann_kendall(y).s != 0
    assert seasonal_mann_kendall(y, days % 7).s == 0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_sen_slope_matches_scipy_theilslopes(seed: int, confidence: float) -> None:
    rng = np.random.default_rng(seed)
    x = np.arange(30, dtype=float)
    y = np.round(5.0 - 0.1 * x + rng.normal(0.0, 0.5, 30), 1)
    ours = sen_slope(x, y, confidence=confidence)
    theirs = stats.theilslopes(y, x, alpha=confidence)
    assert ours.slope == pytest.approx(theirs.slope)
    assert ours.intercept == pytest.approx(theirs.intercept)
    assert ours.low == pytest.approx(theirs.low_slope)
    assert ours.high == pytest.approx(theirs.high_slope)


def test_seasonal_sen_slope_is_the_median_of_within_season_slopes() -> None:
    # two seasons, three weeks: season 0 is 0, 2, 4 at days 0, 7, 14 (pair slopes 2/7,
    # 4/14, 2/7 per day); season 1 is 10, 10, 17 at days 1, 8, 15 (slopes 0, 7/14, 7/7).
    # Pairs across seasons are never formed. Median of the six: 2/7.
    x = np.array([0, 1, 7, 8, 14, 15], dtype=float)
    y = np.array([0, 10, 2, 10, 4, 17], dtype=float)
    fit = sen_slope(x, y, seasons=[0, 1, 0, 1, 0, 1])
    assert fit.slope == pytest.approx(2 / 7)


def test_forecast_crossing_by_hand() -> None:
    # falling 0.001 a day through the centre (10, 0.05): reaches 0.045 at day 15, 5 days
    # after "now" = 10; bounds -0.002 (2.5 days) and -0.0005 (10 days)
    fit = SenSlope(slope=-0.001, intercept=0.06, low=-0.002, high=-0.0005, confidence=0.9)
    crossing = forecast_crossing(fit, 10.0, 0.05, 10.0, 0.045, rising=False)
    assert crossing is not None
    assert (crossing.days, crossing.low, crossing.high) == pytest.approx((5.0, 2.5, 10.0))
    assert crossing.text == "crosses 0.045 in about 5 days, 2–10"


def test_forecast_crossing_unbounded_moving_away_and_already_past() -> None:
    shallow = SenSlope(slope=-0.001, intercept=0.0, low=-0.002, high=0.0005, confidence=0.9)
    open_ended = forecast_crossing(shallow, 10.0, 0.05, 10.0, 0.045, rising=False)
    assert open_ended is not None and open_ended.high is None
    assert open_ended.text.endswith("–more")
    assert forecast_crossing(shallow, 10.0, 0.05, 10.0, 0.06, rising=True) is None
    past = forecast_crossing(shallow, 10.0, 0.04, 10.0, 0.045, rising=False)
    assert past is not None and past.already and past.days == 0.0
