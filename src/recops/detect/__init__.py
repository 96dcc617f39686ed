"""Detection: detectors over metric series (and, later, alerts built on their states).

The detectors are pure library code over series: feed points, get states
(:mod:`recops.detect.detectors`, docs/detection.md).
"""

from __future__ import annotations

from recops.detect.detectors import (
    DETECTORS,
    WORKBOOK_RULES,
    BurnRate,
    BurnRateParams,
    BurnRule,
    Cusum,
    CusumParams,
    Detector,
    DetectorKind,
    DetectorState,
    DriftPersistence,
    DriftPersistenceParams,
    PageHinkley,
    PageHinkleyParams,
    Residual,
    SeasonalBaseline,
    SeasonalDetector,
    SeasonalDetectorParams,
    SeasonalParams,
    SeriesPoint,
    StaticThreshold,
    Status,
    ThresholdParams,
    TrendDetector,
    TrendParams,
    make_detector,
    run_detector,
)

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
    "StaticThreshold",
    "Status",
    "ThresholdParams",
    "TrendDetector",
    "TrendParams",
    "make_detector",
    "run_detector",
]

# --- alerts: lifecycle, grouping, silences, routing, Prometheus (docs/detection-alerts.md)
from recops.detect.alerts import (
    Alert,
    AlertEvent,
    AlertGroup,
    AlertSignal,
    acknowledge,
    get_alert,
    list_alerts,
    list_groups,
    raise_or_update,
    record_signals,
    resolve,
    resolve_stale,
)
from recops.detect.grouping import GroupingRules, feature_groups_from_lake
from recops.detect.prometheus import render_prometheus, write_prometheus
from recops.detect.routes import Routes, load_routes
from recops.detect.routing import deliver_pending, dispatch, enqueue
from recops.detect.silences import create_silence, expire_silence

__all__ += [
    "Alert",
    "AlertEvent",
    "AlertGroup",
    "AlertSignal",
    "GroupingRules",
    "Routes",
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
    "raise_or_update",
    "record_signals",
    "render_prometheus",
    "resolve",
    "resolve_stale",
    "write_prometheus",
]
