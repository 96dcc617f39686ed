"""Monitors: every stage of the signal path as metric series per window and slice.

One module per family under :mod:`recops.monitors.families` (arrival, quality, drift,
freshness, metrics, latency), each an Ibis definition that runs on DuckDB or Spark
(:mod:`recops.monitors.engine`). :func:`run_monitors` computes what is new; series are
stored in the store and read back with :func:`read_series` as Arrow (``.to_pandas()``).
"""

from __future__ import annotations

from recops.monitors.runner import RunReport, run_monitors
from recops.monitors.series import POINT_SCHEMA, read_series

__all__ = ["POINT_SCHEMA", "RunReport", "read_series", "run_monitors"]
