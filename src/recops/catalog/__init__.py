"""The metric catalog: what every metric series means, how it is computed, when it alerts.

``load_catalog(workspace_root)`` returns a :class:`Catalog` of :class:`MetricDefinition`:
the built-ins (``builtin.yaml``) plus the workspace's ``metrics/*.yaml``. docs/metrics.md
is the readable reference, generated from the same YAML.
"""

from __future__ import annotations

from recops.catalog.definitions import BASELINES as BASELINES
from recops.catalog.definitions import DIRECTIONS as DIRECTIONS
from recops.catalog.definitions import FAMILIES as FAMILIES
from recops.catalog.definitions import GRANULARITIES as GRANULARITIES
from recops.catalog.definitions import THRESHOLD_KINDS as THRESHOLD_KINDS
from recops.catalog.definitions import UNITS as UNITS
from recops.catalog.definitions import Catalog as Catalog
from recops.catalog.definitions import MetricDefinition as MetricDefinition
from recops.catalog.definitions import Threshold as Threshold
from recops.catalog.definitions import load_catalog as load_catalog

__all__ = [
    "BASELINES",
    "DIRECTIONS",
    "FAMILIES",
    "GRANULARITIES",
    "THRESHOLD_KINDS",
    "UNITS",
    "Catalog",
    "MetricDefinition",
    "Threshold",
    "load_catalog",
]
