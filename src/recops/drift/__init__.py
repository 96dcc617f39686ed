"""The drift engine: compare two windows of data column by column, fast and with effect sizes.

``compare(reference, current)`` returns a ``DriftReport``; ``profile(data)`` returns a
``Profile`` to store and compare against later. docs/drift.md says how it works, which
test decides for which column and why.
"""

from __future__ import annotations

from recops.drift.compare import compare, plan_columns, profile
from recops.drift.profile import Profile
from recops.drift.report import ColumnResult, DriftReport, SegmentResult
from recops.drift.rules import Rules, StatResult
from recops.drift.sources import ArrowSource, ParquetSource, Source, open_input
from recops.drift.stats import STATISTICS

__all__ = [
    "STATISTICS",
    "ArrowSource",
    "ColumnResult",
    "DriftReport",
    "ParquetSource",
    "Profile",
    "Rules",
    "SegmentResult",
    "Source",
    "StatResult",
    "compare",
    "open_input",
    "plan_columns",
    "profile",
]
