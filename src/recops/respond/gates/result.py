"""What a gate check returns: a status with a one-line summary and its evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STATUSES = ("pass", "marginal", "inconclusive", "fail")


@dataclass(frozen=True)
class Period:
    """A half-open time window [start, end) in UTC."""

    start: datetime
    end: datetime

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: ``pass``, ``marginal`` (canary only), ``inconclusive`` or ``fail``."""

    check: str
    status: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "evidence": self.evidence,
        }
