"""Which detectors judge which metric series, derived from the metric catalog.

A detection pass runs, for every stored series of a metric, the detectors its
:class:`DetectorSpec` list names. The defaults follow from what the catalog already says
about the metric (its threshold, SLO, direction and unit), so a user metric with a
threshold is judged without any detection config:

| the catalog says | detector | window | alarm raises | warn raises |
|---|---|---|---|---|
| ``above``/``below`` a fixed level | ``threshold`` | each catalog size | page or ticket | — |
| an SLO burn rate (``*_burn_rate`` with ``slo``) | ``burn_rate`` | finest | page | ticket |
| ``relative_drop``/``_rise`` | ``seasonal`` (same hour of week) | each catalog size | page or ticket | — |
| ``relative_drop``/``_rise`` | ``cusum`` on the residual, same minimum shift | hour | page or ticket | — |
| a count with no threshold | ``seasonal``, drops only | hour | ticket | — |
| ``relative_*`` on what is not a ratio (the p95 latency, per stage) | ``seasonal`` only | hour | ticket | — |
| a threshold on a bad side | ``trend`` (Theil–Sen, forecast), all traffic | day | ticket | — |
| ``relative_*`` on a rate, one bad side | ``slide`` (broken line), all traffic | hour | ticket | — |
| the drift ratio | ``drift_persistence`` | day | ticket | — |

A level taken from an SLO (``latency_p99_ms`` above ``[slo] latency_p99_ms``) is not
judged window by window: one hour's p99 over the target is noise at the SLO's edge, and
the SRE workbook's answer is to alert on the error budget's burn (the ``*_burn_rate``
metrics) and to forecast the crossing (the trend detector), both of which apply.

Alarms page for the families where something is broken now and someone must act
(arrival, freshness, latency; error, fallback and empty-slate rates); they open a
ticket for model and business metrics, drift and data-quality checks, whose moves need a
look in working hours rather than a wake-up. Warns raise nothing except the SRE
workbook's slow burns (tickets): the seasonal detector's warn line is a "look closer"
line that a pager must not hear, and a trend's warn (significant, but no crossing
within the horizon) is evidence for diagnosis, not an alert.

A count spike is not judged: more traffic or more rows than usual (a release, a
holiday, a backfill) is load, not breakage, and capacity monitoring owns it; a drop
(traffic lost, a partition half loaded) is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recops.catalog import Catalog, MetricDefinition, Threshold
from recops.config import Config
from recops.monitors.families.latency import DEFAULT_ERROR_RATE, DEFAULT_LATENCY_TARGET_MS

PAGE_FAMILIES = frozenset({"arrival", "freshness", "latency"})
PAGE_METRICS = frozenset({"error_rate", "fallback_rate", "empty_slate_rate"})
SERVING = "serving"


@dataclass(frozen=True)
class DetectorSpec:
    """One detector over one window size of a metric's series.

    Attributes:
        detector: the registered detector name (:data:`recops.detect.detectors.DETECTORS`).
        params: its parameters, as :func:`~recops.detect.detectors.make_detector` reads them.
        granularity: the window size judged (``serving`` for the serving window, ``hour``, ``day``).
        alarm: the severity an ``alarm`` state raises.
        warn: the severity a ``warn`` state raises (``None``: nothing).
        reason: why this detector judges this metric (shown by ``recops alerts plan``).
        total_only: judge only the all-traffic series (slice ``""``), not each slice.
    """

    detector: str
    params: Mapping[str, Any]
    granularity: str
    alarm: str
    warn: str | None = None
    reason: str = ""
    total_only: bool = False

    def severity(self, status: str) -> str | None:
        """The severity ``status`` raises, or None."""
        if status == "alarm":
            return self.alarm
        if status == "warn":
            return self.warn
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "granularity": self.granularity,
            "alarm": self.alarm,
            "warn": self.warn,
            "params": dict(self.params),
            "reason": self.reason,
            "slices": "all traffic only" if self.total_only else "every slice",
        }


@dataclass(frozen=True)
class DetectionPlan:
    """The detectors of every metric: metric name → specs."""

    specs: Mapping[str, tuple[DetectorSpec, ...]] = field(default_factory=dict)

    def for_metric(self, metric: str) -> tuple[DetectorSpec, ...]:
        return self.specs.get(metric, ())

    @property
    def metrics(self) -> list[str]:
        return [m for m, specs in self.specs.items() if specs]

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {m: [s.to_json() for s in specs] for m, specs in self.specs.items() if specs}


def size_name(granularity: str) -> str:
    """``5min`` (or any minute window) is the serving window; hour and day are themselves."""
    return SERVING if granularity.endswith("min") else granularity


def default_plan(catalog: Catalog, config: Config) -> DetectionPlan:
    """The default detectors of every catalog metric (module docstring for the rules)."""
    return DetectionPlan({d.name: tuple(specs_for(d, config)) for d in catalog})


def _alarm_severity(definition: MetricDefinition) -> str:
    return "page" if definition.family in PAGE_FAMILIES or definition.name in PAGE_METRICS else "ticket"


def specs_for(definition: MetricDefinition, config: Config) -> list[DetectorSpec]:
    """The default detectors of one metric."""
    sizes = list(dict.fromkeys(size_name(g) for g in definition.granularities))
    threshold = definition.threshold
    zone = config.timezone
    holidays = [d.isoformat() for d in config.detection.holidays]
    seasonal_baseline = {"zone": zone, "holidays": holidays}
    severity = _alarm_severity(definition)
    specs: list[DetectorSpec] = []
    if threshold is not None and definition.slo and definition.name.endswith("_burn_rate"):
        objective = _objective(definition, config)
        specs.append(
            DetectorSpec(
                "burn_rate",
                {"objective": objective},
                sizes[0],
                alarm="page",
                warn="ticket",
                reason=f"SLO burn rate against {definition.slo} (objective {objective:g}): "
                "fast burns page, slow burns open tickets (SRE workbook)",
            )
        )
        return specs
    if threshold is not None and threshold.relative and definition.unit != "ratio":
        if "hour" not in sizes:
            return specs
        # Not a rate (the latency p95): one seasonal detector on hours, the threshold's
        # minimum count; no CUSUM or trend, whose residuals assume a rate's noise.
        params: dict[str, Any] = _seasonal_params(threshold, seasonal_baseline)
        if threshold.min_n is not None:
            params["min_n"] = threshold.min_n
        move = "regression" if params["direction"] == "up_is_bad" else "drop"
        specs.append(
            DetectorSpec(
                "seasonal",
                params,
                "hour",
                alarm="ticket",
                reason=f"a {move} of {threshold.value:.0%} or more against its usual hour of the week "
                f"(the catalog's {threshold.kind}), before it burns an SLO budget",
            )
        )
        return specs
    if threshold is not None and not threshold.relative and threshold.value is not None:
        level = _level(definition, config)
        params = {"level": level, "kind": threshold.kind}
        if threshold.min_n is not None:
            params["min_n"] = threshold.min_n
        specs.extend(
            DetectorSpec(
                "threshold",
                params,
                size,
                alarm=severity,
                reason=f"the catalog's default threshold: {threshold.kind} {level:g}",
            )
            for size in sizes
        )
    if threshold is not None and threshold.relative:
        params = _seasonal_params(threshold, seasonal_baseline)
        specs.extend(
            DetectorSpec(
                "seasonal",
                params,
                size,
                alarm=severity,
                reason=f"the catalog's {threshold.kind} of {threshold.value:g}, against the same "
                "hour of the week (median of 4 weeks, holidays with holidays)",
            )
            for size in sizes
        )
        if "hour" in sizes:
            specs.append(
                DetectorSpec(
                    "cusum",
                    {
                        "direction": params["direction"],
                        "baseline": seasonal_baseline,
                        "min_relative_change": threshold.value,
                    },
                    "hour",
                    alarm=severity,
                    reason="a sustained shift off the weekly shape, smaller than one window can show "
                    "(CUSUM on the seasonal residual)",
                )
            )
    if threshold is None and definition.unit == "count" and definition.direction != "up_is_bad":
        specs.append(
            DetectorSpec(
                "seasonal",
                {"direction": "down_is_bad", "baseline": {**seasonal_baseline, "poisson_floor": True}},
                "hour" if "hour" in sizes else sizes[0],
                alarm="ticket",
                reason="a volume with no fixed level: a drop against the same hour of the week, "
                "beyond Poisson noise",
            )
        )
    trend = _trend_params(definition, config)
    if trend is not None and "day" in sizes:
        specs.append(
            DetectorSpec(
                "trend",
                trend,
                "day",
                alarm="ticket",
                reason="slow degradation: a significant trend forecast to cross the threshold within "
                "4 weeks, on all traffic (a slow slide is the metric's own; per slice, a test repeated "
                "daily over dozens of thin series would mostly find chance)",
                total_only=True,
            )
        )
    slide = _slide_params(definition, seasonal_baseline)
    if slide is not None and threshold is not None and "hour" in sizes:
        specs.append(
            DetectorSpec(
                "slide",
                slide,
                "hour",
                alarm="ticket",
                reason="a slide that began days ago, forecast to cross the catalog's "
                f"{threshold.kind} within 4 weeks (broken-line test on the hourly "
                "seasonal residual), on all traffic: it sees the first days the trend test cannot",
                total_only=True,
            )
        )
    if definition.name == "feature_drift_ratio" and "day" in sizes:
        specs.append(
            DetectorSpec(
                "drift_persistence",
                {"zone": zone},
                "day",
                alarm="ticket",
                reason="a feature's drift that keeps rising over weeks, even under the threshold",
            )
        )
    return specs


def _seasonal_params(threshold: Threshold, baseline: dict[str, Any]) -> dict[str, Any]:
    """The seasonal detector's parameters for a relative threshold."""
    return {
        "direction": "down_is_bad" if threshold.kind == "relative_drop" else "up_is_bad",
        "baseline": baseline,
        "min_relative_change": threshold.value,
    }


def _slide_params(definition: MetricDefinition, baseline: dict[str, Any]) -> dict[str, Any] | None:
    """Slide parameters for a rate with a relative threshold on one bad side."""
    threshold = definition.threshold
    one_side = definition.direction in ("up_is_bad", "down_is_bad")
    if threshold is None or not threshold.relative or not one_side:
        return None
    return {"direction": definition.direction, "relative_threshold": threshold.value, "baseline": baseline}


def slo_targets(config: Config) -> dict[str, float]:
    """The ``[slo]`` targets with the monitors' defaults for the ones not configured."""
    return {"error_rate": DEFAULT_ERROR_RATE, "latency_p99_ms": DEFAULT_LATENCY_TARGET_MS, **config.slo}


def _objective(definition: MetricDefinition, config: Config) -> float:
    """The SLO objective (share of good events) behind a burn-rate metric."""
    if definition.slo == "error_rate":
        return 1.0 - slo_targets(config)["error_rate"]
    return 0.99  # a p99 latency target: 1% of requests may be slower


def _level(definition: MetricDefinition, config: Config) -> float:
    level = definition.threshold_value(slo_targets(config))
    assert level is not None
    return level


def _trend_params(definition: MetricDefinition, config: Config) -> dict[str, Any] | None:
    """Trend parameters for metrics with a threshold on one bad side (not zero-level counts)."""
    threshold = definition.threshold
    if threshold is None or definition.direction not in ("up_is_bad", "down_is_bad"):
        return None
    if definition.name == "feature_drift_ratio" or definition.name.endswith("_burn_rate"):
        return None  # drift persistence and burn rates judge these
    base: dict[str, Any] = {"direction": definition.direction, "zone": config.timezone}
    if threshold.relative:
        return {**base, "relative_threshold": threshold.value}
    level = _level(definition, config)
    if level == 0.0:
        return None  # counts that should stay at zero: the threshold fires on the first one
    return {**base, "threshold": level}
