"""The model-decay cause reads a slide alert's own evidence (hand values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

import pytest

from recops.diagnose.causes.base import Move
from recops.diagnose.causes.decay import _slide
from recops.diagnose.contribution import Period

END = datetime(2026, 10, 20, 12, tzinfo=UTC)


def _move(evidence: dict[str, Any] | None) -> Move:
    current = Period(END - timedelta(hours=1), END)
    baseline = Period(current.start - timedelta(days=7), current.end - timedelta(days=7))
    return Move("ctr", "", "", "hour", current, baseline, None, None, evidence)


def _slide_evidence(z: float, moved: float, days: float) -> dict[str, Any]:
    return {
        "detector": "slide",
        "statistic": {"name": "slide_z", "value": z},
        "slide": {"onset_days_ago": days, "moved": moved, "slope_per_day": moved / days},
    }


def test_a_slide_alert_is_evidence_of_decay_in_proportion_to_its_move() -> None:
    # z = 4 → one-sided p = 3.17e-5; at alpha 0.05 the significance is 1 − p/0.05 = 0.99937;
    # the fitted move of −4.5% against the catalog's 10% line gives 0.45
    found = _slide(_move(_slide_evidence(4.0, -0.045, 4.5)), 0.05, 0.1)
    assert found is not None
    certainty, sentence, evidence, onset = found
    p = 1 - NormalDist().cdf(4.0)
    assert evidence["p_value"] == pytest.approx(p)
    assert certainty == pytest.approx((1 - p / 0.05) * 0.45)
    assert onset == END - timedelta(days=4.5)
    assert "sliding for about 4.5 days" in sentence and "-4.5%" in sentence


def test_only_a_slide_alert_counts() -> None:
    assert _slide(_move(None), 0.05, 0.1) is None  # a metric and period, no alert
    cusum = {"detector": "cusum", "statistic": {"name": "cusum", "value": 9.0}}
    assert _slide(_move(cusum), 0.05, 0.1) is None
    assert _slide(_move(_slide_evidence(1.0, -0.02, 3.0)), 0.05, 0.1) is None  # not significant
