"""Monitors: every stage of the signal path as metric series per window and slice.

One module per family under :mod:`recops.monitors.families` (arrival, quality, drift,
freshness, metrics, latency), each an Ibis definition that runs on DuckDB or Spark
(:mod:`recops.monitors.engine`). :func:`run_monitors` computes what is new; series are
stored in the store and read back with :func:`read_series` as Arrow (``.to_pandas()``).

Every name below is imported from its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recops.lazy import lazy_getattr

if TYPE_CHECKING:
    from recops.monitors.runner import RunReport as RunReport
    from recops.monitors.runner import run_monitors as run_monitors
    from recops.monitors.series import POINT_SCHEMA as POINT_SCHEMA
    from recops.monitors.series import read_series as read_series

# name -> the module that defines it; imported on first use, so that importing one
# submodule (or this package for one name) does not load every dependency.
_LAZY: dict[str, str] = {
    "POINT_SCHEMA": "recops.monitors.series",
    "RunReport": "recops.monitors.runner",
    "read_series": "recops.monitors.series",
    "run_monitors": "recops.monitors.runner",
}

__all__ = ["POINT_SCHEMA", "RunReport", "read_series", "run_monitors"]


__getattr__ = lazy_getattr(__name__, _LAZY)
