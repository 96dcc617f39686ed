"""Seasonal baselines: same local hour and weekday, holidays, noise floors, spikes."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from recops.detect import (
    Residual,
    SeasonalBaseline,
    SeasonalDetector,
    SeasonalDetectorParams,
    SeasonalParams,
    SeriesPoint,
    run_detector,
)
from tests.unit.detect.synthetic import HOUR, T0, Traffic

BERLIN = ZoneInfo("Europe/Berlin")
HOLIDAYS = (date(2024, 1, 10), date(2024, 2, 7), date(2024, 2, 28))  # Wednesdays; the first in warm-up


def hourly(values: dict[datetime, float], weeks: int, default: float = 100.0) -> list[SeriesPoint]:
    """Hourly points from T0 with ``default`` except at the given window starts."""
    out = []
    for i in range(weeks * 7 * 24):
        start = T0 + i * HOUR
        out.append(SeriesPoint(at=start + HOUR, start=start, value=values.get(start, default)))
    return out


def observe_all(baseline: SeasonalBaseline, pts: list[SeriesPoint]) -> dict[datetime, Residual | None]:
    return {p.window_start: baseline.observe(p)[0] for p in pts}


def test_baseline_is_the_median_of_the_same_local_hour_and_weekday_of_the_last_4_weeks() -> None:
    # Mondays 10:00 in Berlin (09:00 UTC in winter): 1000 (5 weeks back, too old), then
    # 10, 20, 30, 40; week 5 is judged against median(10, 20, 30, 40) = 25.
    mondays = [datetime(2024, 1, d, 10, tzinfo=BERLIN).astimezone(UTC) for d in (1, 8, 15, 22, 29, 5 + 0)]
    mondays[-1] = datetime(2024, 2, 5, 10, tzinfo=BERLIN).astimezone(UTC)
    values = dict(zip(mondays, [1000.0, 10.0, 20.0, 30.0, 40.0, 25.0], strict=True))
    baseline = SeasonalBaseline(SeasonalParams(zone=BERLIN, min_pool=1))
    seen = observe_all(baseline, hourly(values, weeks=6))
    judged = seen[mondays[-1]]
    assert judged is not None and judged.baseline == 25.0 and judged.residual == 0.0
    # 09:00 UTC is not 10:00 UTC: the neighbouring hour kept its own baseline of 100
    other = seen[mondays[-1] + HOUR]
    assert other is not None and other.baseline == 100.0


def test_the_same_local_hour_across_a_daylight_saving_change() -> None:
    # Berlin moves to summer time on 2024-03-31: Monday 10:00 local is 09:00 UTC before,
    # 08:00 UTC after. The baseline follows local time.
    before = [datetime(2024, 3, d, 10, tzinfo=BERLIN) for d in (4, 11, 18, 25)]
    after = datetime(2024, 4, 1, 10, tzinfo=BERLIN)
    assert {b.utcoffset() for b in before} != {after.utcoffset()}
    values = {b.astimezone(UTC): v for b, v in zip(before, [50.0, 60.0, 70.0, 80.0], strict=True)}
    baseline = SeasonalBaseline(SeasonalParams(zone=BERLIN, min_pool=1))
    seen = observe_all(baseline, hourly(values, weeks=14))
    judged = seen[after.astimezone(UTC)]
    assert judged is not None and judged.baseline == 65.0


def test_holidays_are_compared_with_holidays_then_sundays_and_left_out_of_normal_days() -> None:
    noon = {d: datetime(d.year, d.month, d.day, 12, tzinfo=UTC) for d in HOLIDAYS}
    sundays = [datetime(2024, 1, d, 12, tzinfo=UTC) for d in (7, 14, 21, 28)] + [
        datetime(2024, 2, 4, 12, tzinfo=UTC)
    ]
    wednesdays = [datetime(2024, 1, d, 12, tzinfo=UTC) for d in (17, 24, 31)]
    values = {t: 300.0 for t in sundays} | {t: 150.0 for t in wednesdays}
    values |= {noon[HOLIDAYS[0]]: 500.0, noon[HOLIDAYS[1]]: 520.0, noon[HOLIDAYS[2]]: 540.0}
    params = SeasonalParams(holidays=frozenset(HOLIDAYS), min_pool=1)
    seen = observe_all(SeasonalBaseline(params), hourly(values, weeks=9))
    first, second, third = (seen[noon[d]] for d in HOLIDAYS)
    assert first is None  # the first holiday: only one Sunday before it (min_weeks 2)
    assert second is not None and third is not None
    assert (second.reference, second.baseline) == ("holidays", 500.0)
    assert (third.reference, third.baseline) == ("holidays", 510.0)
    # the Wednesday after the 2024-02-07 holiday: baseline from 4 normal Wednesdays
    # (01-17, 01-24, 01-31 at 150 and 01-03 at the default 100), the holiday left out
    after = seen[datetime(2024, 2, 14, 12, tzinfo=UTC)]
    assert after is not None and after.reference == "weekday" and after.baseline == 150.0


def test_a_first_holiday_is_compared_with_sundays() -> None:
    holiday = date(2024, 2, 14)
    params = SeasonalParams(holidays=frozenset({holiday}), min_pool=1)
    sundays = {datetime(2024, 2, d, 12, tzinfo=UTC): 300.0 for d in (4, 11)} | {
        datetime(2024, 1, d, 12, tzinfo=UTC): 300.0 for d in (21, 28)
    }
    seen = observe_all(SeasonalBaseline(params), hourly(sundays, weeks=7))
    judged = seen[datetime(2024, 2, 14, 12, tzinfo=UTC)]
    assert judged is not None and (judged.reference, judged.baseline) == ("sundays", 300.0)


def test_binomial_floor_by_hand() -> None:
    # Four past windows at 5% of 400 each, this one 3% of 100: the floor is
    # sqrt(p(1-p)(1/n + (π/2)/Σnᵢ)) with the pooled p = (80 + 3) / 1700, n = 100, Σnᵢ = 1600.
    params = SeasonalParams(min_pool=1, min_relative_scale=0.0)
    baseline = SeasonalBaseline(params)
    result = None
    for week in range(6):
        start = T0 + week * 7 * 24 * HOUR
        for other in range(1, 3):  # two other hours, to fill the residual pool
            s = start + other * HOUR
            baseline.observe(SeriesPoint(at=s + HOUR, start=s, value=0.05, numerator=20, denominator=400))
        last = week == 5
        point = SeriesPoint(
            at=start + HOUR,
            start=start,
            value=0.03 if last else 0.05,
            numerator=3 if last else 20,
            denominator=100 if last else 400,
        )
        result = baseline.observe(point)[0]
    assert result is not None
    pooled = 83 / 1700
    expected = math.sqrt(pooled * (1 - pooled) * (1 / 100 + (math.pi / 2) / 1600))
    assert result.scales["binomial"] == pytest.approx(expected)
    assert result.scale == pytest.approx(expected)  # the pool of exact residuals is 0
    assert result.z == pytest.approx(-0.02 / expected)


def ratio_series(
    denominator: float, seed: int, drop_at: int, rate: float = 0.05, drop: float = 0.2
) -> list[SeriesPoint]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(7 * 24 * 6):
        start = T0 + i * HOUR
        p = rate * (1 - drop) if i >= drop_at else rate
        clicks = float(rng.binomial(int(denominator), p))
        out.append(
            SeriesPoint(
                at=start + HOUR,
                start=start,
                value=clicks / denominator,
                numerator=clicks,
                denominator=denominator,
            )
        )
    return out


def test_a_thin_slice_needs_a_larger_move_than_a_thick_one() -> None:
    drop_at = 7 * 24 * 5 + 12  # a 20% CTR drop in week 6
    thick = run_detector(SeasonalDetector(), ratio_series(50_000, seed=1, drop_at=drop_at))
    thin = run_detector(SeasonalDetector(), ratio_series(50, seed=1, drop_at=drop_at))
    assert thick[drop_at].status == "alarm"  # caught on its first window
    assert {s.status for s in thin} <= {"ok", "insufficient"}
    floor = thin[drop_at].evidence["residual"]["scales"]["binomial"]
    assert floor == pytest.approx(math.sqrt(0.05 * 0.95 * (1 / 50 + (math.pi / 2) / 200)), rel=0.35)
    assert thick[drop_at].evidence["residual"]["scales"]["binomial"] < floor / 20


def test_a_ratio_is_scaled_by_its_own_denominator_by_day_and_by_night() -> None:
    # Binomial CTR (4%) whose hours carry 200 impressions at night and 4,000 by day, clicks
    # coming in pairs (twice the binomial variance, as clicks cluster by request): pooled
    # relative to the level, one scale
    # would be too wide by day and too narrow by night. In units of each window's binomial
    # error, the z's have about unit spread in both (decision 0051).
    rng = np.random.default_rng(7)
    baseline = SeasonalBaseline(SeasonalParams(min_relative_scale=0.0))
    day_z, night_z = [], []
    for i in range(7 * 24 * 8):
        start = T0 + i * HOUR
        n = 4000 if 9 <= start.hour < 23 else 200
        clicks = float(2 * rng.binomial(n // 2, 0.04))
        residual = baseline.observe(
            SeriesPoint(at=start + HOUR, start=start, value=clicks / n, numerator=clicks, denominator=n)
        )[0]
        if residual is not None and i >= 7 * 24 * 5:
            (day_z if n == 4000 else night_z).append(residual.z)
    assert 0.8 < float(np.std(day_z)) < 1.25
    assert 0.8 < float(np.std(night_z)) < 1.25


@pytest.mark.parametrize("seed", range(5))
def test_a_spike_alarms_on_its_window_and_the_direction_is_respected(seed: int) -> None:
    # +60% for one evening hour on traffic whose hourly residuals are about 5% (3% day
    # wobble, 1.5% hour noise, Poisson): z ≈ 10, far past the alarm line
    traffic = Traffic(weeks=8, zone=BERLIN, holidays=HOLIDAYS[:2], seed=seed)
    pts = traffic.points()
    spike = 7 * 24 * 7 + 20 * 1 + 24 * 2  # Wednesday of week 8, evening
    pts[spike] = SeriesPoint(at=pts[spike].at, start=pts[spike].start, value=pts[spike].value * 1.6)  # type: ignore[operator]
    params = SeasonalParams(zone=BERLIN, holidays=frozenset(HOLIDAYS[:2]))
    states = run_detector(SeasonalDetector(SeasonalDetectorParams(baseline=params)), pts)
    assert [i for i, s in enumerate(states) if s.status == "alarm"] == [spike]  # delay 0, nothing else
    assert states[spike].evidence["statistic"]["value"] > 6
    down_only = SeasonalDetectorParams(baseline=params, direction="down_is_bad")
    assert "alarm" not in {s.status for s in run_detector(SeasonalDetector(down_only), pts)}


@pytest.mark.parametrize("seed", range(10))
def test_no_alert_on_seasonal_traffic_with_noise_holidays_and_a_dst_change(seed: int) -> None:
    # 14 weeks of Berlin traffic (through the 2024-03-31 clock change), three holidays
    # shaped like holidays (weekend-shaped, 30% above a Sunday).
    traffic = Traffic(weeks=14, zone=BERLIN, holidays=HOLIDAYS, seed=seed)
    params = SeasonalDetectorParams(baseline=SeasonalParams(zone=BERLIN, holidays=frozenset(HOLIDAYS)))
    states = run_detector(SeasonalDetector(params), traffic.points())
    judged = [s for s in states if s.status != "insufficient"]
    assert len(judged) > 0.8 * len(states)
    assert {s.status for s in judged} == {"ok"}


def test_the_same_traffic_alarms_on_holidays_left_out_of_the_calendar() -> None:
    traffic = Traffic(weeks=10, zone=BERLIN, holidays=HOLIDAYS, seed=0)
    params = SeasonalDetectorParams(baseline=SeasonalParams(zone=BERLIN))
    states = run_detector(SeasonalDetector(params), traffic.points())
    alarm_days = {s.since.astimezone(BERLIN).date() for s in states if s.status == "alarm"}
    # the two holidays judged (the first falls in the warm-up) alarm; so does the Wednesday
    # after the first, whose baseline now holds a holiday: what the calendar prevents
    assert set(HOLIDAYS[1:]) <= alarm_days
    assert date(2024, 1, 17) in alarm_days


def test_state_stays_bounded() -> None:
    baseline = SeasonalBaseline(SeasonalParams(zone=BERLIN))
    for point in Traffic(weeks=20, zone=BERLIN, seed=2).points():
        baseline.observe(point)
    assert max(len(history) for history in baseline._slots.values()) == 4
    assert len(baseline._slots) == 7 * 24
    assert len(baseline._pool) <= 14 * 24


def test_min_relative_change_and_min_n_gate_what_z_alone_would_flag() -> None:
    # A perfectly flat series (tiny spread) then a 3% rise: huge z, small effect.
    flat = {T0 + i * HOUR: 100.0 for i in range(5 * 7 * 24)}
    last = max(flat) + HOUR
    pts = hourly({**flat, last: 103.0}, weeks=6)[: len(flat) + 1]
    plain = run_detector(SeasonalDetector(SeasonalDetectorParams(direction="up_is_bad")), pts)[-1]
    gated = SeasonalDetectorParams(direction="up_is_bad", min_relative_change=0.05)
    assert plain.status == "alarm"
    assert run_detector(SeasonalDetector(gated), pts)[-1].status == "ok"
    big = hourly({**flat, last: 110.0}, weeks=6)[: len(flat) + 1]
    assert run_detector(SeasonalDetector(gated), big)[-1].status == "alarm"
    # min_n: a window with too few observations is not judged.
    thin = [SeriesPoint(at=p.at, start=p.start, value=p.value, n=50) for p in big]
    counted = SeasonalDetectorParams(direction="up_is_bad", min_n=100)
    state = run_detector(SeasonalDetector(counted), thin)[-1]
    assert state.status == "insufficient" and "min_n" in state.evidence["reason"]


def test_the_poisson_floor_keeps_a_thin_counts_drop_quiet() -> None:
    # Four weeks of exactly 18 per hour (no spread at all), then 6: without the floor the
    # relative floor (0.5% of 18) makes it z = -133; with it, the scale is
    # sqrt(18 · (1 + (π/2)/4)) by hand, z ≈ -2.4; at 100× the volume the drop stands.
    def last_state(level: float, poisson: bool) -> Residual | None:
        flat = {T0 + i * HOUR: level for i in range(5 * 7 * 24)}
        last = max(flat) + HOUR
        pts = hourly({**flat, last: level / 3}, weeks=6, default=level)[: len(flat) + 1]
        baseline = SeasonalBaseline(SeasonalParams(poisson_floor=poisson))
        return observe_all(baseline, pts)[last]

    plain, floored, thick = last_state(18, False), last_state(18, True), last_state(1800, True)
    assert plain is not None and floored is not None and thick is not None
    assert plain.z < -100
    expected = -12 / math.sqrt(18 * (1 + (math.pi / 2) / 4))
    assert floored.z == pytest.approx(expected, rel=1e-9) and floored.z > -3
    assert thick.z < -20
