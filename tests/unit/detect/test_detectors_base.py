"""The uniform interface: points in, states out; the registry; JSON-able evidence."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from recops.detect import (
    DETECTORS,
    BurnRule,
    DetectorState,
    SeasonalDetectorParams,
    SeriesPoint,
    ThresholdParams,
    make_detector,
    run_detector,
)
from recops.errors import InvalidInput
from tests.unit.detect.synthetic import DAY, HOUR, T0, Traffic, points


def test_series_point_needs_tz_aware_times() -> None:
    with pytest.raises(InvalidInput, match="tz-aware"):
        SeriesPoint(at=datetime(2024, 1, 1), value=1.0)
    point = SeriesPoint(at=T0 + HOUR, value=float("nan"))
    assert point.window_start == point.at and point.usable_value is None


def test_series_point_from_a_stored_row() -> None:
    row = {"window_start": T0, "window_end": T0 + HOUR, "value": 0.05, "numerator": 5.0, "denominator": 100.0}
    point = SeriesPoint.from_row(row | {"n": 100})
    assert (point.start, point.at, point.value, point.denominator, point.n) == (
        T0,
        T0 + HOUR,
        0.05,
        100.0,
        100,
    )


def test_points_must_go_forward_in_time() -> None:
    detector = make_detector("threshold", {"level": 1.0})
    detector.update(SeriesPoint(at=T0 + HOUR, value=0.0))
    with pytest.raises(InvalidInput, match="increasing time"):
        detector.update(SeriesPoint(at=T0 + HOUR, value=0.0))


def test_registry_builds_every_detector_with_defaults() -> None:
    assert set(DETECTORS) == {
        "threshold",
        "burn_rate",
        "seasonal",
        "cusum",
        "page_hinkley",
        "trend",
        "slide",
        "drift_persistence",
    }
    for name in DETECTORS:
        detector = make_detector(name)
        assert detector.name == name
        state = detector.update(SeriesPoint(at=T0 + HOUR, start=T0, value=0.0, numerator=0, denominator=10))
        assert state.status in ("ok", "insufficient")


def test_registry_parses_zones_dates_durations_and_rules() -> None:
    seasonal = make_detector(
        "seasonal",
        {"warn_z": 4.5, "baseline": {"zone": "Europe/Berlin", "holidays": ["2024-12-25"], "pool": "7d"}},
    )
    params = seasonal.params
    assert isinstance(params, SeasonalDetectorParams)
    assert params.baseline.zone.key == "Europe/Berlin"
    assert params.baseline.holidays == frozenset({date(2024, 12, 25)})
    assert params.baseline.pool == timedelta(days=7)
    burn = make_detector(
        "burn_rate", {"rules": [{"long": "1h", "short": "5m", "burn": 14.4, "severity": "alarm"}]}
    )
    assert burn.params.rules == (BurnRule(HOUR, timedelta(minutes=5), 14.4, "alarm"),)
    assert make_detector("trend", {"window": "21d"}).params.window == timedelta(days=21)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "unknown detector"),
        ("threshold", {"levle": 1.0}, "unknown parameter"),
        ("seasonal", {"baseline": {"zone": "Mars/Olympus"}}, "unknown time zone"),
        ("seasonal", {"direction": "sideways"}, "unknown direction"),
        ("trend", {"window": "soon"}, "bad duration"),
        ("cusum", {"h": 0}, "h > 0"),
    ],
)
def test_registry_refuses_bad_names_and_parameters(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        make_detector(name, params)


def test_since_is_the_data_time_the_status_began() -> None:
    values = [0.0, 0.0, 2.0, 3.0, 0.0]
    states = run_detector(make_detector("threshold", {"level": 1.0}), points(values))
    assert [s.status for s in states] == ["ok", "ok", "alarm", "alarm", "ok"]
    assert [s.since for s in states] == [T0 + HOUR, T0 + HOUR, T0 + 3 * HOUR, T0 + 3 * HOUR, T0 + 5 * HOUR]
    assert [s.at for s in states] == [T0 + (i + 1) * HOUR for i in range(5)]


def test_every_detectors_states_are_strict_json() -> None:
    traffic = Traffic(weeks=5, holidays=(date(2024, 1, 24),)).points()
    rng = np.random.default_rng(1)
    daily = points(0.05 - 0.0004 * np.arange(40) + rng.normal(0, 0.0005, 40), DAY)
    feeds: dict[str, list[SeriesPoint]] = {
        "threshold": traffic,
        "seasonal": traffic,
        "cusum": traffic,
        "page_hinkley": traffic,
        "burn_rate": [
            SeriesPoint(at=p.at, start=p.start, value=None, numerator=p.value, denominator=1e6)
            for p in traffic
        ],
        "trend": daily,
        "slide": traffic,
        "drift_persistence": daily,
    }
    params: dict[str, dict[str, object]] = {
        "trend": {"threshold": 0.045},
        "slide": {"baseline": {"zone": "Europe/Berlin", "holidays": ["2024-01-24"]}},
        "drift_persistence": {"threshold": 0.05},
    }
    for name, feed in feeds.items():
        states = run_detector(make_detector(name, params.get(name)), feed)
        assert {s.status for s in states} - {"insufficient"}, name  # each detector got to judge
        for state in states:
            assert isinstance(state, DetectorState)
            text = json.dumps(state.to_json(), allow_nan=False)
            evidence = json.loads(text)["evidence"]
            assert {"detector", "value", "baseline", "bounds", "statistic", "parameters"} <= set(evidence)


def test_threshold_params_refuse_a_warn_line_past_the_alarm_line() -> None:
    with pytest.raises(InvalidInput, match="past the alarm level"):
        ThresholdParams(level=1.0, warn_level=2.0)
