"""Detectors over metric series, registered by name.

Each detector is a class with a ``name``, built from a frozen parameters dataclass, and
fed :class:`SeriesPoint` values in time order (``update(point) -> DetectorState``).
:func:`make_detector` builds one by name from a plain mapping (a config file, a JSON
body): unknown names and unknown parameters are refused, zones, dates and durations
(``"1h"``, ``"28d"``) are parsed.

| name | class | judges |
|---|---|---|
| ``threshold`` | :class:`StaticThreshold` | the value against a fixed level |
| ``burn_rate`` | :class:`BurnRate` | SLO error-budget burn, multi-window, multi-rate |
| ``seasonal`` | :class:`SeasonalDetector` | a window against the same hour of the week |
| ``cusum`` | :class:`Cusum` | sustained shifts of the seasonal residual |
| ``page_hinkley`` | :class:`PageHinkley` | shifts relative to the residual's own level |
| ``trend`` | :class:`TrendDetector` | slow degradation and its forecast crossing |
| ``slide`` | :class:`SlideDetector` | a slide that began days ago, and its forecast crossing |
| ``drift_persistence`` | :class:`DriftPersistence` | a drift ratio that keeps rising |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from recops.detect.detectors.base import (
    Detector,
    DetectorState,
    SeriesPoint,
    Status,
    run_detector,
)
from recops.detect.detectors.burn_rate import WORKBOOK_RULES, BurnRate, BurnRateParams, BurnRule
from recops.detect.detectors.cusum import Cusum, CusumParams
from recops.detect.detectors.drift_persistence import DriftPersistence, DriftPersistenceParams
from recops.detect.detectors.page_hinkley import PageHinkley, PageHinkleyParams
from recops.detect.detectors.seasonal import SeasonalDetector, SeasonalDetectorParams
from recops.detect.detectors.seasonal_baseline import Residual, SeasonalBaseline, SeasonalParams
from recops.detect.detectors.slide import SlideDetector, SlideParams
from recops.detect.detectors.threshold import StaticThreshold, ThresholdParams
from recops.detect.detectors.trend import TrendDetector, TrendParams
from recops.errors import InvalidInput


@dataclass(frozen=True)
class DetectorKind:
    """A registered detector: its class and how to read its parameters from a mapping."""

    name: str
    detector: Callable[[Any], Detector]
    params: Callable[[Mapping[str, Any]], Any]


DETECTORS: dict[str, DetectorKind] = {
    kind.name: kind
    for kind in (
        DetectorKind("threshold", StaticThreshold, ThresholdParams.from_dict),
        DetectorKind("burn_rate", BurnRate, BurnRateParams.from_dict),
        DetectorKind("seasonal", SeasonalDetector, SeasonalDetectorParams.from_dict),
        DetectorKind("cusum", Cusum, CusumParams.from_dict),
        DetectorKind("page_hinkley", PageHinkley, PageHinkleyParams.from_dict),
        DetectorKind("trend", TrendDetector, TrendParams.from_dict),
        DetectorKind("slide", SlideDetector, SlideParams.from_dict),
        DetectorKind("drift_persistence", DriftPersistence, DriftPersistenceParams.from_dict),
    )
}


def make_detector(name: str, params: Mapping[str, Any] | None = None) -> Detector:
    """A fresh detector ``name`` with ``params`` (missing ones take their defaults)."""
    kind = DETECTORS.get(name)
    if kind is None:
        raise InvalidInput(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")
    return kind.detector(kind.params(params or {}))


__all__ = [
    "DETECTORS",
    "WORKBOOK_RULES",
    "BurnRate",
    "BurnRateParams",
    "BurnRule",
    "Cusum",
    "CusumParams",
    "Detector",
    "DetectorKind",
    "DetectorState",
    "DriftPersistence",
    "DriftPersistenceParams",
    "PageHinkley",
    "PageHinkleyParams",
    "Residual",
    "SeasonalBaseline",
    "SeasonalDetector",
    "SeasonalDetectorParams",
    "SeasonalParams",
    "SeriesPoint",
    "SlideDetector",
    "SlideParams",
    "StaticThreshold",
    "Status",
    "ThresholdParams",
    "TrendDetector",
    "TrendParams",
    "make_detector",
    "run_detector",
]
