"""Which test decides for which column, the thresholds, the small-window guard, the verdict.

The rules (docs/drift.md explains them and how they differ from Evidently's):

- numeric columns: Wasserstein distance in reference sds >= 0.1 decides;
- categorical columns (strings, booleans, and numbers named with ``--categorical``):
  Jensen–Shannon distance over the reference's top 20 values + ``other`` + ``null``
  >= 0.1 decides;
- every column: the null rate (Cohen's h >= 0.2) decides too;
- KS, PSI, Jensen–Shannon (numeric), chi-square and cardinality are computed and shown
  with their own thresholds, but do not decide unless chosen with ``tests``.

The guard: a test whose windows hold fewer than ``min_values`` values, or whose no-drift
noise (``Measurement.noise``) reaches ``noise_ratio`` × its threshold, reports
"insufficient data" instead of a verdict. The thresholds are effect sizes, so the same
rules hold at a thousand rows and at a billion; only the guard depends on size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from recops.drift import stats
from recops.drift.counting import TOP_K
from recops.drift.counts import CATEGORICAL, NUMERIC
from recops.drift.stats.base import ColumnPair
from recops.errors import InvalidInput

DRIFT = "drift"
NO_DRIFT = "no drift"
INSUFFICIENT = "insufficient data"
MISSING = "missing"  # in the reference, not in the current window: counts as drift
SKIPPED = "skipped"  # a type we do not compare (nested, temporal, binary)
NOT_APPLICABLE = "n/a"

DEFAULT_TESTS: Mapping[str, str] = MappingProxyType({NUMERIC: "wasserstein", CATEGORICAL: "jensenshannon"})
ALWAYS_DECIDES = ("null_rate",)
ALSO_SHOWN: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {NUMERIC: ("ks", "psi", "jensenshannon"), CATEGORICAL: ("chisquare", "psi", "cardinality")}
)


@dataclass(frozen=True)
class Rules:
    """The verdict rules; every field has the documented default.

    Attributes:
        tests: the deciding distribution test per column kind.
        thresholds: overrides of statistics' default thresholds, by statistic name.
        top_k: categories tracked per categorical column.
        min_values: fewest values per window for any verdict.
        noise_ratio: a test reports "insufficient data" when its no-drift noise is at
            least this fraction of its threshold.
    """

    tests: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TESTS))
    thresholds: Mapping[str, float] = field(default_factory=dict)
    top_k: int = TOP_K
    min_values: int = 100
    noise_ratio: float = 0.5

    def __post_init__(self) -> None:
        for kind, name in self.tests.items():
            if kind not in DEFAULT_TESTS:
                raise InvalidInput(f"unknown column kind {kind!r} in tests; expected numeric or categorical")
            if kind not in stats.get(name).kinds:
                raise InvalidInput(f"statistic {name!r} does not apply to {kind} columns")
        for name, value in self.thresholds.items():
            stats.get(name)
            if not math.isfinite(value) or value <= 0:
                raise InvalidInput(f"threshold for {name} must be a positive number, got {value}")
        if self.top_k < 1:
            raise InvalidInput("top_k must be at least 1")

    def test(self, kind: str) -> str:
        return self.tests.get(kind, DEFAULT_TESTS[kind])

    def threshold(self, name: str) -> float:
        return float(self.thresholds.get(name, stats.get(name).threshold))

    def order(self, kind: str) -> list[str]:
        """The tests run for a column kind: the deciding ones first."""
        names = [self.test(kind), *ALWAYS_DECIDES, *ALSO_SHOWN[kind], *DEFAULT_TESTS.values()]
        seen: list[str] = []
        for name in names:
            if name not in seen and kind in stats.get(name).kinds:
                seen.append(name)
        return seen

    def deciding(self, kind: str) -> tuple[str, ...]:
        return (self.test(kind), *ALWAYS_DECIDES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tests": dict(self.tests),
            "thresholds": {name: self.threshold(name) for name in stats.STATISTICS},
            "top_k": self.top_k,
            "min_values": self.min_values,
            "noise_ratio": self.noise_ratio,
        }


@dataclass(frozen=True)
class StatResult:
    """One statistic for one column: value, threshold, status and whether it decides."""

    name: str
    value: float | None
    threshold: float
    status: str
    deciding: bool
    noise: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.name,
            "statistic": json_number(self.value),
            "threshold": self.threshold,
            "status": self.status,
            "deciding": self.deciding,
            "noise": json_number(self.noise),
            "detail": {k: json_number(v) if isinstance(v, float) else v for k, v in self.detail.items()},
        }


def json_number(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf"
    return value


def run_tests(pair: ColumnPair, rules: Rules) -> tuple[str, list[StatResult]]:
    """Every test for one column and the column's verdict."""
    deciding = rules.deciding(pair.kind)
    results: list[StatResult] = []
    n_ref, n_cur = pair.sizes()
    for name in rules.order(pair.kind):
        statistic = stats.get(name)
        threshold = rules.threshold(name)
        measured = statistic.measure(pair)
        smallest = min(pair.reference.rows, pair.current.rows) if name == "null_rate" else min(n_ref, n_cur)
        if measured is None:
            status = INSUFFICIENT if smallest < rules.min_values else NOT_APPLICABLE
            results.append(StatResult(name, None, threshold, status, name in deciding))
            continue
        if smallest < rules.min_values or measured.noise >= rules.noise_ratio * threshold:
            status = INSUFFICIENT
        else:
            status = DRIFT if measured.value >= threshold else NO_DRIFT
        results.append(
            StatResult(
                name, measured.value, threshold, status, name in deciding, measured.noise, measured.detail
            )
        )
    decided = [r for r in results if r.deciding]
    if any(r.status == DRIFT for r in decided):
        verdict = DRIFT
    elif any(r.status in (INSUFFICIENT, NOT_APPLICABLE) for r in decided if r.name == rules.test(pair.kind)):
        verdict = INSUFFICIENT
    elif any(r.status == INSUFFICIENT for r in decided):
        verdict = INSUFFICIENT
    else:
        verdict = NO_DRIFT
    return verdict, results
