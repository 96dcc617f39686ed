"""What a drift comparison found: per column, per segment, and overall."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recops.drift.profile import Profile
from recops.drift.rules import DRIFT, INSUFFICIENT, MISSING, Rules, StatResult, json_number
from recops.drift.stats.base import ColumnPair


@dataclass
class ColumnResult:
    """The verdict for one column and every statistic behind it."""

    column: str
    kind: str
    verdict: str
    test: str | None = None
    statistic: float | None = None
    threshold: float | None = None
    results: list[StatResult] = field(default_factory=list)
    reference_rows: int = 0
    current_rows: int = 0
    reference_missing: int = 0
    current_missing: int = 0
    note: str = ""

    @property
    def drifted(self) -> bool:
        return self.verdict in (DRIFT, MISSING)

    def result(self, name: str) -> StatResult | None:
        return next((r for r in self.results if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "verdict": self.verdict,
            "test": self.test,
            "statistic": json_number(self.statistic),
            "threshold": self.threshold,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference_missing": self.reference_missing,
            "current_missing": self.current_missing,
            "note": self.note,
            "tests": [r.to_dict() for r in self.results],
        }


@dataclass
class SegmentResult:
    """The columns' verdicts inside one segment (one value of the segment key)."""

    value: str
    reference_rows: int
    current_rows: int
    columns: list[ColumnResult]

    @property
    def drifted(self) -> list[ColumnResult]:
        return [c for c in self.columns if c.drifted]

    @property
    def insufficient(self) -> list[ColumnResult]:
        return [c for c in self.columns if c.verdict == INSUFFICIENT]

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.value,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "drifted": [c.column for c in self.drifted],
            "columns": [c.to_dict() for c in self.columns],
        }


@dataclass
class DriftReport:
    """The outcome of ``recops.drift.compare``.

    Attributes:
        reference, current: descriptions of the two windows.
        columns: one result per compared column (and per missing one).
        rules: the rules applied.
        segment_key: the segment column, if any; ``segments`` then holds one result per
            tracked segment value.
        skipped: columns not compared, with the reason.
        new_columns: columns only the current window has.
        untracked_segment_rows: current rows in segment values the reference lacked.
        timings: seconds per phase.
        pairs: the counts behind each overall column result (for plots; not serialized).
        reference_profile: the reference's profile (to store with ``--save-profile``).
    """

    reference: str
    current: str
    columns: list[ColumnResult]
    rules: Rules
    segment_key: str | None = None
    segments: list[SegmentResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    new_columns: list[str] = field(default_factory=list)
    untracked_segment_rows: int = 0
    exact: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    pairs: dict[str, ColumnPair] = field(default_factory=dict, repr=False)
    reference_profile: Profile | None = field(default=None, repr=False)

    @property
    def drifted(self) -> list[ColumnResult]:
        return [c for c in self.columns if c.drifted]

    @property
    def drifted_segments(self) -> list[tuple[str, ColumnResult]]:
        return [(s.value, c) for s in self.segments for c in s.drifted]

    @property
    def drift_found(self) -> bool:
        return bool(self.drifted or self.drifted_segments)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for column in self.columns:
            counts[column.verdict] = counts.get(column.verdict, 0) + 1
        return {
            "columns": len(self.columns),
            "drifted": [c.column for c in self.drifted],
            "verdicts": counts,
            "drifted_segments": [{"segment": s, "column": c.column} for s, c in self.drifted_segments],
            "drift_found": self.drift_found,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "current": self.current,
            "summary": self.summary(),
            "columns": [c.to_dict() for c in self.columns],
            "segment_key": self.segment_key,
            "segments": [s.to_dict() for s in self.segments],
            "untracked_segment_rows": self.untracked_segment_rows,
            "skipped": self.skipped,
            "new_columns": self.new_columns,
            "exact": self.exact,
            "rules": self.rules.to_dict(),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
