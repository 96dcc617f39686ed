"""Drift statistics, one per module, registered by name.

Adding a statistic: one module with a ``STATISTIC`` (its docstring says what it
measures, when to use it, its default threshold and a reference), one line in
``_MODULES`` below, and a test against an independent computation in
``tests/unit/drift/test_stats.py``.
"""

from __future__ import annotations

from recops.drift.stats import cardinality, chisquare, jensenshannon, ks, null_rate, psi, wasserstein
from recops.drift.stats.base import ColumnPair, Measurement, Statistic
from recops.errors import InvalidInput

_MODULES = (wasserstein, ks, psi, jensenshannon, chisquare, null_rate, cardinality)

STATISTICS: dict[str, Statistic] = {module.STATISTIC.name: module.STATISTIC for module in _MODULES}


def get(name: str) -> Statistic:
    """The statistic registered as ``name``.

    Raises:
        InvalidInput: no such statistic.
    """
    try:
        return STATISTICS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown drift statistic {name!r}; expected one of {', '.join(STATISTICS)}"
        ) from None


__all__ = ["STATISTICS", "ColumnPair", "Measurement", "Statistic", "get"]
