"""Detection: detectors over metric series, and the alerts built on their states.

The detectors are pure library code over series: feed points, get states
(:mod:`recops.detect.detectors`); :mod:`recops.detect.run` runs the planned ones over
the stored series and keeps the alerts (:mod:`recops.detect.alerts`); docs/detection.md.

Every name below is imported from its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recops.lazy import lazy_getattr

if TYPE_CHECKING:
    from recops.detect.alerts import Alert as Alert
    from recops.detect.alerts import AlertEvent as AlertEvent
    from recops.detect.alerts import AlertGroup as AlertGroup
    from recops.detect.alerts import AlertSignal as AlertSignal
    from recops.detect.alerts import acknowledge as acknowledge
    from recops.detect.alerts import get_alert as get_alert
    from recops.detect.alerts import list_alerts as list_alerts
    from recops.detect.alerts import list_groups as list_groups
    from recops.detect.alerts import raise_or_update as raise_or_update
    from recops.detect.alerts import record_signals as record_signals
    from recops.detect.alerts import resolve as resolve
    from recops.detect.alerts import resolve_stale as resolve_stale
    from recops.detect.detectors import DETECTORS as DETECTORS
    from recops.detect.detectors import WORKBOOK_RULES as WORKBOOK_RULES
    from recops.detect.detectors import BurnRate as BurnRate
    from recops.detect.detectors import BurnRateParams as BurnRateParams
    from recops.detect.detectors import BurnRule as BurnRule
    from recops.detect.detectors import Cusum as Cusum
    from recops.detect.detectors import CusumParams as CusumParams
    from recops.detect.detectors import Detector as Detector
    from recops.detect.detectors import DetectorKind as DetectorKind
    from recops.detect.detectors import DetectorState as DetectorState
    from recops.detect.detectors import DriftPersistence as DriftPersistence
    from recops.detect.detectors import DriftPersistenceParams as DriftPersistenceParams
    from recops.detect.detectors import PageHinkley as PageHinkley
    from recops.detect.detectors import PageHinkleyParams as PageHinkleyParams
    from recops.detect.detectors import Residual as Residual
    from recops.detect.detectors import SeasonalBaseline as SeasonalBaseline
    from recops.detect.detectors import SeasonalDetector as SeasonalDetector
    from recops.detect.detectors import SeasonalDetectorParams as SeasonalDetectorParams
    from recops.detect.detectors import SeasonalParams as SeasonalParams
    from recops.detect.detectors import SeriesPoint as SeriesPoint
    from recops.detect.detectors import SlideDetector as SlideDetector
    from recops.detect.detectors import SlideParams as SlideParams
    from recops.detect.detectors import StaticThreshold as StaticThreshold
    from recops.detect.detectors import Status as Status
    from recops.detect.detectors import ThresholdParams as ThresholdParams
    from recops.detect.detectors import TrendDetector as TrendDetector
    from recops.detect.detectors import TrendParams as TrendParams
    from recops.detect.detectors import make_detector as make_detector
    from recops.detect.detectors import run_detector as run_detector
    from recops.detect.grouping import GroupingRules as GroupingRules
    from recops.detect.grouping import feature_groups_from_lake as feature_groups_from_lake
    from recops.detect.prometheus import render_prometheus as render_prometheus
    from recops.detect.prometheus import write_prometheus as write_prometheus
    from recops.detect.routes import Routes as Routes
    from recops.detect.routes import load_routes as load_routes
    from recops.detect.routing import deliver_pending as deliver_pending
    from recops.detect.routing import dispatch as dispatch
    from recops.detect.routing import enqueue as enqueue
    from recops.detect.silences import create_silence as create_silence
    from recops.detect.silences import expire_silence as expire_silence

# name -> the module that defines it; imported on first use, so that importing one
# submodule (or this package for one name) does not load every dependency.
_LAZY: dict[str, str] = {
    "Alert": "recops.detect.alerts",
    "AlertEvent": "recops.detect.alerts",
    "AlertGroup": "recops.detect.alerts",
    "AlertSignal": "recops.detect.alerts",
    "BurnRate": "recops.detect.detectors",
    "BurnRateParams": "recops.detect.detectors",
    "BurnRule": "recops.detect.detectors",
    "Cusum": "recops.detect.detectors",
    "CusumParams": "recops.detect.detectors",
    "DETECTORS": "recops.detect.detectors",
    "Detector": "recops.detect.detectors",
    "DetectorKind": "recops.detect.detectors",
    "DetectorState": "recops.detect.detectors",
    "DriftPersistence": "recops.detect.detectors",
    "DriftPersistenceParams": "recops.detect.detectors",
    "GroupingRules": "recops.detect.grouping",
    "PageHinkley": "recops.detect.detectors",
    "PageHinkleyParams": "recops.detect.detectors",
    "Residual": "recops.detect.detectors",
    "Routes": "recops.detect.routes",
    "SeasonalBaseline": "recops.detect.detectors",
    "SeasonalDetector": "recops.detect.detectors",
    "SeasonalDetectorParams": "recops.detect.detectors",
    "SeasonalParams": "recops.detect.detectors",
    "SeriesPoint": "recops.detect.detectors",
    "StaticThreshold": "recops.detect.detectors",
    "Status": "recops.detect.detectors",
    "ThresholdParams": "recops.detect.detectors",
    "SlideDetector": "recops.detect.detectors",
    "SlideParams": "recops.detect.detectors",
    "TrendDetector": "recops.detect.detectors",
    "TrendParams": "recops.detect.detectors",
    "WORKBOOK_RULES": "recops.detect.detectors",
    "acknowledge": "recops.detect.alerts",
    "create_silence": "recops.detect.silences",
    "deliver_pending": "recops.detect.routing",
    "dispatch": "recops.detect.routing",
    "enqueue": "recops.detect.routing",
    "expire_silence": "recops.detect.silences",
    "feature_groups_from_lake": "recops.detect.grouping",
    "get_alert": "recops.detect.alerts",
    "list_alerts": "recops.detect.alerts",
    "list_groups": "recops.detect.alerts",
    "load_routes": "recops.detect.routes",
    "make_detector": "recops.detect.detectors",
    "raise_or_update": "recops.detect.alerts",
    "record_signals": "recops.detect.alerts",
    "render_prometheus": "recops.detect.prometheus",
    "resolve": "recops.detect.alerts",
    "resolve_stale": "recops.detect.alerts",
    "run_detector": "recops.detect.detectors",
    "write_prometheus": "recops.detect.prometheus",
}

__all__ = [
    "DETECTORS",
    "WORKBOOK_RULES",
    "Alert",
    "AlertEvent",
    "AlertGroup",
    "AlertSignal",
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
    "GroupingRules",
    "PageHinkley",
    "PageHinkleyParams",
    "Residual",
    "Routes",
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
    "acknowledge",
    "create_silence",
    "deliver_pending",
    "dispatch",
    "enqueue",
    "expire_silence",
    "feature_groups_from_lake",
    "get_alert",
    "list_alerts",
    "list_groups",
    "load_routes",
    "make_detector",
    "raise_or_update",
    "record_signals",
    "render_prometheus",
    "resolve",
    "resolve_stale",
    "run_detector",
    "write_prometheus",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
