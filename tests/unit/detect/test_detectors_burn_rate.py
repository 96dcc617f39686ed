"""SLO burn rates: the workbook's rules, detection and reset times, noise, thin slices."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from recops.detect import WORKBOOK_RULES, BurnRate, BurnRateParams, DetectorState, SeriesPoint, run_detector
from tests.unit.detect.synthetic import T0

FIVE = timedelta(minutes=5)
BUDGET = 0.001  # objective 0.999


def sli(bad: list[float], events: float = 1000.0) -> list[SeriesPoint]:
    return [
        SeriesPoint(at=T0 + (i + 1) * FIVE, start=T0 + i * FIVE, value=None, numerator=b, denominator=events)
        for i, b in enumerate(bad)
    ]


def statuses(states: list[DetectorState]) -> list[str]:
    return [s.status for s in states]


def test_the_default_rules_are_the_workbook_table() -> None:
    table = [(r.long, r.short, r.burn, r.severity) for r in WORKBOOK_RULES]
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    assert table == [
        (hour, 5 * minute, 14.4, "alarm"),
        (6 * hour, 30 * minute, 6.0, "alarm"),
        (24 * hour, 2 * hour, 3.0, "warn"),
        (72 * hour, 6 * hour, 1.0, "warn"),
    ]
    # 14.4 = 2% of a 30-day budget in one hour; 6 = 5% in 6 hours; 3 = 10% in a day
    assert 0.02 * 30 * 24 / 1 == pytest.approx(14.4)
    assert 0.05 * 30 * 24 / 6 == pytest.approx(6.0)
    assert 0.10 * 30 / 1 == pytest.approx(3.0)


def test_burn_rates_by_hand() -> None:
    # 12 windows of 1,000 events: 2 bad each, then one window with 30 bad.
    states = run_detector(BurnRate(), sli([2.0] * 12 + [30.0]))
    rule = states[-1].evidence["rules"][0]  # 1h / 5m
    # 1h window = the last 12 windows: 11·2 + 30 = 52 bad of 12,000 → 52/12000/0.001
    assert rule["long_burn"] == pytest.approx(52 / 12000 / BUDGET)
    assert rule["short_burn"] == pytest.approx(30 / 1000 / BUDGET)
    assert rule["covered"] and not rule["firing"]  # 4.33 < 14.4 on the long window


def test_insufficient_until_the_shortest_long_window_is_covered() -> None:
    states = run_detector(BurnRate(), sli([500.0] * 14))
    assert statuses(states)[:11] == ["insufficient"] * 11
    assert states[11].status == "alarm"  # one full hour of data, burning at 500


def test_fast_burn_pages_after_the_time_the_workbook_predicts_and_resets_quickly() -> None:
    # Background 10% of the budget for a day, then errors at 20× the budget for 2 hours.
    background, burning = [0.1] * 288, [20.0] * 24
    states = run_detector(BurnRate(), sli(background + burning + background))
    alarm = [i for i, s in enumerate(states) if s.status == "alarm"]
    # the 1h window reaches 14.4 after 14.4/20 of an hour: 8.64 windows → the 9th
    # (the background adds 0.1·(12 - m)/12, so exactly: 20m + 0.1(12 - m) >= 14.4·12 → m >= 8.61)
    assert alarm[0] - 288 == math.ceil((14.4 * 12 - 0.1 * 12) / (20 - 0.1)) - 1
    # after the burning stops, the page holds while a 1h/5m or 6h/30m pair still burns:
    # the 30m window (6 windows) drops below 6 once fewer than 1.8 burning windows remain
    end = 288 + 24
    assert alarm[-1] < end + 6
    assert all(s.status != "alarm" for s in states[end + 6 :])


def test_slow_burn_tickets_but_does_not_page() -> None:
    # errors at 5× the budget for a day: 24h/2h at 3 fires; neither page rule can (5 < 6)
    states = run_detector(BurnRate(), sli([0.0] * 288 + [5.0] * 288))
    assert "alarm" not in statuses(states)
    first_warn = statuses(states).index("warn")
    # the 24h window burns 5·m/288 >= 3 from m = 172.8, the 173rd window (14.4 hours)
    assert first_warn - 288 == 173 - 1
    assert states[first_warn].evidence["rules"][2]["firing"]


@pytest.mark.parametrize("seed", range(10))
def test_no_alarm_on_binomial_noise_at_a_healthy_error_rate(seed: int) -> None:
    # three days at half the budget, 1,000 events per 5 minutes
    bad = np.random.default_rng(seed).binomial(1000, 0.5 * BUDGET, 864).astype(float)
    assert set(statuses(run_detector(BurnRate(), sli(list(bad))))) <= {"insufficient", "ok"}


def test_a_thin_slice_needs_more_than_one_unlucky_event() -> None:
    # 2 events per 5 minutes; one bad event is a 50% error ratio (burn 500) in its window
    bad = [0.0] * 24 + [1.0] + [0.0] * 30
    states = run_detector(BurnRate(), sli(bad, events=2.0))
    assert "alarm" not in statuses(states)
    three = run_detector(BurnRate(), sli([0.0] * 24 + [1.0, 1.0, 1.0], events=2.0))
    assert three[-1].status == "alarm"


def test_value_and_n_work_when_parts_are_missing() -> None:
    pts = [SeriesPoint(at=T0 + (i + 1) * FIVE, start=T0 + i * FIVE, value=0.5, n=1000) for i in range(12)]
    assert run_detector(BurnRate(BurnRateParams(objective=0.99)), pts)[-1].status == "alarm"
