"""Everything ``registry show MODEL@VERSION`` prints: lineage, offline metrics,
validations, production windows and (through a hook) live metric series.

The registry sits below the monitors, so it cannot read their series itself. A caller
that can (the CLI, the server) passes a :class:`LiveMetricsSource`; the monitors package
(issue 5) provides one. Without it, ``live`` is None and the faces say so: recops never
shows made-up numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from recops.registry._canonical import iso
from recops.registry.aliases import alias_history, windows
from recops.registry.entities import AliasWindow, ModelVersion, ValidationResult
from recops.registry.versions import get_version, validations
from recops.store import Store


@dataclass(frozen=True)
class MetricSeries:
    """A live metric of one version: (window start, value) points."""

    name: str
    points: tuple[tuple[datetime, float], ...]
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "points": [[iso(t), v] for t, v in self.points]}


class LiveMetricsSource(Protocol):
    """Supplies live metric series computed for requests served by a version."""

    def series_for(self, model: str, version: str, windows: Sequence[AliasWindow]) -> Sequence[MetricSeries]:
        """The series of ``model@version`` over its serving ``windows``."""
        ...


@dataclass(frozen=True)
class VersionReport:
    """A version with what happened to it since registration."""

    version: ModelVersion
    validations: tuple[ValidationResult, ...]
    windows: tuple[AliasWindow, ...]
    aliases_now: tuple[str, ...]
    live: tuple[MetricSeries, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.version.to_dict(),
            "validations": [v.to_dict() for v in self.validations],
            "windows": [w.to_dict() for w in self.windows],
            "aliases_now": list(self.aliases_now),
            "live_metrics": None if self.live is None else [s.to_dict() for s in self.live],
        }


def describe_version(
    store: Store, model: str, version: str, *, live: LiveMetricsSource | None = None
) -> VersionReport:
    """Gather a version, its validations, alias windows and (when a source is given) live series.

    Raises:
        NotFound: no such version.
    """
    v = get_version(store, model, version)
    spans = tuple(w for w in windows(alias_history(store, model)) if w.version == version)
    series = tuple(live.series_for(model, version, spans)) if live is not None else None
    return VersionReport(
        version=v,
        validations=tuple(validations(store, model, version)),
        windows=spans,
        aliases_now=tuple(sorted(w.alias for w in spans if w.end is None)),
        live=series,
    )
