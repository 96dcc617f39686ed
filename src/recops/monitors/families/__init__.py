"""Monitor families, one module each; :data:`FAMILIES` lists them in run order.

A family is a module-level object with ``name``, ``granularities`` (``"serving"`` for
the short SLI windows, ``"others"`` for hour and day) and ``compute(ctx) -> pa.Table``
returning points in :data:`recops.monitors.series.POINT_SCHEMA` for the planned windows.
"""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa

from recops.monitors.context import MonitorContext


class Family(Protocol):
    name: str
    granularities: frozenset[str]

    def compute(self, ctx: MonitorContext) -> pa.Table: ...


def families() -> dict[str, Family]:
    """Every built-in family by name, in run order."""
    from recops.monitors.families import arrival, drift, freshness, latency, metrics, quality

    found: list[Family] = [
        arrival.FAMILY,
        quality.FAMILY,
        freshness.FAMILY,
        drift.FAMILY,
        metrics.FAMILY,
        latency.FAMILY,
    ]
    return {f.name: f for f in found}
