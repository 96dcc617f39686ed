"""Live metrics of a model version, from the monitors' stored series (the registry's hook).

The registry describes a version with its live metrics through
:class:`recops.registry.report.LiveMetricsSource`; this is that source: the stored points
of each recommender metric in slice ``model_version=V``. Only windows that start while an
alias named the version count, so a canary's few early points are not mixed with another
version's traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recops.catalog import Catalog
from recops.monitors.series import read_series
from recops.registry.entities import AliasWindow
from recops.registry.report import MetricSeries
from recops.store import Store

LIVE_GRANULARITY = "day"


class StoredLiveMetrics:
    """Live series of a version: the stored points of the ``metrics`` family in its slice."""

    def __init__(self, store: Store, catalog: Catalog, granularity: str = LIVE_GRANULARITY) -> None:
        self.store = store
        self.units = {d.name: d.unit for d in catalog.by_family("metrics")}
        self.granularity = granularity

    def series_for(self, model: str, version: str, windows: Sequence[AliasWindow]) -> Sequence[MetricSeries]:
        table = read_series(self.store, slice=f"model_version={version}", granularity=self.granularity)
        points: dict[str, list[tuple[Any, float]]] = {}
        for row in table.select(["metric", "subject", "window_start", "value"]).to_pylist():
            name, value, start = row["metric"], row["value"], row["window_start"]
            if name not in self.units or row["subject"] or value is None:
                continue
            if any(w.start <= start and (w.end is None or start < w.end) for w in windows):
                points.setdefault(name, []).append((start, float(value)))
        return [MetricSeries(n, tuple(p), self.units[n]) for n, p in sorted(points.items())]
